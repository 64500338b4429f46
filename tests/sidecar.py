"""A real `luigi-exporter watch` process for tests: started on a free loopback port, killed however a test likes."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent


class Sidecar:
    """`luigi-exporter ARGS... --listen 127.0.0.1:PORT` (0: any free port); `url` once it says where it serves."""

    def __init__(self, *args: str, log: Path, env: dict[str, str] | None = None, port: int = 0) -> None:
        self.log = log  # its stderr, appended to across restarts
        with open(log, "ab") as err:
            self._start = err.tell()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "exporter", *args, "--listen", f"127.0.0.1:{port}"],
                cwd=ROOT,
                env={**os.environ, **(env or {})},
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        self.url = self._wait_for_url()

    def _wait_for_url(self, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_bytes()[self._start :].decode(errors="replace")
            if m := re.search(r"serving (https?://[\d.]+:\d+)/", text):
                return m[1]
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"sidecar did not start (exit {self.proc.poll()}): {self.log.read_text()[-2000:]}")

    def get(self, path: str, accept: str | None = None) -> bytes:
        request = urllib.request.Request(self.url + path, headers={"Accept": accept} if accept else {})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read()

    def runs(self) -> dict[str, Any]:
        return json.loads(self.get("/api/runs"))

    def wait_for(self, condition: Callable[[dict[str, Any]], bool], timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            doc = self.runs()
            if condition(doc):
                return doc
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met in {timeout} s: {[r['status'] for r in doc['runs']]}")
            time.sleep(0.05)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM: the sidecar flushes and exits."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def free_port() -> int:
    """A port free right now on loopback (for a sidecar that must come back on the same port after a restart)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def live_run(doc: dict[str, Any]) -> dict[str, Any]:
    """The one run of an /api/runs document without the fields only a live sidecar has (ETA, trace id)."""
    (run,) = doc["runs"]
    return {k: v for k, v in run.items() if k not in ("eta_s", "trace_id")}


def doubled_events(db_path: Path) -> int:
    """task_events rows beyond one per natural key (run, task, attempt, event): 0 unless a row was written twice."""
    db = sqlite3.connect(db_path)
    try:
        rows, keys = db.execute(
            "SELECT count(*), (SELECT count(*) FROM (SELECT DISTINCT run_id, task_id, attempt, event FROM task_events))"
            " FROM task_events"
        ).fetchone()
    finally:
        db.close()
    return int(rows - keys)


def assert_store_equals_replay(
    db_path: Path, replayed: dict[str, Any], log: Path, ignore: tuple[str, ...] = ()
) -> None:
    """Exactly once: no event row doubled or missing, tasks and the run's document as replay has them (but for the
    `ignore`d keys), every byte of the log committed."""
    assert doubled_events(db_path) == 0, "an event row was written twice"
    attempts = [a for t in replayed["tasks"] for a in t["attempt_history"]]
    db = sqlite3.connect(db_path)
    try:
        started = db.execute("SELECT count(*) FROM task_events WHERE event = 'started'").fetchone()[0]
        assert started == len(attempts), "an attempt was lost or doubled"
        ended = db.execute(
            "SELECT count(*) FROM task_events WHERE event IN ('success', 'failure', 'died', 'timeout')"
        ).fetchone()[0]
        assert ended == sum(a["result"] in ("success", "failure", "died", "timeout") for a in attempts)
        scheduled = db.execute("SELECT count(*) FROM task_events WHERE event = 'scheduled'").fetchone()[0]
        assert scheduled == len(replayed["tasks"])
        stored = {row[0]: row[1:] for row in db.execute("SELECT task_id, state, attempts FROM tasks")}
        assert stored == {t["task_id"]: (t["state"], t["attempts"]) for t in replayed["tasks"]}
        (document,) = db.execute("SELECT document FROM runs").fetchone()
        assert {k: v for k, v in json.loads(document).items() if k not in ignore} == {
            k: v for k, v in replayed.items() if k not in ignore
        }
        (offset,) = db.execute("SELECT offset FROM sources").fetchone()
        assert offset == log.stat().st_size
    finally:
        db.close()
