"""Replay of real builds of the 61-task demo pipeline against the truth Luigi's own event handlers recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import replay, run_demo
from truth import assert_run_matches, load

FAST = ("--speed", "0.01")


@pytest.mark.parametrize(
    ("args", "resolution"),
    [
        (("--workers", "1"), 1.0),
        (("--workers", "4", "--ms"), 0.001),
        (("--workers", "4", "--fail", "SWOTAnalysisTask"), 1.0),
        (("--workers", "4", "--ms", "--fail", "SWOTAnalysisTask", "--dual-handlers"), 0.001),
    ],
    ids=["1-worker", "4-workers-ms", "4-workers-failure", "failure-dual-handlers-ms"],
)
def test_demo_build_replays_exactly(tmp_path: Path, capsys: pytest.CaptureFixture[str], args, resolution) -> None:
    run_dir = tmp_path / "PlanExe_20261125_120000"
    proc = run_demo(run_dir, *FAST, *args)
    assert proc.returncode == (1 if "--fail" in args else 0), proc.stderr[-2000:]
    doc = replay(capsys, run_dir / "log.txt")
    (run,) = doc["runs"]
    assert run["run_id"] == "PlanExe_20261125_120000"
    assert run["pipeline"] == "FullPlanPipeline"
    assert run["tasks_total"] == 61
    assert_run_matches(run, load(str(run_dir / "truth.jsonl")), resolution)
    if "--fail" in args:
        assert run["status"] == "failed"
        (failed,) = [t for t in run["tasks"] if t["state"] == "failed"]
        assert failed["family"] == "SWOTAnalysisTask"
        assert "Failed to run SWOTAnalysisTask with any of the LLMs" in failed["error"]
        assert failed["error"].startswith("Traceback (most recent call last):")
        assert run["summary"]["failed"] == 1
    else:
        assert run["status"] == "succeeded"
        assert run["progress_ratio"] == 1.0


def test_resumed_build_is_a_second_run_with_its_own_total(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "PlanExe_resume"
    first = run_demo(run_dir, *FAST, "--fail", "SWOTAnalysisTask", "--truth", str(tmp_path / "first.jsonl"))
    assert first.returncode == 1
    second = run_demo(run_dir, *FAST, "--task", "ReviewPlanTask", "--truth", str(tmp_path / "second.jsonl"))
    assert second.returncode == 0, second.stderr[-2000:]
    doc = replay(capsys, run_dir / "log.txt")
    assert [r["run_id"] for r in doc["runs"]] == ["PlanExe_resume", "PlanExe_resume#2"]
    assert_run_matches(doc["runs"][0], load(str(tmp_path / "first.jsonl")), 1.0)
    resumed = doc["runs"][1]
    assert_run_matches(resumed, load(str(tmp_path / "second.jsonl")), 1.0)
    assert resumed["tasks_total"] < 61
    assert resumed["tasks_already_done"] > 0
    assert resumed["pipeline"] == "ReviewPlanTask"


def test_retried_task_has_one_attempt_per_try(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "PlanExe_retry"
    proc = run_demo(run_dir, *FAST, "--workers", "2", "--ms", "--flaky", "SWOTAnalysisTask", "--retry-count", "3")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run,) = replay(capsys, run_dir / "log.txt")["runs"]
    assert_run_matches(run, load(str(run_dir / "truth.jsonl")), 0.001)
    (swot,) = [t for t in run["tasks"] if t["family"] == "SWOTAnalysisTask"]
    assert [a["result"] for a in swot["attempt_history"]] == ["failure", "success"]
    assert swot["state"] == "done"
    assert swot["error"] is None
    assert run["status"] == "succeeded"


def test_killed_build_is_incomplete_with_its_tasks_still_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "PlanExe_killed"
    proc = run_demo(run_dir, "--speed", "0.05", "--workers", "4", "--ms", "--kill-after", "12")
    assert proc.returncode < 0 or proc.returncode == 137
    events = load(str(run_dir / "truth.jsonl"))
    assert not any(e["event"] == "SUMMARY" for e in events)
    succeeded = {e["task_id"] for e in events if e["event"] == "SUCCESS"}
    started = {e["task_id"] for e in events if e["event"] == "START"}
    (run,) = replay(capsys, run_dir / "log.txt")["runs"]
    assert run["status"] == "incomplete"
    assert run["summary"] is None
    assert run["tasks_total"] == 61
    states = {t["task_id"]: t["state"] for t in run["tasks"]}
    assert {tid for tid, s in states.items() if s == "done"} == succeeded
    assert {tid for tid, s in states.items() if s == "running"} == started - succeeded
    assert set(states.values()) <= {"done", "running", "pending"}
