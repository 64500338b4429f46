"""The tailer's trouble on /metrics, as mtail exports it: a real `watch` follows a real build's log through a
rotation (rename, new file) and a truncation (copytruncate), and counts each once."""

from __future__ import annotations

import re
import time
from pathlib import Path

from sidecar import Sidecar


def _counter(sidecar: Sidecar, name: str) -> float:
    (value,) = re.findall(rf"^{name} (\S+)$", sidecar.get("/metrics").decode(), re.MULTILINE)
    return float(value)


def _wait(sidecar: Sidecar, want: dict[str, float], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while (got := {name: _counter(sidecar, name) for name in want}) != want:
        assert time.monotonic() < deadline, got
        time.sleep(0.1)


def test_rotations_and_truncations_are_counted(tmp_path: Path, failing_demo_log: bytes) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "luigi.log"
    half = failing_demo_log.index(b"\n", len(failing_demo_log) // 2) + 1
    log.write_bytes(failing_demo_log[:half])
    sidecar = Sidecar("watch", str(log), "--state-dir", "none", log=tmp_path / "sidecar.log")
    rotations, truncations = "luigi_exporter_file_rotations_total", "luigi_exporter_file_truncations_total"
    try:
        sidecar.wait_for(lambda d: d["lines_read"] == failing_demo_log[:half].count(b"\n"))
        _wait(sidecar, {rotations: 0, truncations: 0})
        log.rename(logs / "luigi.log.1")  # logrotate's default: rename, then a new file
        log.write_bytes(failing_demo_log[half:])
        _wait(sidecar, {rotations: 1, truncations: 0})
        with log.open("r+b") as f:  # copytruncate: same file, cut to 0, written again
            f.truncate(0)
        log.write_bytes(failing_demo_log[:1000])
        _wait(sidecar, {rotations: 1, truncations: 1})
        assert sidecar.stop() == 0
    finally:
        sidecar.close()
