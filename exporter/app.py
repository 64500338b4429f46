"""The composition root: each command's parts built from its `Config`, wired together and started here, and nowhere
else. No part starts a thread when it is made; `App.start` starts them all (the HTTP server's loop and lobby, the
span delivery) and `_run_once` the wrapped command's two pipe readers.

The live parts (prometheus_client, watchdog, SQLite, the HTTP server, the OTLP SDK) are imported where they are
built: replay, which needs none of them, starts in half the time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, BinaryIO

from exporter.config import Config, Live, Replay, Watch, Wrap
from exporter.contract import to_json
from exporter.documents import Documents
from exporter.model import FAILED_STATES, Retry, Run
from exporter.options import EXIT_CONFIG, EXIT_INPUT, EXIT_PORT, UserError, document_of, write_report
from exporter.pipeline import Pipeline
from exporter.replay import JsonRuns, print_run, replay_into
from exporter.sources.files import expand, is_readable_file

if TYPE_CHECKING:
    from exporter.sinks.console import LiveView
    from exporter.sinks.metrics import Exposition
    from exporter.sinks.store import Store
    from exporter.sinks.traces import TraceSink

__all__ = ["App", "replay", "run", "watch"]

log = logging.getLogger("luigi_exporter")


def _traces(store: Store, config: Config) -> TraceSink:
    """The OTLP trace sink (its outbox not started): spans wait in `store`'s outbox until delivered."""
    from exporter.sinks import otlp
    from exporter.sinks.outbox import Outbox
    from exporter.sinks.traces import TraceSink

    try:
        encode = otlp.Encoder()
        outbox = Outbox(store, otlp.sender(), config.outbox_max)
    except (ValueError, RuntimeError) as err:
        raise UserError(f"traces: {err}", EXIT_CONFIG) from err
    return TraceSink(outbox, encode, config.external_url)


class App:
    """The live sidecar of `watch` and `run`: store, pipeline, metrics, traces and the HTTP server around one
    pipeline. Made, it holds its port and store; `start` sets it going, `close` stops it."""

    def __init__(self, config: Config) -> None:
        from exporter.server import Server
        from exporter.sinks.changes import Changes
        from exporter.sinks.metrics import Exposition, FamilyCollector, LuigiCollector, OutboxCollector
        from exporter.sinks.store import Store

        live = config.live or Live()
        self.live = live
        try:
            self.store, rebuilt = Store.open_or_rebuild(live.store)
        except Exception as err:  # sqlite3.OperationalError and friends: say which file and what to do
            raise UserError(
                f"store {live.store}: {err} (move it aside or choose another --state-dir)", EXIT_CONFIG
            ) from err
        if rebuilt is not None:  # a corrupt store: moved aside, the new one is filled from the logs (no positions)
            log.warning("store: %s; rebuilding it from the logs", rebuilt)
        self.traces = _traces(self.store, config) if config.otlp else None
        self.changes = Changes()  # wakes the server's event streams
        self.pipeline = Pipeline(
            self.store,
            [self.changes, self.traces] if self.traces else [self.changes],
            tz=config.tz,
            expected_tasks=config.expected_tasks,
            redactor=config.redactor,
            retention=live.retention,
        )
        self.documents = Documents(self.pipeline)
        self.lag: dict[str, int] = {}  # bytes not read yet, by followed file (`watch` sets it after each poll)
        self.files: dict[str, int] = {}  # the tailer's counters (rotations, truncations)
        runs = LuigiCollector(
            self.pipeline,
            self.store,
            live.retention,
            lag=lambda: dict(self.lag),
            run_series=live.run_metrics,
            files=lambda: dict(self.files),
        )
        self.metrics: Exposition = Exposition(
            [runs, OutboxCollector(self.traces.outbox)] if self.traces else [runs],
            FamilyCollector(self.store),
            lambda: self.store.stats_version,
        )
        try:
            self.server = Server(
                live.host,
                live.port,
                self.documents,
                self.metrics,
                live.jaeger_url,
                live.web,
                live.idle_timeout,
                live.max_connections,
                self.changes,
                live.cors_origin,
            )
        except OSError as err:
            if self.traces is not None:
                self.traces.outbox.close(timeout=0)  # never started: its sender and connections only
            self.store.close()
            raise UserError(
                f"--listen {live.host}:{live.port}: {err.strerror} (choose another port)", EXIT_PORT
            ) from err

    def start(self) -> None:
        if self.traces is not None:
            self.traces.outbox.start()
        self.server.start()
        host, port = self.server.address
        scheme = "https" if self.live.web is not None and self.live.web.tls is not None else "http"
        log.info("serving %s://%s:%d/ (metrics at /metrics)", scheme, host, port)

    def close(self) -> None:
        self.server.close()
        if self.traces is not None:  # spans flushed for at most 5 s (SIGTERM); the rest waits in the store
            self.traces.outbox.close(timeout=5)
        self.store.close()


# -- replay ------------------------------------------------------------------------------------------------------


def replay(config: Config, what: Replay) -> int:
    """Every run of whole files, printed (or `--json`) as each ends; with `otlp`, their spans sent as well."""
    paths = expand(list(what.files))
    for path in paths:  # all checked before the first byte is written: an unreadable one means no output at all
        reason = is_readable_file(path)
        if reason is not None:
            raise UserError(reason, EXIT_INPUT)
    store = traces = None
    if config.otlp:  # a store in memory gives the spans the sidecar's outbox; undelivered ones are lost, said once
        from exporter.sinks.store import Store

        store = Store(None)
        traces = _traces(store, config)
        traces.outbox.start()
    pipeline = Pipeline(
        store,
        [traces] if traces else [],
        tz=config.tz,
        expected_tasks=config.expected_tasks,
        redactor=config.redactor,
    )
    # Each run is written once it has ended for good and every run before it has been, then dropped: a log of
    # thousands of builds holds a few in memory, not all. Not when indented for a person (one json.dumps at the
    # end), nor when a file is named twice (its book takes runs again after the files between were written).
    streamed = not (what.json and sys.stdout.isatty()) and len(set(paths)) == len(paths)
    streaming = JsonRuns(sys.stdout)
    printed = 0

    def write(runs: list[Run]) -> None:
        nonlocal printed
        if what.json:
            streaming.write(runs)
            return
        for run in runs:
            print_run(run)
            printed += 1

    try:
        for path in paths:
            try:
                replay_into(pipeline, path, write if streamed else None)
            except BrokenPipeError:
                raise  # writing, not reading, failed: the reader of our output left (see cli.main)
            except OSError as err:
                raise UserError(f"{path}: {err.strerror or err}", EXIT_INPUT) from err
            pipeline.commit()
    finally:
        if traces is not None and store is not None:
            traces.outbox.close(timeout=60)
            store.close()
    if not streamed and what.json:
        import json

        document = document_of(pipeline, Documents(pipeline).all())
        # Indented for a person; for pipes and files what the streamed document is.
        sys.stdout.write((json.dumps(document, indent=1) if sys.stdout.isatty() else to_json(document)) + "\n")
        return 0
    write(pipeline.runs())  # those a lagging store held back, or all of them when not streamed
    if what.json:
        streaming.end(pipeline.lines_read, pipeline.lines_unparsed)
    elif not printed:
        print(f"no Luigi run found ({pipeline.lines_read} lines read)")
    return 0


# -- the live commands -------------------------------------------------------------------------------------------


def _stop_on_signals(stop: threading.Event) -> None:
    def handle(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def watch(config: Config, what: Watch) -> int:
    """Follow the files until SIGTERM or SIGINT, after rebuilding the model from what the store says was read."""
    from exporter.liveness import Liveness
    from exporter.pipeline import catch_up, follow
    from exporter.sources.tail import Tailer

    app = App(config)
    stop = threading.Event()
    _stop_on_signals(stop)
    try:
        app.start()
        positions = catch_up(app.pipeline, app.store.positions())
        tailer = Tailer(list(what.globs), positions, use_inotify=not what.poll)
        app.lag = tailer.lag_bytes()
        signal.signal(signal.SIGHUP, lambda _signum, _frame: tailer.reopen())  # done by the loop's next poll
        reopened = tailer.reopened

        def refresh_lag() -> None:
            nonlocal reopened
            app.lag = tailer.lag_bytes()
            app.files = tailer.counters()
            if tailer.reopened != reopened:
                reopened = tailer.reopened
                log.info("SIGHUP: reopened the followed files")

        stale_after = app.live.stale_after
        try:
            follow(app.pipeline, tailer, stop, after_poll=refresh_lag, liveness=Liveness(stale_after))
        finally:
            tailer.close()
    finally:
        app.close()
    return 0


def run(config: Config, what: Wrap) -> int:
    """Run the command (again while its build failed tasks, up to `retries`), observed; its exit code is ours."""
    app = App(config)
    view = None
    if what.view:
        from rich.console import Console

        from exporter.sinks.console import LiveView

        view = LiveView(Console(stderr=True))
    source = what.run_id or time.strftime("run-%Y%m%d-%H%M%S")
    try:
        app.start()
        with contextlib.ExitStack() as stack:
            if view is not None:
                sink = stack.enter_context(open(what.output or os.devnull, "wb"))
                out, err = sink, sink
            else:
                out, err = sys.stdout.buffer, sys.stderr.buffer
            code, offset, builds = 0, 0, []
            for retry in range(what.retries + 1):
                failed = _failed_build(builds)
                if retry and failed is None:
                    break
                if failed is not None:
                    tasks = {t["task_id"]: t["attempts"] for t in failed["tasks"] if t["state"] in FAILED_STATES}
                    log.info(
                        "retry %d of %d: %s failed %d tasks; running the command again%s",
                        retry,
                        what.retries,
                        failed["run_id"],
                        len(tasks),
                        f" in {what.retry_delay:g}s" if what.retry_delay else "",
                    )
                    time.sleep(what.retry_delay)
                    app.pipeline.retry(source, Retry(failed["run_id"], retry, tasks))
                code, offset, builds = _run_once(app, view, what.argv, source, out, err, offset)
        runs = app.documents.every()  # those past retention too, from the store
        if what.report:
            write_report(what.report, document_of(app.pipeline, runs), app.live.jaeger_url)
        if what.pushgateway:
            push(what.pushgateway, app.metrics)
        if what.linger > 0:
            time.sleep(what.linger)
    finally:
        if view is not None:
            view.close()
        app.close()
    if code == 0 and _failed_build(builds) is not None and what.fail_on_task_failure:
        return 1
    return code if code >= 0 else 128 - code


def _failed_build(builds: list[dict]) -> dict | None:
    """The last of a command's builds that failed tasks (the one a retry re-runs), if any."""
    return next((b for b in reversed(builds) if b["tasks_failed"]), None)


def _run_once(
    app: App, view: LiveView | None, argv: tuple[str, ...], source: str, out: BinaryIO, err: BinaryIO, offset: int
) -> tuple[int, int, list[dict]]:
    """Run the command once to its end as `source` (its offsets from `offset`); returns its exit code, the offset
    past its last line, and the documents of the builds its output made (past retention too, from the store)."""
    from exporter.sources.wrap import Wrapped

    pipeline, documents = app.pipeline, app.documents
    before = {r["run_id"] for r in documents.every()}
    command = Wrapped(argv, source, out, err, offset=offset)
    try:
        command.start()
    except OSError as error:
        raise UserError(f"{argv[0]}: {error.strerror} (is it installed and on PATH?)", EXIT_INPUT) from error
    while not command.finished:
        blocks = list(command.blocks(timeout=0.25))
        if blocks:
            pipeline.feed_blocks(command.source, blocks)
            pipeline.commit()
        if view is not None:
            view.update(documents.all(time.time()), time.time())
    code = command.wait()
    pipeline.finish(command.source)
    pipeline.commit()
    if view is not None:
        view.update(documents.all(time.time()), time.time())
    builds = [r for r in documents.every() if r["source"] == source and r["run_id"] not in before]
    return code, command.offset, builds


def push(url: str, metrics: Exposition) -> None:
    from prometheus_client import push_to_gateway

    try:
        push_to_gateway(url, job="luigi-exporter", registry=metrics)  # type: ignore[arg-type]  # it only collect()s
    except OSError as err:
        log.error("pushgateway %s: %s (the figures were not pushed)", url, err)
