"""A real OTLP trace receiver on loopback, gRPC or HTTP/protobuf, decoding with opentelemetry-proto.

`stop()` then `start()` listens again on the same port: the collector went away (connections refused) and came back.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import (
    TraceServiceServicer,
    add_TraceServiceServicer_to_server,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

PROTOCOLS = {"grpc": "grpc", "http": "http/protobuf"}


@dataclass(frozen=True)
class Event:
    name: str
    time: float
    attributes: dict[str, Any]


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as the collector got it; ids in hex, times in epoch seconds, kind and status as OTLP numbers."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: int
    start: float
    end: float
    status_code: int
    status_message: str
    attributes: dict[str, Any]
    events: tuple[Event, ...]
    links: tuple[tuple[str, str], ...]
    resource: dict[str, Any]
    scope: str


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def _attributes(pairs: list[KeyValue]) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs}


def decode(request: ExportTraceServiceRequest) -> list[ReceivedSpan]:
    spans = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for s in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_span_id=s.parent_span_id.hex(),
                        name=s.name,
                        kind=s.kind,
                        start=s.start_time_unix_nano / 1e9,
                        end=s.end_time_unix_nano / 1e9,
                        status_code=s.status.code,
                        status_message=s.status.message,
                        attributes=_attributes(s.attributes),
                        events=tuple(
                            Event(e.name, e.time_unix_nano / 1e9, _attributes(e.attributes)) for e in s.events
                        ),
                        links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in s.links),
                        resource=resource,
                        scope=scope_spans.scope.name,
                    )
                )
    return spans


class OtlpReceiver:
    """Collects every span it is sent; `protocol` is "grpc" or "http"."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        self.port = 0
        self.requests = 0
        self._spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        self._grpc: grpc.Server | None = None
        self._http: ThreadingHTTPServer | None = None

    @property
    def env(self) -> dict[str, str]:
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{self.port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": PROTOCOLS[self.protocol],
        }

    def _record(self, request: ExportTraceServiceRequest) -> None:
        with self._lock:
            self.requests += 1
            self._spans.extend(decode(request))

    def start(self) -> OtlpReceiver:
        if self.protocol == "grpc":
            receiver = self

            class Servicer(TraceServiceServicer):
                def Export(self, request: ExportTraceServiceRequest, context: Any) -> ExportTraceServiceResponse:
                    receiver._record(request)
                    return ExportTraceServiceResponse()

            server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
            add_TraceServiceServicer_to_server(Servicer(), server)
            self.port = server.add_insecure_port(f"127.0.0.1:{self.port}")
            server.start()
            self._grpc = server
        else:
            self._http = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
            self.port = self._http.server_address[1]
            threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                receiver._record(ExportTraceServiceRequest.FromString(body))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def stop(self) -> None:
        """Stop listening: new connections are refused until `start()`."""
        if self._grpc is not None:
            self._grpc.stop(grace=None).wait()
            self._grpc = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self._spans)

    def clear(self) -> None:
        with self._lock:
            self._spans.clear()
            self.requests = 0

    def wait_for(self, condition: Callable[[list[ReceivedSpan]], bool], timeout: float = 30) -> list[ReceivedSpan]:
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans()
            if condition(spans):
                return spans
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver: condition not met in {timeout} s ({len(spans)} spans received)")
            time.sleep(0.05)
