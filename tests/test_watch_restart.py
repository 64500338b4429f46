"""`watch` on a real 4-worker demo build, killed with SIGKILL mid-run and restarted: nothing lost, nothing doubled."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from conftest import ENDED, replay, start_demo
from sidecar import Sidecar, assert_store_equals_replay
from truth import assert_run_matches, load


def _store(state: Path) -> sqlite3.Connection:
    return sqlite3.connect(state / "luigi-exporter.sqlite")


def test_watch_killed_and_restarted_mid_run_equals_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs, state = tmp_path / "runs", tmp_path / "state"
    runs.mkdir()
    run_dir = runs / "PlanExe_live"
    watch_args = ("watch", str(runs / "*" / "log.txt"), "--state-dir", str(state))
    sidecar = Sidecar(*watch_args, log=tmp_path / "sidecar.log")
    build = start_demo(
        run_dir,
        "--workers",
        "4",
        "--speed",
        "0.1",
        "--ms",
        "--fail",
        "SWOTAnalysisTask",
        "--truth",
        str(tmp_path / "truth.jsonl"),
    )
    try:
        # Kill the sidecar once it has seen part of the build, but well before the end.
        sidecar.wait_for(lambda d: bool(d["runs"]) and d["runs"][0]["tasks_done"] >= 8, timeout=60)
        sidecar.kill()
        mid_rows = _store(state).execute("SELECT count(*) FROM task_events").fetchone()[0]
        assert mid_rows > 0
        time.sleep(0.3)  # the build goes on while nobody watches
        sidecar = Sidecar(*watch_args, log=tmp_path / "sidecar.log")
        assert build.wait(timeout=120) == 1
        doc = sidecar.wait_for(lambda d: d["runs"][0]["status"] in ENDED, timeout=30)
        assert sidecar.stop() == 0
    finally:
        build.kill()
        sidecar.close()

    (live,) = doc["runs"]
    (replayed,) = replay(capsys, run_dir / "log.txt")["runs"]
    assert live.pop("eta_s") is None and len(live.pop("trace_id")) == 32  # live-only fields; the rest is replay's
    assert live == replayed
    assert_run_matches(live, load(str(tmp_path / "truth.jsonl")), 0.001)

    assert_store_equals_replay(state / "luigi-exporter.sqlite", replayed, run_dir / "log.txt")
    (status, total, failed) = _store(state).execute("SELECT status, tasks_total, tasks_failed FROM runs").fetchone()
    assert (status, total, failed) == ("failed", 61, 1)
