"""The sidecar's one HTTP port: /metrics, /healthz, /api/runs[/{run_id}[/events]], /api/config, and the live page:
the run list at / and a page per run at /runs/{run_id}.

Anyone who can reach the port may be hostile, so it holds: a connection silent for `idle_timeout` seconds is closed,
at most `max_connections` are served at once (one more is answered 503 and closed: a scrape is retried, a server that
ran out of threads or descriptors is not), HEAD is answered for probes, and a request of another HTTP version gets
505 with a status line.
"""

from __future__ import annotations

import io
import logging
import resource
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import unquote, urlsplit

from exporter.contract import to_json
from exporter.documents import Documents
from exporter.lobby import Lobby, Prefixed
from exporter.replay import JsonRuns
from exporter.sinks.changes import Changes
from exporter.sinks.metrics import Exposition
from exporter.webconfig import WebConfig

__all__ = ["Server"]

log = logging.getLogger("luigi_exporter")

_STATIC = {
    "/static/render.js": ("render.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}
_BUSY = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 18\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n\r\ntoo many requests\n"
)
_DATA = '<script type="application/json" id="data">null</script>'  # index.html's slot for the runs it shows


def _event_id(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class Server:
    """Bound when made, serving from `start` in daemon threads; `address` is the bound (host, port) (port 0: any
    free one)."""

    def __init__(
        self,
        host: str,
        port: int,
        documents: Documents,
        metrics: Exposition,
        jaeger_url: str | None,
        web: WebConfig | None,
        idle_timeout: float,
        max_connections: int,
        changes: Changes | None = None,
        cors_origin: str | None = None,
    ) -> None:
        web = web or WebConfig()
        attrs = {
            "documents": documents,
            "metrics": metrics,
            "jaeger_url": jaeger_url,
            "web": web,
            "changes": changes or Changes(),
            "cors_origin": cors_origin,
            "timeout": idle_timeout,  # StreamRequestHandler sets it on the socket: each read waits that long at most
        }
        handler = type("Handler", (_Handler,), attrs)
        _descriptors_for(max_connections)
        self._httpd = _HTTPServer((host, port), handler, max_connections, idle_timeout)
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
        """Serve: the accept loop's thread and the lobby's (each admitted request then gets a thread of its own)."""
        self._httpd.lobby.start()
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for a loop that was never started, forever
            self._httpd.shutdown()
        self._httpd.lobby.close()
        self._httpd.server_close()


def _descriptors_for(connections: int) -> None:
    """Raise the soft limit on open files to what the connections need (within the hard limit): beyond it accept()
    fails at once and forever, and the listening socket, always readable, spins the server's loop."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 256  # the store, the logs followed, the OTLP exporter's sockets
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(
            resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard)
        )


class _HTTPServer(ThreadingHTTPServer):
    """At most `max_connections` at once (one more is a 503); a plain one waits in the lobby, without a thread, until
    its request's head has come, then gets a thread of its own; no thread is joined or kept once it ended."""

    daemon_threads = True
    block_on_close = False
    # socketserver's backlog of 5 drops the SYNs of a burst of connections (a dashboard's panels, a few scrapers):
    # each then waits a second for its retry.
    request_queue_size = 1024

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        max_connections: int,
        head_timeout: float,
    ) -> None:
        self._slots = threading.BoundedSemaphore(max_connections)
        self.heads: dict[socket.socket, bytes] = {}  # what the lobby read of a connection, for its handler
        self.lobby = Lobby(head_timeout, self._admit, self._drop)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
        elif isinstance(request, ssl.SSLSocket):  # its bytes can't be read before the handshake, done in its thread
            self._admit(request, client_address, b"")
        else:
            self.lobby.enter(request, client_address)

    def _admit(self, request: socket.socket, client_address: Any, head: bytes) -> None:
        if head:
            self.heads[request] = head
        try:
            threading.Thread(target=self.process_request_thread, args=(request, client_address), daemon=True).start()
        except RuntimeError:  # no thread could be started
            self.heads.pop(request, None)
            self._drop(request)

    def _drop(self, request: socket.socket) -> None:
        self.shutdown_request(request)
        self._slots.release()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse(self, request: socket.socket) -> None:
        """503 without reading the request (a plain socket's send buffer takes it at once); over TLS, whose
        handshake would need a thread, the connection is closed."""
        if not isinstance(request, ssl.SSLSocket):
            try:
                request.setblocking(False)
                request.send(_BUSY)
            except OSError:
                pass
        self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that broke off, or a TLS handshake that failed, ends its connection alone and says nothing; any
        other error, one line (never a traceback per request)."""
        err = sys.exc_info()[1]
        if not isinstance(err, OSError):
            log.warning("http: %s answering %s: %s", type(err).__name__, client_address[0], err)


class _Handler(BaseHTTPRequestHandler):
    documents: Documents
    metrics: Exposition
    jaeger_url: str | None
    web: WebConfig
    changes: Changes
    cors_origin: str | None
    server_version = "luigi-exporter"
    # A request line without a version is answered as HTTP/1.0 (with a status line), never as HTTP/0.9: an error
    # found before the version is read (`GET / HTTP/9.9`: 505) would otherwise be sent without one.
    default_request_version = "HTTP/1.0"
    _head = False

    def setup(self) -> None:
        super().setup()
        head = self.server.heads.pop(self.connection, b"")  # type: ignore[attr-defined]
        if head:
            self.rfile = io.BufferedReader(Prefixed(head, socket.SocketIO(self.connection, "rb")))

    def do_HEAD(self) -> None:
        self._head = True
        self.do_GET()

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        # /healthz stays open, as probes can't authenticate; it tells nothing.
        if path != "/healthz" and not self.web.authorized(self.headers.get("Authorization")):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="luigi-exporter"')
            self.send_header("Content-Length", "0")
            self._end_headers()
            return
        if path == "/metrics":
            self._send(200, *self.metrics.render(self.headers.get("Accept", "")))
        elif path == "/healthz":
            self._send(200, b"ok\n", "text/plain; charset=utf-8")
        elif path == "/api/runs":  # replay --json's document, as the model holds it now
            self._send(200, self._runs_json(time.time()).encode(), "application/json")
        elif path.startswith("/api/runs/") and path.endswith("/events"):
            self._events(unquote(path.removeprefix("/api/runs/").removesuffix("/events")))
        elif path == "/":
            self._page(None, "")
        elif path.startswith("/runs/"):
            self._page(unquote(path.removeprefix("/runs/")), "../" * (path.count("/") - 1))
        elif path.startswith("/api/runs/"):
            run_id = unquote(path.removeprefix("/api/runs/"))
            run = self.documents.one(run_id, time.time())
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

    def _runs_json(self, now: float) -> str:
        d, body = self.documents, io.StringIO()
        document = JsonRuns(body)
        for text in d.as_json(now):
            document.write_json(text)
        document.end(d.lines_read, d.lines_unparsed)
        return body.getvalue()

    def _page(self, run_id: str | None, base: str) -> None:
        """The page with the runs it shows in it, drawn before its first paint: no empty shell, no wait."""
        now = time.time()
        if run_id is None:
            document = self._runs_json(now)
        else:
            run = self.documents.one(run_id, now)
            if run is None:
                self._send(404, b"no such run\n", "text/plain; charset=utf-8")
                return
            d = self.documents
            document = to_json({"runs": [run], "lines_read": d.lines_read, "lines_unparsed": d.lines_unparsed})
        head = to_json({"run_id": run_id, "now": now, "jaeger_url": self.jaeger_url})
        data = f'{head[:-1]},"document":{document.strip()}}}'
        page = resources.files("exporter.web").joinpath("index.html").read_text("utf-8")
        # In a <script> element only "</" can end it early: escaped, the JSON reads the same.
        page = page.replace(_DATA, _DATA.replace("null", data.replace("</", "<\\/")), 1)
        if base:
            page = page.replace("<head>", f'<head>\n  <base href="{base}">', 1)
        self._send(200, page.encode(), "text/html; charset=utf-8")

    def _events(self, run_id: str) -> None:
        """Server-Sent Events: the run's document (as /api/runs/{run_id}) at once, then again after each change,
        each with the id of the change it shows; a client back with `Last-Event-ID` gets the run only if it changed
        since. A comment every 15 s keeps proxies from closing a quiet stream. The stream holds its connection's
        slot (of --http.max-connections) while it is open; the idle timeout is for reads, and it only writes."""
        if self.documents.one(run_id, time.time()) is None:
            self._send(404, b'{"error": "no such run"}\n', "application/json")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self._end_headers()
        if self._head:
            return
        seen = _event_id(self.headers.get("Last-Event-ID"))
        latest: int | None = self.changes.latest(run_id)
        if seen is not None and latest is not None and latest <= seen:
            latest = None
        try:
            while True:
                if latest is None:
                    self.wfile.write(b": still here\n\n")
                else:
                    run = self.documents.one(run_id, time.time())
                    self.wfile.write(f"id: {latest}\ndata: {to_json(run)}\n\n".encode())
                    seen = latest
                self.wfile.flush()
                latest = self.changes.wait(run_id, seen if seen is not None else 0, timeout=15)
        except OSError:  # the client went away
            return

    def _json(self, document: Any) -> None:
        self._send(200, to_json(document).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self._end_headers()
        if not self._head:
            self.wfile.write(body)

    def _end_headers(self) -> None:
        for name, value in self.web.headers.items():
            self.send_header(name, value)
        if self.cors_origin is not None and self.path.startswith("/api/"):
            self.send_header("Access-Control-Allow-Origin", self.cors_origin)
            self.send_header("Vary", "Origin")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would drown the sidecar's own log."""
