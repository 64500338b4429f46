"""`luigi-exporter replay` as a user runs it: a real process, its output and its exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, run_demo

CLI = [sys.executable, "-m", "exporter"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_missing_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = _cli("replay", str(tmp_path / "nope.log"))
    assert proc.returncode == 2
    assert proc.stderr == f"luigi-exporter: {tmp_path / 'nope.log'}: no such file\n"


def test_directory_is_refused_with_exit_2(tmp_path: Path) -> None:
    proc = _cli("replay", str(tmp_path))
    assert proc.returncode == 2 and "is a directory" in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_zone_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "x.log").write_text("")
    proc = _cli("replay", "--tz", "Mars/Olympus", str(tmp_path / "x.log"))
    assert proc.returncode == 64 and proc.stderr.count("\n") == 1 and "unknown time zone" in proc.stderr


def test_empty_file_has_no_run_and_exit_0(tmp_path: Path) -> None:
    (tmp_path / "empty.log").write_bytes(b"")
    proc = _cli("replay", "--json", str(tmp_path / "empty.log"))
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == {"runs": [], "lines_read": 0, "lines_unparsed": 0}


def test_glob_of_run_directories_names_runs_after_their_directory(tmp_path: Path) -> None:
    for name in ("PlanExe_a", "PlanExe_b"):
        assert run_demo(tmp_path / "runs" / name, "--speed", "0.01", "--task", "SetupTask").returncode == 0
    proc = _cli("replay", "--json", str(tmp_path / "runs" / "*" / "log.txt"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [r["run_id"] for r in doc["runs"]] == ["PlanExe_a", "PlanExe_b"]
    keys = {
        "run_id",
        "source",
        "pipeline",
        "status",
        "started_at",
        "ended_at",
        "tasks_total",
        "tasks_done",
        "tasks_already_done",
        "tasks_completed",
        "tasks_failed",
        "tasks_running",
        "tasks_pending",
        "tasks_upstream_failed",
        "progress_ratio",
        "summary",
        "retry_of",
        "retry",
        "headline",
        "tasks",
    }
    assert set(doc["runs"][0]) == keys
    assert set(doc["runs"][0]["tasks"][0]) == {
        "task_id",
        "family",
        "params",
        "state",
        "attempts",
        "started_at",
        "ended_at",
        "duration_s",
        "worker_pid",
        "error",
        "attempt_history",
        "batch_members",
    }
    assert doc["lines_read"] > 0


def test_human_summary_names_the_failure(tmp_path: Path) -> None:
    run_dir = tmp_path / "PlanExe_fail"
    assert run_demo(run_dir, "--speed", "0.01", "--fail", "SWOTAnalysisTask").returncode == 1
    proc = _cli("replay", str(run_dir / "log.txt"))
    assert proc.returncode == 0
    first, failure = proc.stdout.splitlines()
    assert first == (
        "PlanExe_fail: FullPlanPipeline failed, 37 of 61 complete (37 ran, 0 already done), 1 failed, "
        "23 upstream failed"
    )
    assert failure.startswith("    failed  SWOTAnalysisTask: Exception: Failed to run SWOTAnalysisTask")


def test_a_reader_that_leaves_early_is_no_error(tmp_path: Path) -> None:
    """`replay --json ... | head -c 100`: the pipe closes mid-document; no traceback, exit 141 (as SIGPIPE)."""
    run_dir = tmp_path / "PlanExe_pipe"
    run_demo(run_dir, "--workers", "2", "--speed", "0")
    log = (run_dir / "log.txt").read_bytes()
    big = tmp_path / "big.log"
    big.write_bytes(log * 40)
    proc = subprocess.Popen(
        [*CLI, "replay", "--json", str(big)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdout.read(100).startswith(b'{"runs":[')
    proc.stdout.close()
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 141 and b"Traceback" not in stderr, stderr.decode()[-2000:]


_READ_FAULTS = """
import resource, sys
from exporter.cli import tune_malloc
from exporter.lines import count_lines
from exporter.sources.files import read_blocks

if sys.argv[2] == "tuned":
    assert tune_malloc()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
lines = sum(count_lines(block.data) for block in read_blocks(sys.argv[1]))
print(lines, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def test_replay_reads_blocks_into_memory_it_freed(tmp_path: Path) -> None:
    """With glibc's defaults each megabyte block was read into pages given back after the block before: a page
    fault for every 4 KB read. Tuned as replay tunes it, only the heap's first growth faults."""
    log = tmp_path / "log"
    log.write_bytes(b"2026-12-02 05:00:00 - app - INFO - a line of the application's own, not Luigi's\n" * 400_000)
    faults = {}
    for mode in ("default", "tuned"):
        out = subprocess.run([sys.executable, "-c", _READ_FAULTS, str(log), mode], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        lines, faults[mode] = map(int, out.stdout.split())
        assert lines == 400_000
    pages = log.stat().st_size // 4096
    assert faults["default"] > pages // 2  # the waste this guards against, still there without the tuning
    assert faults["tuned"] * 4 < faults["default"], faults
