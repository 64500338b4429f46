"""One real build of 2,000 tasks of one family: replayed exactly (every task's state, attempt, pid and times)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import replay, run_pipeline
from truth import assert_run_matches, load


def test_two_thousand_task_build_replays_exactly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log, truth, code = run_pipeline("wide", tmp_path, timeout=300)
    assert code == 1  # leaf 7 fails on purpose
    (run,) = replay(capsys, log)["runs"]
    assert run["status"] == "failed" and run["tasks_total"] == 2001
    assert_run_matches(run, load(str(truth)), 0.001)
