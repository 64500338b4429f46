"""SIGKILL at random moments, again and again, during one real 4-worker build: nothing lost, nothing doubled."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import pytest
from conftest import ENDED, replay, start_demo
from sidecar import Sidecar, assert_store_equals_replay, doubled_events

DB = "luigi-exporter.sqlite"
KILLS = 10


def test_sigkill_again_and_again_equals_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Up to 10 SIGKILLs at random delays (0 to 1 s after the sidecar starts serving: during its catch-up, its reads,
    its commits) while a 4-worker demo build runs at speed 0.2, restarting `watch` on the same state dir each time.
    In the end the store holds every task event exactly once and the live runs equal the replay."""
    seed = time.time_ns()
    rnd = random.Random(seed)
    runs, state = tmp_path / "runs", tmp_path / "state"
    runs.mkdir()
    run_dir = runs / "PlanExe_kills"
    watch = ("watch", str(runs / "*" / "log.txt"), "--state-dir", str(state))
    err = tmp_path / "sidecar.log"
    build = start_demo(run_dir, "--workers", "4", "--speed", "0.2", "--ms", "--fail", "SWOTAnalysisTask")
    kills = 0
    sidecar: Sidecar | None = None
    try:
        while kills < KILLS and build.poll() is None:
            sidecar = Sidecar(*watch, log=err)
            time.sleep(rnd.uniform(0.0, 1.0))
            sidecar.kill()
            kills += 1
            assert doubled_events(state / DB) == 0, f"an event doubled after kill {kills} (seed {seed})"
        assert build.wait(timeout=120) == 1
        sidecar = Sidecar(*watch, log=err)
        doc = sidecar.wait_for(lambda d: bool(d["runs"]) and d["runs"][0]["status"] in ENDED, timeout=30)
        assert sidecar.stop() == 0
    finally:
        build.kill()
        if sidecar is not None:
            sidecar.close()
    assert kills >= 8, f"only {kills} kills before the build ended"

    (live,) = doc["runs"]
    (replayed,) = replay(capsys, run_dir / "log.txt")["runs"]
    assert live.pop("eta_s") is None and len(live.pop("trace_id")) == 32
    assert live == replayed, f"seed {seed}"

    attempts = sum(t["attempts"] for t in replayed["tasks"])
    with capsys.disabled():
        print(f"\n{kills} SIGKILLs survived (seed {seed}), store checked against replay: {attempts} attempts")
    assert_store_equals_replay(state / DB, replayed, run_dir / "log.txt")
    assert "Traceback" not in err.read_text()


def _vm_hwm_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    assert m is not None
    return int(m[1]) / 1024


def test_restart_on_a_long_log_keeps_memory_bounded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """After a restart the model is rebuilt from the log's stored prefix in batches, not from all its lines at once:
    on a 12 MB log of 120k lines the restarted sidecar peaks under 50 MB (holding every line took 67 MB, about
    1.8 times the log's size in general)."""
    logs, state = tmp_path / "logs", tmp_path / "state"
    logs.mkdir()
    n = 120_000
    (logs / "app.log").write_bytes((b"2024-01-01 00:00:00,000 - app - INFO - " + b"x" * 60 + b"\n") * n)
    watch = ("watch", str(logs / "*.log"), "--state-dir", str(state))
    err = tmp_path / "sidecar.log"
    sidecar = Sidecar(*watch, log=err)
    try:
        sidecar.wait_for(lambda d: d["lines_read"] == n, timeout=60)
        assert sidecar.stop() == 0
        sidecar = Sidecar(*watch, log=err)
        sidecar.wait_for(lambda d: d["lines_read"] == n, timeout=60)
        peak = _vm_hwm_mb(sidecar.proc.pid)
        assert sidecar.stop() == 0
    finally:
        sidecar.close()
    with capsys.disabled():
        print(f"\nrestart on a 12 MB log: peak RSS {peak:.0f} MB")
    assert peak < 50, f"peak RSS {peak:.0f} MB"
