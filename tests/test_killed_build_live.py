"""A build killed while `watch` follows it: concluded `incomplete` on /api/runs and /metrics without a restart, once
its worker's process is gone; a build silent for longer than `--stale-after` likewise."""

from __future__ import annotations

import re
import time
from pathlib import Path

from conftest import start_demo
from sidecar import Sidecar


def _status_series(metrics: str, run_id: str) -> set[str]:
    """The statuses /metrics gives the run (luigi_run_info's label)."""
    found = set()
    for labels in re.findall(r"^luigi_run_info\{([^}]*)\} 1\.0$", metrics, re.M):
        if f'run_id="{run_id}"' in labels:
            found.update(re.findall(r'status="(\w+)"', labels))
    return found


def test_killed_build_becomes_incomplete_live(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "PlanExe_killed"
    run_dir.mkdir(parents=True)
    args = ("--state-dir", "none", "--run-metrics", "1")  # luigi_run_info: a per-run series
    sidecar = Sidecar("watch", str(tmp_path / "runs" / "*" / "log.txt"), *args, log=tmp_path / "err")
    try:
        build = start_demo(run_dir, "--speed", "0.3", "--workers", "2", "--ms", "--kill-after", "6")
        sidecar.wait_for(lambda d: bool(d["runs"]) and d["runs"][0]["status"] == "running", timeout=60)
        build.wait(timeout=120)
        assert build.returncode < 0  # SIGKILL: no summary written
        killed = time.monotonic()
        doc = sidecar.wait_for(lambda d: d["runs"][0]["status"] == "incomplete", timeout=15)
        concluded = time.monotonic() - killed
        (run,) = doc["runs"]
        assert run["tasks_done"] >= 6 and run["summary"] is None
        assert _status_series(sidecar.get("/metrics").decode(), run["run_id"]) == {"incomplete"}
        assert sidecar.stop() == 0
    finally:
        sidecar.close()
    assert concluded < 15


def test_silent_build_becomes_incomplete_after_stale_after(tmp_path: Path, failing_demo_log: bytes) -> None:
    """A build cut off mid-log on another host (its process can't be looked for): incomplete once silent for
    `--stale-after`, counted from its last line's time."""
    logs = tmp_path / "logs"
    logs.mkdir()
    half = failing_demo_log.index(b"\n", len(failing_demo_log) // 2) + 1
    lines = failing_demo_log[:half].replace(b"host=", b"host=elsewhere-")
    (logs / "luigi.log").write_bytes(lines)
    sidecar = Sidecar("watch", str(logs / "*.log"), "--state-dir", "none", "--stale-after", "1s", log=tmp_path / "err")
    try:
        doc = sidecar.wait_for(lambda d: bool(d["runs"]) and d["runs"][0]["status"] == "incomplete", timeout=15)
        assert doc["runs"][0]["tasks_done"] > 0
        assert sidecar.stop() == 0
    finally:
        sidecar.close()
