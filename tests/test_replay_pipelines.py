"""Small purpose-built Luigi pipelines, each a trap of its own, replayed against Luigi's own truth."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import replay, run_pipeline
from truth import assert_run_matches, load


@pytest.mark.parametrize("workers", ["1", "3"])
def test_awkward_params_resolve_to_luigis_task_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], workers: str
) -> None:
    log, truth, code = run_pipeline("awkward", tmp_path, "--workers", workers)
    assert code == 0
    (run,) = replay(capsys, log)["runs"]
    assert_run_matches(run, load(str(truth)), 0.001)
    texts = {t["params"].get("text") for t in run["tasks"] if t["family"] == "Awkward"}
    assert "k=v, z=1" in texts and r"C:\Users\me\Planned Work\file.txt" in texts and "ünïcödé ✓ 日本語" in texts
    # The private param is printed in the repr but is not part of the id: it must not become one of the params.
    assert all("token" not in t["params"] for t in run["tasks"])


def test_process_death_and_timeout_end_their_attempts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log, truth, code = run_pipeline("death", tmp_path, "--workers", "2")
    assert code == 1
    (run,) = replay(capsys, log)["runs"]
    assert_run_matches(run, load(str(truth)), 0.001)
    tasks = {t["family"]: t for t in run["tasks"]}
    assert tasks["Dies"]["attempt_history"][0]["result"] == "died"
    assert tasks["Dies"]["error"] == "Task Dies__99914b932b died unexpectedly with exit code 3"
    assert tasks["Hangs"]["attempt_history"][0]["result"] == "timeout"
    assert tasks["AfterDeath"]["state"] == "upstream_failed"


def test_missing_input_and_complete_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log, truth, code = run_pipeline("missing", tmp_path)
    assert code == 1
    (run,) = replay(capsys, log)["runs"]
    assert_run_matches(run, load(str(truth)), 0.001)
    tasks = {t["family"]: t for t in run["tasks"]}
    assert tasks["RawData"]["state"] == "missing_input"
    assert tasks["RawData"]["params"] == {"day": "2026-11-25"}
    assert tasks["Broken"]["state"] == "unknown"
    assert tasks["Broken"]["error"].splitlines()[-1] == "OSError: storage unreachable"
    assert tasks["Present"]["state"] == "done"
    assert tasks["Clean"]["state"] == "pending"  # Luigi: "had missing dependencies", never run
    assert run["status"] == "failed"
