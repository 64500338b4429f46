/* Draws Luigi runs (the replay contract's {"runs": [...]} document) for the live page and the HTML report alike.
 *
 * Plain ES2017 without dependencies, so both pages work offline and without a build step. The DOM is built with
 * createElement and textContent only: task params and tracebacks come from logs and are untrusted text.
 *
 * LuigiRender.render(container, doc, {jaegerUrl, now}) replaces the container's content with every run in full.
 * `now` (epoch seconds) is given by the live page, where running attempts grow to the present; without it they end
 * at the run's last event. LuigiRender.renderList draws the live page's run list: runs still going first, then the
 * newest, each linked to its own page (runs/{run_id}), the finished ones collapsed to one line.
 */
(function (root) {
  'use strict';

  // A run in one of these states has stopped: its open bars end at its last event even on the live page.
  const ENDED = ['succeeded', 'failed', 'blocked', 'incomplete'];
  // Like tasks_failed in the contract: a disabled task failed too often.
  const FAILED = ['failed', 'disabled'];

  function el(tag, className) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    for (let i = 2; i < arguments.length; i++) {
      const child = arguments[i];
      if (child !== null && child !== undefined && child !== false) node.append(child); // strings become text
    }
    return node;
  }

  function known(value) {
    return value !== null && value !== undefined;
  }

  function pad(n) {
    return (n < 10 ? '0' : '') + n;
  }

  /** 4.2s, 42s, 2m10s, 1h05m: the same as exporter.report.format_duration. */
  function formatDuration(seconds) {
    const s = Math.max(0, seconds);
    if (s < 10) return s.toFixed(1) + 's';
    const r = Math.round(s);
    if (r < 60) return r + 's';
    if (r < 3600) return Math.floor(r / 60) + 'm' + pad(r % 60) + 's';
    return Math.floor(r / 3600) + 'h' + pad(Math.floor((r % 3600) / 60)) + 'm';
  }

  /** The line of a traceback that says what went wrong: its last. */
  function errorLine(error) {
    const lines = (error || '').trim().split(/\r?\n/);
    return lines[lines.length - 1] || 'no error text in the log';
  }

  function isEnded(run) {
    return ENDED.indexOf(run.status) >= 0;
  }

  /** "Task 38 of 61: SWOTAnalysisTask" while running, "37 of 61 complete" once ended: the document's own
   * `headline` (exporter.contract.headline), made here only for documents that have none. */
  function headline(run) {
    if (run.headline) return run.headline;
    const total = run.tasks_total;
    if (isEnded(run)) return run.tasks_completed + ' of ' + total + ' complete';
    if (!total) return 'scheduling';
    const running = [];
    runningTasks(run).forEach(function (t) {
      if (running.indexOf(t.family) < 0) running.push(t.family);
    });
    const text = 'Task ' + Math.min(run.tasks_completed + 1, total) + ' of ' + total;
    return running.length ? text + ': ' + running.join(', ') : text;
  }

  function runningTasks(run) {
    return run.tasks
      .filter(function (t) { return t.state === 'running'; })
      .sort(function (a, b) { return (a.started_at || 0) - (b.started_at || 0); });
  }

  function paramsText(task) {
    return Object.keys(task.params || {})
      .map(function (k) { return k + '=' + task.params[k]; })
      .join('\n');
  }

  /** The run's time axis: from its start to its last event, or to `now` while it runs on a live page. */
  function span(run, now) {
    const times = [run.started_at, run.ended_at];
    run.tasks.forEach(function (t) {
      t.attempt_history.forEach(function (a) { times.push(a.started_at, a.ended_at); });
    });
    const seen = times.filter(known);
    if (!seen.length) return null; // a log without timestamps: no timeline
    const start = known(run.started_at) ? run.started_at : Math.min.apply(null, seen);
    const last = Math.max.apply(null, seen);
    // Clocks drift: a "now" before the last logged event would cut bars short, so it is never earlier than that.
    const end = known(now) && !isEnded(run) ? Math.max(now, last) : last;
    return { start: start, end: end, length: Math.max(end - start, 1e-3) };
  }

  function runLink(run) {
    const link = el('a', 'run-id', run.run_id);
    link.href = 'runs/' + encodeURIComponent(run.run_id);
    return link;
  }

  function header(run, options) {
    const title = el('h2', 'run-title', options.linkRuns ? runLink(run) : el('span', 'run-id', run.run_id));
    if (run.pipeline) title.append(' ', el('span', 'pipeline', run.pipeline));
    title.append(' ', el('span', 'badge status-' + run.status, run.status));
    if (options.jaegerUrl && run.trace_id) {
      const link = el('a', 'trace', 'trace');
      link.href = options.jaegerUrl.replace(/\/+$/, '') + '/trace/' + encodeURIComponent(run.trace_id);
      link.target = '_blank';
      link.rel = 'noopener noreferrer';
      title.append(' ', link);
    }
    const meta = [];
    if (known(run.started_at)) meta.push('started ' + new Date(run.started_at * 1000).toLocaleString());
    if (known(run.started_at) && known(run.ended_at)) meta.push('took ' + formatDuration(run.ended_at - run.started_at));
    if (run.summary && run.summary.reason) meta.push(run.summary.reason);
    if (run.retry_of) meta.push('retry ' + run.retry + ' of ' + run.retry_of);
    return el('header', 'run-header', title, el('p', 'headline', headline(run)),
      meta.length ? el('p', 'meta', meta.join(' · ')) : null);
  }

  function progress(run) {
    const total = run.tasks_total || 1;
    const bar = el('div', 'progress');
    [
      ['done', run.tasks_done],
      ['already_done', run.tasks_already_done],
      ['failed', run.tasks_failed],
      ['upstream_failed', run.tasks_upstream_failed],
    ].forEach(function (part) {
      if (!part[1]) return;
      const segment = el('div', 'segment state-' + part[0]);
      segment.style.width = (100 * part[1]) / total + '%';
      segment.title = part[1] + ' ' + part[0].replace(/_/g, ' ');
      bar.append(segment);
    });
    const counts = [run.tasks_completed + '/' + run.tasks_total + ' done'];
    if (run.tasks_failed) counts.push(run.tasks_failed + ' failed');
    if (run.tasks_upstream_failed) counts.push(run.tasks_upstream_failed + ' upstream failed');
    if (run.tasks_running) counts.push(run.tasks_running + ' running');
    // eta_s comes from the live sidecar only; a replay has none.
    if (known(run.eta_s) && !isEnded(run)) counts.push('ETA ' + formatDuration(run.eta_s));
    return el('div', 'progress-block', bar, el('p', 'counts', counts.join(' · ')));
  }

  /** Rows in order of first start; tasks that never started are listed apart, without a bar. */
  function gantt(run, now) {
    const axis = span(run, now);
    const started = [];
    const unstarted = [];
    run.tasks.forEach(function (task, index) {
      if (!task.attempt_history.length) {
        unstarted.push(task);
        return;
      }
      const starts = task.attempt_history.map(function (a) { return a.started_at; }).filter(known);
      started.push({ task: task, index: index, first: starts.length ? Math.min.apply(null, starts) : Infinity });
    });
    started.sort(function (a, b) { return a.first - b.first || a.index - b.index; });

    const chart = el('div', 'gantt');
    if (!axis) chart.append(el('p', 'note', 'The log has no timestamps: no timeline.'));
    else chart.append(ticks(axis));
    started.forEach(function (row) {
      const label = el('span', 'label state-' + row.task.state, row.task.family);
      label.title = row.task.task_id + '\n' + paramsText(row.task);
      const track = el('div', 'track');
      if (axis) {
        row.task.attempt_history.forEach(function (attempt) {
          const b = bar(row.task, attempt, axis, now);
          if (b) track.append(b);
        });
      }
      chart.append(el('div', 'row', label, track));
    });
    const section = el('section', 'timeline', el('h3', null, 'Timeline'), legend(), chart);
    if (unstarted.length) {
      const list = el('div', 'unstarted', el('span', 'unstarted-title', 'Not started:'));
      unstarted.forEach(function (task) {
        const chip = el('span', 'chip state-' + task.state, task.family);
        chip.title = task.state.replace(/_/g, ' ') + '\n' + task.task_id + '\n' + paramsText(task);
        list.append(' ', chip);
      });
      section.append(list);
    }
    return section;
  }

  function legend() {
    const node = el('p', 'legend');
    [['success', 'success'], ['failure', 'failure'], ['died', 'died or timed out'], ['running', 'running'],
      ['new_requirements', 'new requirements']].forEach(function (entry) {
      node.append(el('span', 'swatch result-' + entry[0]), entry[1]);
    });
    return node;
  }

  function ticks(axis) {
    const scale = el('div', 'ticks');
    [0, 0.25, 0.5, 0.75, 1].forEach(function (f) {
      const tick = el('span', 'tick', formatDuration(f * axis.length));
      tick.style.left = 100 * f + '%';
      scale.append(tick);
    });
    return el('div', 'row axis', el('span', 'label'), scale);
  }

  function bar(task, attempt, axis, now) {
    const open = attempt.result === 'running';
    // A start not in the log (it began before the capture) is drawn from the run's start.
    const from = known(attempt.started_at) ? attempt.started_at : axis.start;
    let to = attempt.ended_at;
    if (!known(to)) {
      if (!open && !known(attempt.started_at)) return null;
      to = open ? axis.end : from;
    }
    const node = el('div', 'bar result-' + attempt.result + (open ? ' open' : ''));
    node.style.left = (100 * (from - axis.start)) / axis.length + '%';
    node.style.width = (100 * Math.max(0, to - from)) / axis.length + '%';
    let duration = known(attempt.duration_s) ? formatDuration(attempt.duration_s) : '';
    if (open && known(attempt.started_at)) duration = (known(now) ? 'running for ' : 'ran for ') + formatDuration(to - from);
    node.title = [task.family, 'attempt ' + attempt.attempt, attempt.result.replace(/_/g, ' '), duration]
      .filter(Boolean)
      .join(' · ');
    return node;
  }

  function failures(run) {
    const failed = run.tasks.filter(function (t) { return FAILED.indexOf(t.state) >= 0; });
    if (!failed.length) return null;
    const list = el('section', 'failures', el('h3', null, 'Failed tasks'));
    failed.forEach(function (task) {
      const title = el('p', 'failure-title', el('strong', null, task.family),
        ' ' + task.state + (task.attempts > 1 ? ' after ' + task.attempts + ' attempts' : ''));
      title.title = task.task_id + '\n' + paramsText(task);
      const item = el('div', 'failure', title, el('p', 'error-line', errorLine(task.error)));
      if (task.error) {
        const details = el('details', null, el('summary', null, 'traceback'), el('pre', null, task.error));
        details.dataset.key = run.run_id + '\u0000' + task.task_id;
        item.append(details);
      }
      list.append(item);
    });
    return list;
  }

  function renderRun(run, options) {
    const article = el('article', 'run', header(run, options), progress(run), gantt(run, options.now), failures(run));
    article.dataset.runId = run.run_id;
    return article;
  }

  /** A finished run in the list: one line (id, status, headline, counts) that opens to the whole run. */
  function collapsedRun(run, options) {
    const counts = [run.tasks_completed + '/' + run.tasks_total + ' done'];
    if (run.tasks_failed) counts.push(run.tasks_failed + ' failed');
    const line = el('summary', 'run-line', runLink(run), ' ', el('span', 'badge status-' + run.status, run.status),
      ' ', el('span', 'headline', headline(run)), ' ', el('span', 'counts', counts.join(' · ')));
    const details = el('details', 'run-collapsed', line, renderRun(run, options));
    details.dataset.key = 'run\u0000' + run.run_id;
    return details;
  }

  /** Runs still going first (the oldest of them first: it is nearest its end), then the finished, newest first. */
  function listOrder(runs) {
    return runs.slice().sort(function (a, b) {
      const ended = Number(isEnded(a)) - Number(isEnded(b));
      if (ended) return ended;
      const sign = isEnded(a) ? -1 : 1;
      return sign * ((a.started_at || 0) - (b.started_at || 0));
    });
  }

  function renderList(container, doc, options) {
    const opts = Object.assign({}, options || {}, { linkRuns: true });
    draw(container, doc, listOrder(doc.runs).map(function (run) {
      return isEnded(run) ? collapsedRun(run, opts) : renderRun(run, opts);
    }));
  }

  function render(container, doc, options) {
    const opts = options || {};
    draw(container, doc, doc.runs.map(function (run) { return renderRun(run, opts); }));
  }

  function draw(container, doc, runs) {
    // Re-rendering replaces the nodes: keep the tracebacks and runs the reader opened open.
    const opened = Array.prototype.map.call(container.querySelectorAll('details[open]'), function (d) {
      return d.dataset.key;
    });
    const nodes = runs.length ? runs : [el('p', 'empty', 'No Luigi run found yet.')];
    nodes.push(el('p', 'lines', doc.lines_read + ' lines read, ' + doc.lines_unparsed + ' unparsed'));
    container.textContent = '';
    nodes.forEach(function (n) { container.append(n); });
    Array.prototype.forEach.call(container.querySelectorAll('details'), function (d) {
      if (opened.indexOf(d.dataset.key) >= 0) d.open = true;
    });
  }

  root.LuigiRender = {
    render: render,
    renderList: renderList,
    listOrder: listOrder,
    formatDuration: formatDuration,
    errorLine: errorLine,
    headline: headline,
  };
})(typeof window !== 'undefined' ? window : this);
