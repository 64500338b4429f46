"""The metric families of runs: per pipeline (always) and per run (`run_id`, opt-in), read from the model at scrape
time by `LuigiCollector`.

Per pipeline, the series describe its latest run (the last to start) and the tasks running in all of its runs;
from the store, so that they survive restarts and the next Job's sidecar, its runs per status (a counter, with a
summary of their durations) and the end of its latest success: a fixed number of series per pipeline and per
family, however many builds go by. Per run, the same figures carry a
`run_id`: OTel's conventions make such per-run attributes opt-in, and every run makes new series in Prometheus.
No label holds a task id or a path.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
    SummaryMetricFamily,
)

from exporter import ids
from exporter.contract import run_counts, state_counts
from exporter.eta import eta_seconds
from exporter.model import Run, RunStatus, TaskState
from exporter.sinks.store import RunTotals, Store

__all__ = ["SERIES_PER_RUN", "Figures", "pipeline_metrics", "run_metrics"]

# A run's series with `run_id`, when its log has times: one per task state, the info, and scheduled, completed,
# ratio, start, latest line, duration, and end (finished) or ETA (going on); plus one per family running.
SERIES_PER_RUN = len(TaskState) + 8


@dataclass(frozen=True)
class Figures:
    """What a scrape shows of one run, computed once for both kinds of families."""

    run: Run
    per_state: Mapping[TaskState, int]
    counts: Mapping[str, float]
    running: Counter[str]  # family -> tasks running now
    eta: float | None

    @classmethod
    def of(cls, run: Run, store: Store, now: float) -> Figures:
        tasks = list(run.tasks.values())
        states = [task.state for task in tasks]  # derived from the attempts: once a scrape, not twice
        per_state = state_counts(run, states)
        running = Counter(t.family for t, state in zip(tasks, states, strict=True) if state is TaskState.RUNNING)
        eta = eta_seconds(run, store.usual_durations(run.pipeline or ""), now)
        return cls(run, per_state, run_counts(run, per_state), running, eta)


class _Gauges:
    """The figures every run shows, as families with the given label names (pipeline, or run_id and pipeline)."""

    def __init__(self, prefix: str, labels: list[str], what: str) -> None:
        self.labels = labels

        def gauge(name: str, doc: str, extra: Iterable[str] = ()) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"{prefix}_{name}", f"{doc} ({what}).", labels=[*labels, *extra])

        self.scheduled = gauge("tasks_scheduled", "Tasks the build scheduled")
        self.completed = gauge("tasks_completed", "Tasks done in the build or already done before it")
        self.states = gauge("tasks", "Tasks of the build per state", ["state"])
        self.ratio = gauge("progress_ratio", "Completed over scheduled tasks, 0..1")
        self.start = gauge("start_time_seconds", "First line of the build")
        self.end = gauge("end_time_seconds", "End of the build (its summary)")
        self.last = gauge("last_event_time_seconds", "Time of the build's latest Luigi line (stall alerts)")
        self.duration = gauge("duration_seconds", "Elapsed: end (or latest line) minus start")
        self.eta = gauge("eta_seconds", "Estimated seconds until the build is done")

    def add(self, values: list[str], f: Figures) -> None:
        run = f.run
        self.scheduled.add_metric(values, f.counts["tasks_total"])
        self.completed.add_metric(values, f.counts["tasks_completed"])
        for state, n in f.per_state.items():
            self.states.add_metric([*values, state.value], n)
        self.ratio.add_metric(values, f.counts["progress_ratio"])
        if run.started_at is not None:
            self.start.add_metric(values, run.started_at)
            stop = run.ended_at or run.last_event_at
            if stop is not None:
                self.duration.add_metric(values, stop - run.started_at)
        if run.ended_at is not None:
            self.end.add_metric(values, run.ended_at)
        if run.last_event_at is not None:
            self.last.add_metric(values, run.last_event_at)
        if f.eta is not None:
            self.eta.add_metric(values, f.eta)

    def families(self) -> Iterator[Metric]:
        yield from (self.scheduled, self.completed, self.states, self.ratio)
        yield from (self.start, self.end, self.last, self.duration, self.eta)


_ENDED = {s.value for s in RunStatus} - {RunStatus.SCHEDULING.value, RunStatus.RUNNING.value}


def pipeline_metrics(
    runs: list[Run], figures: Mapping[int, Figures], totals: Mapping[tuple[str, str], RunTotals]
) -> Iterator[Metric]:
    """Per pipeline: its latest run's figures, tasks running, runs going on; its stored runs and last success."""
    latest: dict[str, Run] = {}
    for run in sorted(runs, key=lambda r: -math.inf if r.started_at is None else r.started_at):
        latest[run.pipeline or ""] = run  # the last to start (on a tie, the last read)
    gauges = _Gauges("luigi_pipeline_last_run", ["pipeline"], "the pipeline's latest run")
    info = InfoMetricFamily("luigi_pipeline_last_run", "The pipeline's latest run: its status.", labels=["pipeline"])
    active = GaugeMetricFamily("luigi_pipeline_runs_active", "Runs of the pipeline going on.", labels=["pipeline"])
    running = GaugeMetricFamily(
        "luigi_pipeline_tasks_running", "Tasks running now, over the pipeline's runs.", labels=["pipeline", "family"]
    )
    success = GaugeMetricFamily(
        "luigi_pipeline_last_success_time_seconds",
        "End of the pipeline's latest succeeded run (staleness alerts).",
        labels=["pipeline"],
    )
    ended = CounterMetricFamily(
        "luigi_pipeline_runs", "Runs of the pipeline that ended, per status.", labels=["pipeline", "status"]
    )
    durations = SummaryMetricFamily(
        "luigi_pipeline_run_duration_seconds",
        "Duration of the pipeline's runs that ended, per status (those with times).",
        labels=["pipeline", "status"],
    )
    successes: dict[str, float] = {}
    for (name, status), t in sorted(totals.items()):
        if status in _ENDED:
            ended.add_metric([name, status], t.runs)
            durations.add_metric([name, status], t.timed, t.duration_sum)
        if status == RunStatus.SUCCEEDED.value and t.last_end is not None:
            successes[name] = t.last_end
    families: dict[str, Counter[str]] = {name: Counter() for name in latest}
    for run in runs:
        name = run.pipeline or ""
        families[name].update(figures[id(run)].running)
        if run.status is RunStatus.SUCCEEDED and run.ended_at is not None:  # not committed yet, perhaps
            successes[name] = max(successes.get(name, run.ended_at), run.ended_at)
    for name, run in sorted(latest.items()):
        gauges.add([name], figures[id(run)])
        info.add_metric([name], {"status": run.status.value})
        active.add_metric([name], sum(1 for r in runs if (r.pipeline or "") == name and not r.ended))
        for family, n in sorted(families[name].items()):
            running.add_metric([name, family], n)
    for name, end in sorted(successes.items()):
        success.add_metric([name], end)
    yield from gauges.families()
    yield from (info, active, running, success, ended, durations)


def run_metrics(runs: list[Run], figures: Mapping[int, Figures]) -> Iterator[Metric]:
    """Per run (`--run-metrics N`): the same figures with `run_id`, its status and trace id, its tasks running."""
    gauges = _Gauges("luigi_run", ["run_id", "pipeline"], "this run")
    info = InfoMetricFamily("luigi_run", "A build: its status and trace.", labels=["run_id", "pipeline"])
    running = GaugeMetricFamily(
        "luigi_run_tasks_running", "Tasks of the run running now, per family.", labels=["run_id", "pipeline", "family"]
    )
    for run in runs:
        values = [run.run_id, run.pipeline or ""]
        f = figures[id(run)]
        gauges.add(values, f)
        info.add_metric(
            values, {"status": run.status.value, "trace_id": f"{ids.trace_id(run.source, run.run_id):032x}"}
        )
        for family, n in sorted(f.running.items()):
            running.add_metric([*values, family], n)
    yield from gauges.families()
    yield from (info, running)
