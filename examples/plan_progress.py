"""An example web backend showing one plan's progress with the public API (`luigi_exporter`), as PlanExe could.

    python examples/plan_progress.py RUN_DIR [--listen 127.0.0.1:8000]

It follows RUN_DIR/log.txt, keeps the plan's latest build, and serves `/` (a page saying "Task 38 of 63:
SWOTAnalysisTask" that reloads itself) and `/progress` (that build's document as JSON). Standard library only,
besides luigi_exporter; one thread follows, the server's threads read what it keeps.
"""

from __future__ import annotations

import argparse
import html
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import luigi_exporter


class Plan:
    """The latest build of one plan's log, updated by a follower thread."""

    def __init__(self, run_dir: str) -> None:
        self.log = str(Path(run_dir) / "log.txt")
        self.latest: dict[str, Any] | None = None
        self._seen: dict[str, int] = {}  # run id -> the order its build began in (a retry is a later build)
        self._lock = threading.Lock()
        self._follower = luigi_exporter.follow(self.log)
        threading.Thread(target=self._follow, daemon=True, name="follow").start()

    def _follow(self) -> None:
        for run in self._follower:
            order = self._seen.setdefault(run["run_id"], len(self._seen))
            with self._lock:
                if order == len(self._seen) - 1:
                    self.latest = run

    def progress(self) -> dict[str, Any] | None:
        with self._lock:
            return self.latest


def handler(plan: Plan) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            run = plan.progress()
            if self.path == "/progress":
                self._send(json.dumps(run).encode(), "application/json")
            elif self.path == "/":
                text = "waiting for the plan to start" if run is None else run["headline"]
                done = "" if run is None else f"{run['tasks_completed']} of {run['tasks_total']} tasks, {run['status']}"
                page = (
                    '<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="2">'
                    f'<title>{html.escape(text)}</title><h1 id="headline">{html.escape(text)}</h1>'
                    f'<p id="done">{html.escape(done)}</p>'
                )
                self._send(page.encode(), "text/html; charset=utf-8")
            else:
                self.send_error(404)

        def _send(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--listen", default="127.0.0.1:8000")
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), handler(Plan(args.run_dir)))
    print(f"serving http://{host}:{server.server_address[1]}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
