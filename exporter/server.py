"""The sidecar's one HTTP port: /metrics, /healthz, /api/runs[/{run_id}], /api/config and the live page at /."""

from __future__ import annotations

import io
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import unquote, urlsplit

from exporter.contract import to_json
from exporter.pipeline import Pipeline
from exporter.replay import JsonRuns
from exporter.sinks.metrics import Exposition
from exporter.webconfig import WebConfig

__all__ = ["Server"]

_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/render.js": ("render.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}


class Server:
    """Serves in a daemon thread; `address` is the bound (host, port) (port 0 picks a free one)."""

    def __init__(
        self,
        host: str,
        port: int,
        pipeline: Pipeline,
        metrics: Exposition,
        jaeger_url: str | None = None,
        web: WebConfig | None = None,
    ) -> None:
        web = web or WebConfig()
        attrs = {"pipeline": pipeline, "metrics": metrics, "jaeger_url": jaeger_url, "web": web}
        handler = type("Handler", (_Handler,), attrs)
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        if web.tls is not None:
            # The handshake happens in the request's thread, not in accept(): a slow client can't stall the rest.
            self._httpd.socket = web.tls.wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="http", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    pipeline: Pipeline
    metrics: Exposition
    jaeger_url: str | None
    web: WebConfig
    server_version = "luigi-exporter"

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        # /healthz stays open, as probes can't authenticate; it tells nothing.
        if path != "/healthz" and not self.web.authorized(self.headers.get("Authorization")):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="luigi-exporter"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path == "/metrics":
            self._send(200, *self.metrics.render(self.headers.get("Accept", "")))
        elif path == "/healthz":
            self._send(200, b"ok\n", "text/plain; charset=utf-8")
        elif path == "/api/runs":  # replay --json's document, as the model holds it now
            p, body = self.pipeline, io.StringIO()
            document = JsonRuns(body)
            for text in p.documents_json(time.time()):
                document.write_json(text)
            document.end(p.lines_read, p.lines_unparsed)
            self._send(200, body.getvalue().encode(), "application/json")
        elif path.startswith("/api/runs/"):
            run_id = unquote(path.removeprefix("/api/runs/"))
            run = self.pipeline.document(run_id, time.time())
            if run is None:
                self._send(404, b'{"error": "no such run"}\n', "application/json")
            else:
                self._json(run)
        elif path == "/api/config":
            self._json({"jaeger_url": self.jaeger_url})
        elif path in _STATIC:
            name, content_type = _STATIC[path]
            self._send(200, resources.files("exporter.web").joinpath(name).read_bytes(), content_type)
        else:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")

    def _json(self, document: Any) -> None:
        self._send(200, to_json(document).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would drown the sidecar's own log."""
