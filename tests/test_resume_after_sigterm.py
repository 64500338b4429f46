"""A build stopped by SIGTERM, then resumed into the same log: the resumed build's scheduling lines are its own."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from conftest import replay, run_demo, start_demo
from truth import assert_run_matches, load


def test_build_resumed_after_sigterm_counts_what_luigi_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first build is SIGTERMed mid-run (no summary); the second resumes in the same run dir and log. Luigi's
    truth of the second (its summary's partition, every attempt) is what replay shows of the second run, including
    the task the first finished just before it died (`already done`, not the first run's `Informed` line)."""
    run_dir = tmp_path / "PlanExe_sigterm"
    first = start_demo(run_dir, "--workers", "2", "--speed", "0.3", "--ms", "--truth", str(tmp_path / "first.jsonl"))
    deadline = time.monotonic() + 60
    while sum(e["event"] == "SUCCESS" for e in _events(tmp_path / "first.jsonl")) < 5:
        assert time.monotonic() < deadline and first.poll() is None, "the first build ended early"
        time.sleep(0.02)
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=30)
    time.sleep(0.5)  # let any orphaned child write what it was writing
    second = run_demo(run_dir, "--workers", "2", "--speed", "0.01", "--ms", "--truth", str(tmp_path / "second.jsonl"))
    assert second.returncode == 0, second.stderr[-2000:]

    killed, resumed = replay(capsys, run_dir / "log.txt")["runs"]
    assert killed["status"] == "incomplete"
    succeeded = {e["task_id"] for e in _events(tmp_path / "first.jsonl") if e["event"] == "SUCCESS"}
    assert {t["task_id"] for t in killed["tasks"] if t["state"] == "done"} == succeeded
    truth = load(str(tmp_path / "second.jsonl"))
    assert resumed["status"] == "succeeded"
    assert_run_matches(resumed, truth, 0.001)
    assert resumed["tasks_already_done"] == len(succeeded) > 0


def _events(path: Path) -> list[dict]:
    return load(str(path)) if path.exists() else []
