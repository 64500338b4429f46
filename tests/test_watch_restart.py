"""`watch` killed with SIGKILL and restarted: nothing lost, nothing doubled, finished runs past retention out of
memory and in the store."""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import ENDED, replay, run_demo, start_demo
from sidecar import Sidecar, assert_store_equals_replay, doubled_events
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


def _append(sidecar: Sidecar, log: Path, data: bytes) -> dict[str, Any]:
    """Append a build to the followed log and wait until the sidecar has read all of it and committed it (runs
    leave the model after the batch's commit, a moment after its lines are read)."""
    with open(log, "ab") as f:
        f.write(data)
    total = log.read_bytes().count(b"\n")
    return sidecar.wait_for(lambda d: d["lines_read"] == total and len(d["runs"]) <= 2, timeout=30)


def _runs_on_metrics(sidecar: Sidecar) -> set[str]:
    return set(re.findall(r'^luigi_run_info\{[^}]*run_id="([^"]+)"', sidecar.get("/metrics").decode(), re.MULTILINE))


def _stored(state: Path) -> dict[str, dict[str, Any]]:
    with contextlib.closing(_store(state)) as db:
        return {row[0]: json.loads(row[1]) for row in db.execute("SELECT run_id, document FROM runs")}


def test_watch_keeps_the_newest_finished_runs_and_the_store_keeps_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--retain-runs 2: five builds appended one after the other leave the newest two on /api/runs and /metrics (the
    model), all five in the store, and a run gone from memory still answers /api/runs/{id} from the store; after a
    SIGKILL, catch-up comes back to the same two, and a sixth build is numbered on."""
    builds = []
    for i in range(6):
        run_dir = tmp_path / "builds" / f"b{i}"
        assert run_demo(run_dir, "--workers", "2", "--speed", "0", "--ms").returncode == 0
        builds.append((run_dir / "log.txt").read_bytes())
    log, state = tmp_path / "runs" / "PlanExe_many" / "log.txt", tmp_path / "state"
    log.parent.mkdir(parents=True)
    log.touch()
    watch_args = (
        "watch",
        str(tmp_path / "runs" / "*" / "log.txt"),
        "--state-dir",
        str(state),
        "--retain-runs",
        "2",
        "--run-metrics",
        "2",
    )
    sidecar = Sidecar(*watch_args, log=tmp_path / "sidecar.log")
    try:
        for build in builds[:5]:
            doc = _append(sidecar, log, build)
        assert [r["run_id"] for r in doc["runs"]] == ["PlanExe_many#4", "PlanExe_many#5"]
        assert _runs_on_metrics(sidecar) == {"PlanExe_many#4", "PlanExe_many#5"}
        (first, *_) = replayed = replay(capsys, log)["runs"]
        assert _stored(state) == {r["run_id"]: r for r in replayed}
        evicted = json.loads(sidecar.get("/api/runs/PlanExe_many"))
        assert evicted.pop("eta_s") is None and len(evicted.pop("trace_id")) == 32
        assert evicted == first

        sidecar.kill()
        sidecar = Sidecar(*watch_args, log=tmp_path / "sidecar.log")
        doc = sidecar.wait_for(lambda d: len(d["runs"]) == 2, timeout=30)
        assert [r["run_id"] for r in doc["runs"]] == ["PlanExe_many#4", "PlanExe_many#5"]
        doc = _append(sidecar, log, builds[5])
        assert [r["run_id"] for r in doc["runs"]] == ["PlanExe_many#5", "PlanExe_many#6"]
        assert _runs_on_metrics(sidecar) == {"PlanExe_many#5", "PlanExe_many#6"}
        assert sidecar.stop() == 0
    finally:
        sidecar.close()
    replayed = replay(capsys, log)["runs"]
    assert len(replayed) == 6
    assert _stored(state) == {r["run_id"]: r for r in replayed}
    assert doubled_events(state / "luigi-exporter.sqlite") == 0


def test_watch_retain_for_keeps_the_runs_that_ended_within_the_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--retain-for 10m: a build whose log says it ended a year ago leaves the model (and /metrics) at the commit that
    reads it; one that just ended stays; the store keeps both."""
    builds = []
    for i in range(2):
        run_dir = tmp_path / "builds" / f"b{i}"
        assert run_demo(run_dir, "--workers", "2", "--speed", "0", "--ms").returncode == 0
        builds.append((run_dir / "log.txt").read_bytes())
    year_ago = re.sub(rb"(?m)^(\d{4})-", lambda m: b"%d-" % (int(m[1]) - 1), builds[0])  # the timestamps only
    log, state = tmp_path / "runs" / "PlanExe_many" / "log.txt", tmp_path / "state"
    log.parent.mkdir(parents=True)
    log.touch()
    watched = str(tmp_path / "runs" / "*" / "log.txt")
    sidecar = Sidecar(
        "watch",
        watched,
        "--state-dir",
        str(state),
        "--retain-for",
        "10m",
        "--run-metrics",
        "20",
        log=tmp_path / "s.log",
    )
    try:
        with open(log, "ab") as f:
            f.write(year_ago + builds[1])
        total = log.read_bytes().count(b"\n")
        sidecar.wait_for(lambda d: d["lines_read"] == total and len(d["runs"]) == 1, timeout=30)
        assert [r["run_id"] for r in json.loads(sidecar.get("/api/runs"))["runs"]] == ["PlanExe_many#2"]
        assert _runs_on_metrics(sidecar) == {"PlanExe_many#2"}
        assert sidecar.stop() == 0
    finally:
        sidecar.close()
    replayed = replay(capsys, log)["runs"]
    assert [r["status"] for r in replayed] == ["succeeded", "succeeded"]
    assert _stored(state) == {r["run_id"]: r for r in replayed}
