"""OpenTelemetry traces: one trace per run, one span per task attempt, delivered exactly once through the store.

Spans are made with the OpenTelemetry SDK on the pipeline thread, as the model changes: an attempt's span when the
attempt ends, the run's root span (`RUN {pipeline}`, SERVER) and its `scheduling` child when the run ends. Their ids
are deterministic (`exporter.ids`), set through the SDK's IdGenerator hook, so children go out before their root and
a replayed log gives the same trace again.

Exactly once: a SpanProcessor encodes each finished span to OTLP protobuf and queues it in the store's `outbox`, in
the transaction that also stores the events and the log offset that produced it. After `kill -9`, a span is queued
iff its lines are committed; lines after the offset are read again and make the span again. A delivery thread with
its own connection sends the oldest rows with the SDK's OTLP exporter (configured by the standard OTEL_* variables)
and deletes them only once the collector acknowledged them. The one window left: a crash between the collector's
acknowledgement and the DELETE re-sends that batch after the restart, with the same ids.

Configuration: `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL` is `http/protobuf` (the specification's default, and ours)
or `grpc`; endpoint, headers, compression, timeout, TLS and `OTEL_RESOURCE_ATTRIBUTES` as the SDK reads them;
`OTEL_SERVICE_NAME` defaults to `luigi-exporter`.

Attributes follow the OTel CI/CD conventions: `cicd.pipeline.*`, `error.type` on what failed (the exception's
type when the traceback names one, else the attempt's result), and with an external URL (`--external-url`, the
sidecar as users reach it) `cicd.pipeline.run.url.full` and `cicd.pipeline.task.run.url.full`: the run's document
on `/api/runs/{run_id}`, with the task's id as the fragment. The URL is configured, never derived from the listen
address, so that a replay and the live sidecar make the same spans.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter import __version__, ids
from exporter.contract import run_counts
from exporter.model import Attempt, AttemptResult, Change, Run, RunStatus, Task
from exporter.sinks.store import Store

__all__ = ["TraceSink"]

log = logging.getLogger("luigi_exporter")

_BATCH_SPANS = 512  # rows per export request
_BATCH_BYTES = 1 << 20  # and at most about this many bytes (a collector's gRPC limit is 4 MiB)
_IDLE_S = 0.25  # how often an idle delivery thread looks for committed rows
_BACKOFF_S = (0.5, 10.0)  # first and longest wait after a failed export

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
# OTel CI/CD semantic conventions: cicd.pipeline.task.run.result and cicd.pipeline.result.
_TASK_RESULT = {
    AttemptResult.SUCCESS: "success",
    AttemptResult.FAILURE: "failure",
    AttemptResult.DIED: "error",  # the worker process died: the task did not finish
    AttemptResult.TIMEOUT: "timeout",
}  # running and new_requirements (the attempt yielded dynamic dependencies) have no result yet
_RUN_RESULT = {
    RunStatus.SUCCEEDED: "success",
    RunStatus.FAILED: "failure",
    RunStatus.BLOCKED: "failure",
    RunStatus.INCOMPLETE: "error",  # the log ended without Luigi's summary: killed
}
_ERRORS = (AttemptResult.FAILURE, AttemptResult.DIED, AttemptResult.TIMEOUT)
_EXCEPTION_LINE = re.compile(r"([A-Za-z_][\w.]*)(?::\s*(.*))?")


class _GrpcExporter(GrpcSpanExporter):
    """Sends encoded payloads. Private API: OTLPExporterMixin._export builds its request with the abstract
    `_translate_data(data)` hook, overridden here (its retries, channel, headers and compression are kept)."""

    def send(self, payloads: Sequence[bytes]) -> str | None:
        """None once the collector acknowledged, else why not (the exporter logged it)."""
        if self.export(payloads) is SpanExportResult.SUCCESS:  # type: ignore[arg-type]
            return None
        return _SDK_ERRORS.last or "export failed"

    def _translate_data(self, data: Sequence[bytes]) -> ExportTraceServiceRequest:  # type: ignore[override]
        # Serialized messages concatenated parse as one message with the repeated fields (resource_spans) joined.
        return ExportTraceServiceRequest.FromString(b"".join(data))


class _HttpExporter(HttpSpanExporter):
    """Sends encoded payloads. Private API: `self._client`, the `_OTLPHTTPClient` whose `export(bytes)` compresses,
    sends with the configured endpoint, headers and TLS, retries, and returns (success, status_code, reason, error)."""

    def __init__(self) -> None:
        super().__init__()
        if not callable(getattr(getattr(self, "_client", None), "export", None)):
            raise RuntimeError("this opentelemetry-exporter-otlp-proto-http has no _client.export (tested with 1.45)")

    def send(self, payloads: Sequence[bytes]) -> str | None:
        """None once the collector acknowledged, else why not."""
        result = self._client.export(b"".join(payloads))  # concatenated messages: one request, see _GrpcExporter
        if result.success:
            return None
        return str(result.error) if result.error else f"HTTP {result.status_code} {result.reason}"


def _exporter() -> tuple[GrpcSpanExporter | HttpSpanExporter, str]:
    """The SDK exporter for the configured protocol, and the endpoint it sends to (for messages)."""
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    protocol = (protocol or "http/protobuf").strip().lower()
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if protocol == "grpc":
        return _GrpcExporter(), endpoint or "http://localhost:4317"
    if protocol == "http/protobuf":
        return _HttpExporter(), endpoint or "http://localhost:4318"
    raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: not supported (use grpc or http/protobuf)")


class _SdkErrors(logging.Handler):
    """Keeps the SDK exporters' last complaint instead of printing each retry: the sink says it once, when the
    collector goes away, and again when it is back."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.last = record.getMessage()


_SDK_ERRORS = _SdkErrors()


def _capture_sdk_logs() -> None:
    sdk = logging.getLogger("opentelemetry.exporter.otlp")
    if _SDK_ERRORS not in sdk.handlers:
        sdk.addHandler(_SDK_ERRORS)
        sdk.propagate = False


class _PresetIds(IdGenerator):
    """Returns the ids set just before a span starts (the pipeline thread is the only one starting spans)."""

    trace_id = 0
    span_id = 0

    def generate_trace_id(self) -> int:
        return self.trace_id

    def generate_span_id(self) -> int:
        return self.span_id


class _OutboxProcessor(SpanProcessor):
    """Queues each ended span, encoded, in the store's outbox, inside the batch's transaction."""

    def __init__(self, queue: Callable[[str, bytes], None]) -> None:
        self._queue = queue

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        self._queue(f"{context.trace_id:032x}{context.span_id:016x}", encode_spans([span]).SerializeToString())


class TraceSink:
    """A Sink that turns runs into traces; `start` the delivery thread, `close` flushes for at most `timeout` s.

    Metrics: `spans_queued`, `spans_dropped_total` (read from the store), `spans_sent_total`, `export_errors_total`;
    `collect()` makes it a Prometheus collector.
    """

    name = "traces"

    def __init__(self, store: Store, outbox_max: int, external_url: str | None = None) -> None:
        self._store = store
        self._external_url = external_url.rstrip("/") if external_url else None
        self._outbox_max = outbox_max
        self._exporter, self.endpoint = _exporter()
        _capture_sdk_logs()
        self._ids = _PresetIds()
        resource = Resource.create()
        if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
            resource = resource.merge(Resource({SERVICE_NAME: "luigi-exporter"}))
        provider = TracerProvider(sampler=ALWAYS_ON, resource=resource, id_generator=self._ids, shutdown_on_exit=False)
        provider.add_span_processor(_OutboxProcessor(self._queue))
        self._tracer = provider.get_tracer("luigi-exporter", __version__)
        # Spans that wait for what lines to come may give them (`_attempt_ended`, `_run_ended`): per source, the
        # failed attempt whose traceback is next; per run, attempts whose end has no time yet; runs likewise.
        self._held: dict[str, tuple[Run, Task, Attempt]] = {}
        self._untimed: dict[tuple[str, str], dict[int, tuple[Task, Attempt]]] = {}
        self._untimed_runs: set[tuple[str, str]] = set()
        self._dropping = False
        self.spans_sent_total = 0
        self.export_errors_total = 0
        self._stop = threading.Event()
        self._deadline = float("inf")
        self._thread = threading.Thread(target=self._deliver, name="span-delivery", daemon=True)
        self._db = store.connect()  # the delivery thread's
        self._stats_db = store.connect()  # scrapes', under the lock
        self._stats_lock = threading.Lock()
        self._queued_at_close: int | None = None
        self._failure = "not sent before closing"  # the last reason the collector did not take spans

    # -- pipeline thread -------------------------------------------------------------------------------------

    def apply(self, changes: Sequence[Change]) -> None:
        done: set[int] = set()  # span ids made in this batch: the model already holds the batch's end state
        for change in changes:
            run, task, attempt = change.run, change.task, change.attempt
            held = self._held.pop(run.source, None)
            if held is not None and held[2] is not attempt:
                self._attempt_span(*held, done)
            if task is None:
                if change.ended:
                    self._run_ended(run, done)
            elif attempt is not None and change.ended:
                self._attempt_ended(run, task, attempt, done)

    def _attempt_ended(self, run: Run, task: Task, attempt: Attempt, done: set[int]) -> None:
        """An attempt's span, once nothing to come may change it: a failure's traceback comes with the next lines
        (any other change of the source means it did not), and when the end has no time (Luigi's own `LEVEL: msg`
        handler writes none), a second handler's copy may bring it, after other processes' lines, before the run
        ends."""
        key = (run.source, run.run_id)
        if attempt.ended_at is None:
            self._untimed.setdefault(key, {})[id(attempt)] = (task, attempt)
            return
        if key in self._untimed:
            self._untimed[key].pop(id(attempt), None)
        if attempt.result is AttemptResult.FAILURE and attempt.error is None:
            self._held[run.source] = (run, task, attempt)
        else:
            self._attempt_span(run, task, attempt, done)

    def _run_ended(self, run: Run, done: set[int]) -> None:
        """The run's spans, and those of its attempts still without an end time; a summary without a time waits for
        its copy (the run's next change: that copy, or the input's end)."""
        key = (run.source, run.run_id)
        for task, attempt in self._untimed.pop(key, {}).values():
            self._attempt_span(run, task, attempt, done)
        if run.ended_at is None and run.summary is not None and key not in self._untimed_runs:
            self._untimed_runs.add(key)
            return
        self._untimed_runs.discard(key)
        self._run_spans(run, done)

    def _queue(self, key: str, payload: bytes) -> None:
        dropped = self._store.outbox_add([(key, payload, time.time())], self._outbox_max)
        if dropped and not self._dropping:
            log.warning("traces: outbox full (%d spans), dropping the oldest", self._outbox_max)
        self._dropping = bool(dropped)

    def _attempt_span(self, run: Run, task: Task, attempt: Attempt, done: set[int]) -> None:
        span_id = ids.span_id(run.source, run.run_id, task.task_id, attempt.number)
        start = _first(attempt.started_at, attempt.ended_at, run.last_event_at)
        if span_id in done or start is None:  # no time at all in the log: no span
            return
        done.add(span_id)
        end = max(start, _first(attempt.ended_at, run.last_event_at) or start)
        attributes: dict[str, Any] = {
            "cicd.pipeline.name": run.pipeline or "",
            "cicd.pipeline.run.id": run.run_id,
            "cicd.pipeline.task.name": task.family,
            "cicd.pipeline.task.run.id": f"{task.task_id}#{attempt.number}",
            "luigi.task_id": task.task_id,
            "luigi.task.attempt": attempt.number,
            "luigi.task.attempt.result": attempt.result.value,
        }
        if attempt.result in _TASK_RESULT:
            attributes["cicd.pipeline.task.run.result"] = _TASK_RESULT[attempt.result]
        if attempt.pid is not None:
            attributes["luigi.worker.pid"] = attempt.pid
        if self._external_url is not None:
            attributes["cicd.pipeline.task.run.url.full"] = f"{self._run_url(run)}#{_quote(task.task_id)}"
        attributes.update({f"luigi.param.{name}": value for name, value in task.params.items()})
        links = []
        if attempt.number > 1:
            previous = ids.span_id(run.source, run.run_id, task.task_id, attempt.number - 1)
            links.append(Link(SpanContext(ids.trace_id(run.source, run.run_id), previous, False, _SAMPLED)))
        elif run.retry is not None and task.task_id in run.retry.failed:  # the failed attempt this build retries
            before = ids.span_id(run.source, run.retry.of, task.task_id, run.retry.failed[task.task_id])
            links.append(Link(SpanContext(ids.trace_id(run.source, run.retry.of), before, False, _SAMPLED)))
        span = self._span(run, span_id, task.family, SpanKind.INTERNAL, start, attributes, links)
        if attempt.result in _ERRORS:
            text = attempt.error or f"{task.family} attempt {attempt.number}: {attempt.result.value}"
            last = next((line.strip() for line in reversed(text.splitlines()) if line.strip()), text)
            span.set_status(Status(StatusCode.ERROR, last))
            exception = _exception_attributes(text, last)
            span.set_attribute("error.type", exception.get("exception.type", attempt.result.value))
            span.add_event("exception", exception, timestamp=_ns(end))
        span.end(end_time=_ns(end))

    def _run_spans(self, run: Run, done: set[int]) -> None:
        root_id = ids.span_id(run.source, run.run_id, "run")
        start = run.started_at
        if root_id in done or start is None:
            return
        done.add(root_id)
        end = max(start, _first(run.ended_at, run.last_event_at) or start)
        pipeline = run.pipeline or ""
        common = {"cicd.pipeline.name": pipeline, "cicd.pipeline.run.id": run.run_id}
        starts = (a.started_at for t in run.tasks.values() for a in t.attempts if a.started_at is not None)
        scheduled = min(max(start, min(starts, default=end)), end)  # the first attempt's start
        scheduling_id = ids.span_id(run.source, run.run_id, "scheduling")
        self._span(run, scheduling_id, "scheduling", SpanKind.INTERNAL, start, common).end(end_time=_ns(scheduled))
        counts = run_counts(run)
        attributes = {
            **common,
            "luigi.run.status": run.status.value,
            "luigi.tasks.scheduled": counts["tasks_total"],
            "luigi.tasks.completed": counts["tasks_completed"],
            "luigi.tasks.failed": counts["tasks_failed"],
        }
        if run.status in _RUN_RESULT:
            attributes["cicd.pipeline.result"] = _RUN_RESULT[run.status]
        if run.status is not RunStatus.SUCCEEDED:
            attributes["error.type"] = run.status.value
        if self._external_url is not None:
            attributes["cicd.pipeline.run.url.full"] = self._run_url(run)
        links = []
        if run.retry is not None:  # the build this one retries, in its own trace
            attributes["luigi.run.retry_of"] = run.retry.of
            attributes["luigi.run.retry"] = run.retry.number
            before = ids.span_id(run.source, run.retry.of, "run")
            links.append(Link(SpanContext(ids.trace_id(run.source, run.retry.of), before, False, _SAMPLED)))
        span = self._span(run, root_id, f"RUN {pipeline or 'luigi'}", SpanKind.SERVER, start, attributes, links)
        if run.status is not RunStatus.SUCCEEDED:
            reason = run.summary.reason if run.summary is not None else ""
            span.set_status(Status(StatusCode.ERROR, f"run {run.status.value}" + (f": {reason}" if reason else "")))
        span.end(end_time=_ns(end))

    def _run_url(self, run: Run) -> str:
        return f"{self._external_url}/api/runs/{_quote(run.run_id)}"

    def _span(
        self,
        run: Run,
        span_id: int,
        name: str,
        kind: SpanKind,
        start: float,
        attributes: dict[str, Any],
        links: Sequence[Link] = (),
    ) -> Span:
        """Start a span with the run's trace id; every span but the root is the root's child, which may not exist yet
        (the caller ends it, which queues it)."""
        trace_id = ids.trace_id(run.source, run.run_id)
        root_id = ids.span_id(run.source, run.run_id, "run")
        context = Context()
        if span_id != root_id:
            root = trace.NonRecordingSpan(SpanContext(trace_id, root_id, False, _SAMPLED))
            context = trace.set_span_in_context(root, context)
        self._ids.trace_id, self._ids.span_id = trace_id, span_id
        return self._tracer.start_span(name, context, kind, attributes, links, start_time=_ns(start))

    # -- delivery thread ---------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def _deliver(self) -> None:
        backoff = 0.0
        while not (self._stop.is_set() and time.monotonic() >= self._deadline):
            try:
                rows = self._oldest()
            except sqlite3.Error as err:  # the store's disk: try again later rather than stop delivering
                log.error("traces: reading the outbox: %s", err)
                self._stop.wait(_BACKOFF_S[1])
                continue
            if not rows:
                if self._stop.is_set():
                    return
                self._stop.wait(_IDLE_S)
                continue
            failure = self._exporter.send([payload for _, _, payload in rows])
            if failure is None:
                self._forget(rows)
                self.spans_sent_total += len(rows)
                if backoff:
                    log.info("traces: %s reachable again, sending the queued spans", self.endpoint)
                backoff = 0.0
                continue
            self.export_errors_total += 1
            self._failure = failure
            if not backoff and not self._stop.is_set():  # closing says it once, in close()
                log.warning("traces: %s unreachable (%s); spans wait in the outbox", self.endpoint, failure)
            if self._stop.is_set():
                return  # closing: one try, the rest waits in the store for the next start
            backoff = min(_BACKOFF_S[1], max(_BACKOFF_S[0], backoff * 2))
            self._stop.wait(backoff)

    def _oldest(self) -> list[tuple[int, str, bytes]]:
        """The oldest queued rows, at most _BATCH_SPANS of them and about _BATCH_BYTES (never the whole outbox)."""
        rows, size = [], 0
        cursor = self._db.execute("SELECT id, span_key, payload FROM outbox ORDER BY id LIMIT ?", (_BATCH_SPANS,))
        try:
            for row in cursor:
                rows.append(row)
                size += len(row[2])
                if size >= _BATCH_BYTES:
                    break
        finally:
            cursor.close()  # ends the read transaction now, not when the cursor is collected
        return rows

    def _forget(self, rows: list[tuple[int, str, bytes]]) -> None:
        """Delete what the collector acknowledged; the key guards against a row id reused after a drop."""
        while True:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany("DELETE FROM outbox WHERE id = ? AND span_key = ?", [r[:2] for r in rows])
                self._db.execute("COMMIT")
                return
            except sqlite3.OperationalError as err:  # the pipeline holds the write lock longer than the timeout
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if self._stop.is_set() and time.monotonic() >= self._deadline:
                    log.error("traces: %d delivered spans stay queued and will be sent again: %s", len(rows), err)
                    return

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued for at most `timeout` seconds; what is left stays in the store for the next start."""
        if self._thread.is_alive():
            self._deadline = time.monotonic() + timeout
            self._stop.set()
            self._thread.join(timeout)
        self._exporter.shutdown()  # aborts the exporter's own retry wait if the thread is still in it
        if self._thread.is_alive():
            self._thread.join(1.0)
        self._queued_at_close = self.spans_queued
        if self._queued_at_close:
            log.warning(
                "traces: %d spans not delivered to %s (%s)", self._queued_at_close, self.endpoint, self._failure
            )
        if not self._thread.is_alive():
            self._db.close()
        with self._stats_lock:
            self._stats_db.close()

    # -- metrics (any thread) ------------------------------------------------------------------------------------

    @property
    def spans_queued(self) -> int:
        if self._queued_at_close is not None:
            return self._queued_at_close
        return self._stat("SELECT count(*) FROM outbox")

    @property
    def spans_dropped_total(self) -> int:
        return self._stat("SELECT coalesce(max(value), 0) FROM counters WHERE name = 'spans_dropped'")

    def _stat(self, sql: str) -> int:
        with self._stats_lock:
            return int(self._stats_db.execute(sql).fetchone()[0])

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "luigi_exporter_spans_queued", "Spans in the outbox, waiting for the collector", value=self.spans_queued
        )
        yield CounterMetricFamily(
            "luigi_exporter_spans_sent", "Spans the collector acknowledged", value=self.spans_sent_total
        )
        yield CounterMetricFamily(
            "luigi_exporter_spans_dropped",
            "Spans dropped, oldest first, because the outbox was full",
            value=self.spans_dropped_total,
        )
        yield CounterMetricFamily(
            "luigi_exporter_span_export_errors", "Failed span export requests", value=self.export_errors_total
        )


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


def _exception_attributes(text: str, last: str) -> dict[str, str]:
    """OTel exception attributes from a Python traceback, whose last line is `Type: message`."""
    m = _EXCEPTION_LINE.fullmatch(last)
    attributes = {"exception.type": m[1], "exception.message": m[2] or ""} if m else {"exception.message": last}
    if text != last:
        attributes["exception.stacktrace"] = text
    return attributes
