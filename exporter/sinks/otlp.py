"""OTLP through the OpenTelemetry SDK: spans encoded to protobuf when made, payloads sent when delivered.

Everything that leans on the SDK's and the exporters' internals is here, so an upgrade that breaks one breaks this
module only. The SDK makes the protobuf (resource, scope, limits, encoding as every OTel backend expects), and its
exporters send it (retries, channel, endpoint, headers, compression, timeout and TLS from the standard OTEL_*
variables); between the two, payloads wait in the store (`exporter.sinks.outbox`).

Configuration: `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL` is `http/protobuf` (the specification's default, and ours)
or `grpc`; endpoint, headers, compression, timeout, TLS and `OTEL_RESOURCE_ATTRIBUTES` as the SDK reads them;
`OTEL_SERVICE_NAME` defaults to `luigi-exporter`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence

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
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from exporter import __version__
from exporter.sinks.spans import Kind, Span

__all__ = ["Encoder", "sender"]

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_KINDS = {Kind.INTERNAL: SpanKind.INTERNAL, Kind.SERVER: SpanKind.SERVER}


class Encoder:
    """A span as one OTLP `ExportTraceServiceRequest`, serialized: made by the SDK's own tracer with the span's ids
    preset, so the resource, the scope and the SDK's limits are what any OTel SDK would send.

    Not thread-safe: one thread (the pipeline's) encodes."""

    def __init__(self) -> None:
        self._ids = _PresetIds()
        resource = Resource.create()
        if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
            resource = resource.merge(Resource({SERVICE_NAME: "luigi-exporter"}))
        provider = TracerProvider(sampler=ALWAYS_ON, resource=resource, id_generator=self._ids, shutdown_on_exit=False)
        self._ended: list[bytes] = []
        provider.add_span_processor(_Encoding(self._ended.append))
        self._tracer = provider.get_tracer("luigi-exporter", __version__)

    def __call__(self, span: Span) -> bytes:
        context = Context()
        if span.parent_id is not None:
            parent = trace.NonRecordingSpan(SpanContext(span.trace_id, span.parent_id, False, _SAMPLED))
            context = trace.set_span_in_context(parent, context)
        links = [Link(SpanContext(link.trace_id, link.span_id, False, _SAMPLED)) for link in span.links]
        self._ids.trace_id, self._ids.span_id = span.trace_id, span.span_id
        sdk_span = self._tracer.start_span(
            span.name, context, _KINDS[span.kind], dict(span.attributes), links, start_time=span.start
        )
        if span.failure is not None:
            sdk_span.set_status(Status(StatusCode.ERROR, span.failure.message))
            if span.failure.exception is not None:
                sdk_span.add_event("exception", dict(span.failure.exception), timestamp=span.end)
        sdk_span.end(end_time=span.end)  # the processor encodes it, synchronously
        return self._ended.pop()


class _PresetIds(IdGenerator):
    """The SDK's id hook, returning the ids set just before each span starts: ours come from `exporter.ids`."""

    trace_id = 0
    span_id = 0

    def generate_trace_id(self) -> int:
        return self.trace_id

    def generate_span_id(self) -> int:
        return self.span_id


class _Encoding(SpanProcessor):
    """Hands each ended span on, encoded."""

    def __init__(self, take: Callable[[bytes], None]) -> None:
        self._take = take

    def on_end(self, span: ReadableSpan) -> None:
        self._take(encode_spans([span]).SerializeToString())


def sender() -> _GrpcExporter | _HttpExporter:
    """The SDK exporter for the configured protocol, as `exporter.sinks.outbox.Sender`."""
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    protocol = (protocol or "http/protobuf").strip().lower()
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if protocol == "grpc":
        exporter: _GrpcExporter | _HttpExporter = _GrpcExporter(endpoint or "http://localhost:4317")
    elif protocol == "http/protobuf":
        exporter = _HttpExporter(endpoint or "http://localhost:4318")
    else:
        raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: not supported (use grpc or http/protobuf)")
    _capture_sdk_logs()
    return exporter


class _GrpcExporter(GrpcSpanExporter):
    """Sends encoded payloads. Private API: OTLPExporterMixin._export builds its request with the abstract
    `_translate_data(data)` hook, overridden here (its retries, channel, headers and compression are kept)."""

    def __init__(self, endpoint: str) -> None:
        super().__init__()
        self.endpoint = endpoint  # for messages; the SDK resolves its own from the same variables

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

    def __init__(self, endpoint: str) -> None:
        super().__init__()
        if not callable(getattr(getattr(self, "_client", None), "export", None)):
            raise RuntimeError("this opentelemetry-exporter-otlp-proto-http has no _client.export (tested with 1.45)")
        self.endpoint = endpoint  # for messages; the SDK resolves its own from the same variables

    def send(self, payloads: Sequence[bytes]) -> str | None:
        """None once the collector acknowledged, else why not."""
        result = self._client.export(b"".join(payloads))  # concatenated messages: one request, see _GrpcExporter
        if result.success:
            return None
        return str(result.error) if result.error else f"HTTP {result.status_code} {result.reason}"


class _SdkErrors(logging.Handler):
    """Keeps the SDK exporters' last complaint instead of printing each retry: the outbox says it once, when the
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
