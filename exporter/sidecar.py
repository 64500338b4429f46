"""The live sidecar behind `watch` and `run`: store, pipeline, metrics, traces and the HTTP server around one
pipeline, until a signal stops it. `cli` loads this module only for those two commands."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, BinaryIO

from prometheus_client import push_to_gateway
from rich.console import Console

from exporter.liveness import Liveness
from exporter.model import FAILED_STATES, Retry
from exporter.options import (
    EXIT_CONFIG,
    EXIT_INPUT,
    EXIT_PORT,
    EXIT_USAGE,
    UserError,
    document_of,
    redactor_of,
    state_path,
    write_report,
    zone,
)
from exporter.pipeline import Pipeline, catch_up, follow
from exporter.retention import Retention
from exporter.server import Server
from exporter.sinks.changes import Changes
from exporter.sinks.console import LiveView
from exporter.sinks.metrics import Exposition, FamilyCollector, LuigiCollector
from exporter.sinks.store import Store
from exporter.sources.tail import Tailer
from exporter.sources.wrap import Wrapped
from exporter.webconfig import WebConfigError, load_web_config

if TYPE_CHECKING:
    from exporter.sinks.traces import TraceSink

__all__ = ["Sidecar", "push", "run", "traces_of", "watch"]

log = logging.getLogger("luigi_exporter")


def traces_of(store: Store, args: argparse.Namespace) -> TraceSink:
    """The OTLP trace sink, delivering; imported only when wanted (the SDK and gRPC take a second to load)."""
    from exporter.sinks.traces import TraceSink

    try:
        traces = TraceSink(store, args.outbox_max, args.external_url)
    except (ValueError, RuntimeError) as err:
        raise UserError(f"traces: {err}", EXIT_CONFIG) from err
    traces.start()
    return traces


class Sidecar:
    """Store, pipeline, metrics and the HTTP server, set up for `watch` and `run` alike."""

    def __init__(self, args: argparse.Namespace) -> None:
        try:
            web = load_web_config(args.web_config) if args.web_config else None
        except WebConfigError as err:
            raise UserError(f"--web.config.file {err}", EXIT_CONFIG) from err
        for warning in web.warnings if web else ():
            log.warning("--web.config.file %s", warning)
        path = state_path(args.state_dir)
        try:
            self.store, rebuilt = Store.open_or_rebuild(path)
        except Exception as err:  # sqlite3.OperationalError and friends: say which file and what to do
            raise UserError(f"store {path}: {err} (move it aside or choose another --state-dir)", EXIT_CONFIG) from err
        if rebuilt is not None:  # a corrupt store: moved aside, the new one is filled from the logs (no positions)
            log.warning("store: %s; rebuilding it from the logs", rebuilt)
        otlp = args.otlp
        if otlp is None:
            otlp = bool(
                os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            )
        self.traces = traces_of(self.store, args) if otlp else None
        self.changes = Changes()  # wakes the server's event streams
        sinks = [self.changes, self.traces] if self.traces else [self.changes]
        retention = Retention(args.retain_runs, args.retain_for)
        self.pipeline = Pipeline(
            self.store,
            sinks,
            tz=zone(args.tz),
            expected_tasks=args.expected_tasks,
            redactor=redactor_of(args),
            retention=retention,
        )
        self.lag: dict[str, int] = {}
        self.files: dict[str, int] = {}  # the tailer's counters (rotations, truncations)
        runs = LuigiCollector(
            self.pipeline,
            self.store,
            retention,
            lag=lambda: dict(self.lag),
            run_series=args.run_metrics,
            files=lambda: dict(self.files),
        )
        self.metrics = Exposition(
            [runs, self.traces] if self.traces else [runs],
            FamilyCollector(self.store),
            lambda: self.store.stats_version,
        )
        host, port = args.listen
        try:
            self.server = Server(
                host,
                port,
                self.pipeline,
                self.metrics,
                args.jaeger_url,
                web,
                args.idle_timeout,
                args.max_connections,
                self.changes,
                args.cors_origin,
            )
        except OSError as err:
            self.close_traces()
            self.store.close()
            raise UserError(f"--listen {host}:{port}: {err.strerror} (choose another port)", EXIT_PORT) from err
        self.server.start()
        bound = self.server.address
        scheme = "https" if web is not None and web.tls is not None else "http"
        log.info("serving %s://%s:%d/ (metrics at /metrics)", scheme, bound[0], bound[1])

    def close(self) -> None:
        self.server.close()
        self.close_traces()
        self.store.close()

    def close_traces(self) -> None:
        """Flush spans for at most 5 s (SIGTERM), before the store closes; the rest waits in the store."""
        if self.traces is not None:
            self.traces.close(timeout=5)


def _stop_on_signals(stop: threading.Event) -> None:
    def handle(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def watch(args: argparse.Namespace) -> int:
    sidecar = Sidecar(args)
    stop = threading.Event()
    _stop_on_signals(stop)
    try:
        positions = catch_up(sidecar.pipeline, sidecar.store.positions())
        tailer = Tailer(args.globs, positions, use_inotify=not args.poll)
        sidecar.lag = tailer.lag_bytes()
        signal.signal(signal.SIGHUP, lambda _signum, _frame: tailer.reopen())  # done by the loop's next poll
        reopened = tailer.reopened

        def refresh_lag() -> None:
            nonlocal reopened
            sidecar.lag = tailer.lag_bytes()
            sidecar.files = tailer.counters()
            if tailer.reopened != reopened:
                reopened = tailer.reopened
                log.info("SIGHUP: reopened the followed files")

        try:
            follow(sidecar.pipeline, tailer, stop, after_poll=refresh_lag, liveness=Liveness(args.stale_after))
        finally:
            tailer.close()
    finally:
        sidecar.close()
    return 0


def run(args: argparse.Namespace) -> int:
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise UserError("run needs a command after --, e.g. luigi-exporter run -- luigi --module m Task", EXIT_USAGE)
    if args.retries < 0 or args.retry_delay < 0:
        raise UserError("--retries and --retry-delay take a number of at least 0", EXIT_USAGE)
    sidecar = Sidecar(args)
    view = LiveView(Console(stderr=True)) if args.view else None
    source = args.run_id or time.strftime("run-%Y%m%d-%H%M%S")
    try:
        with contextlib.ExitStack() as stack:
            if view is not None:
                sink = stack.enter_context(open(args.output or os.devnull, "wb"))
                out, err = sink, sink
            else:
                out, err = sys.stdout.buffer, sys.stderr.buffer
            code, offset, builds = 0, 0, []
            for retry in range(args.retries + 1):
                failed = _failed_build(builds)
                if retry and failed is None:
                    break
                if failed is not None:
                    tasks = {t["task_id"]: t["attempts"] for t in failed["tasks"] if t["state"] in FAILED_STATES}
                    log.info(
                        "retry %d of %d: %s failed %d tasks; running the command again%s",
                        retry,
                        args.retries,
                        failed["run_id"],
                        len(tasks),
                        f" in {args.retry_delay:g}s" if args.retry_delay else "",
                    )
                    time.sleep(args.retry_delay)
                    sidecar.pipeline.retry(source, Retry(failed["run_id"], retry, tasks))
                code, offset, builds = _run_once(sidecar, view, argv, source, out, err, offset)
        runs = sidecar.pipeline.every_document()  # those past retention too, from the store
        if args.report:
            write_report(args.report, document_of(sidecar.pipeline, runs), args.jaeger_url)
        if args.pushgateway:
            push(args.pushgateway, sidecar.metrics)
        if args.linger > 0:
            time.sleep(args.linger)
    finally:
        if view is not None:
            view.close()
        sidecar.close()
    if code == 0 and _failed_build(builds) is not None and args.fail_on_task_failure:
        return 1
    return code if code >= 0 else 128 - code


def _failed_build(builds: list[dict]) -> dict | None:
    """The last of a command's builds that failed tasks (the one a retry re-runs), if any."""
    return next((b for b in reversed(builds) if b["tasks_failed"]), None)


def _run_once(
    sidecar: Sidecar, view: LiveView | None, argv: list[str], source: str, out: BinaryIO, err: BinaryIO, offset: int
) -> tuple[int, int, list[dict]]:
    """Run the command once to its end as `source` (its offsets from `offset`); returns its exit code, the offset
    past its last line, and the documents of the builds its output made (past retention too, from the store)."""
    before = {r["run_id"] for r in sidecar.pipeline.every_document()}
    try:
        command = Wrapped(argv, source, out, err, offset=offset)
    except OSError as error:
        raise UserError(f"{argv[0]}: {error.strerror} (is it installed and on PATH?)", EXIT_INPUT) from error
    while not command.finished:
        blocks = list(command.blocks(timeout=0.25))
        if blocks:
            sidecar.pipeline.feed_blocks(command.source, blocks)
            sidecar.pipeline.commit()
        if view is not None:
            view.update(sidecar.pipeline.documents(time.time()), time.time())
    code = command.wait()
    sidecar.pipeline.finish(command.source)
    sidecar.pipeline.commit()
    if view is not None:
        view.update(sidecar.pipeline.documents(time.time()), time.time())
    builds = [r for r in sidecar.pipeline.every_document() if r["source"] == source and r["run_id"] not in before]
    return code, command.offset, builds


def push(url: str, metrics: Exposition) -> None:
    try:
        push_to_gateway(url, job="luigi-exporter", registry=metrics)  # type: ignore[arg-type]  # it only collect()s
    except OSError as err:
        log.error("pushgateway %s: %s (the figures were not pushed)", url, err)
