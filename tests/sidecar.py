"""A real `luigi-exporter watch` process for tests: started on a free loopback port, killed however a test likes."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
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
