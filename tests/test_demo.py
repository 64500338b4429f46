"""The bundled demo really runs PlanExe's 61-task graph through Luigi, and its truth file agrees with the log."""

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

from exporter.demo import graph, truth

REPO = Path(__file__).resolve().parents[1]


def run_demo(run_dir: Path, *options: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "exporter.demo", "--run-dir", str(run_dir), "--speed", "0.01", "--quiet"]
    command += ["--truth", str(run_dir / "truth.jsonl"), *options]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)


def events(run_dir: Path, event: str) -> list[dict]:
    return [e for e in truth.load(str(run_dir / "truth.jsonl")) if e["event"] == event]


def running_lines(log: str, family: str) -> list[str]:
    return re.findall(rf" running   {family}\(", log)


def test_graph_is_planexes() -> None:
    assert len(graph.TASKS) == 61
    root_deps = graph.DEPENDENCIES[graph.ROOT]
    assert len(root_deps) == 60 and set(root_deps) == set(graph.TASKS) - {graph.ROOT}
    assert graph.DEPENDENCIES["SWOTAnalysisTask"][:3] == (
        "SetupTask",
        "StrategicDecisionsMarkdownTask",
        "ScenariosMarkdownTask",
    )
    for name, cls in graph.TASKS.items():
        assert getattr(graph, name) is cls
        assert cls.get_task_family() == name
    task = graph.PotentialLeversTask(run_id_dir="/run/x")
    assert repr(task) == (
        "PotentialLeversTask(run_id_dir=/run/x, speedvsdetail=ALL_DETAILS_BUT_SLOW, "
        'llm_models=["gemini-2.0-flash", "gpt-4.1-nano-2025-04-14"])'
    )


def test_clean_build(tmp_path: Path) -> None:
    result = run_demo(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    log = (tmp_path / "log.txt").read_text()
    assert "Scheduled 61 tasks of which:\n* 61 ran successfully:" in log
    assert "This progress looks :) because there were no failed tasks or missing dependencies" in log
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d - root - INFO - ", log)
    assert " - httpx - INFO - HTTP Request: POST " in log
    successes = events(tmp_path, "SUCCESS")
    assert sorted(e["family"] for e in successes) == sorted(graph.TASKS)
    assert len({e["pid"] for e in successes}) > 1, "4 workers run tasks in forked processes"


def test_failure_then_resume(tmp_path: Path) -> None:
    failed = run_demo(tmp_path, "--fail", "SWOTAnalysisTask")
    assert failed.returncode == 1
    log = (tmp_path / "log.txt").read_text()
    assert "Scheduled 61 tasks of which:" in log
    assert "had failed dependencies" in log
    (failure,) = events(tmp_path, "FAILURE")
    assert failure["family"] == "SWOTAnalysisTask"
    assert failure["error"].startswith("Failed to run SWOTAnalysisTask with any of the LLMs in the list: (")
    done_before = len(events(tmp_path, "SUCCESS"))
    assert 0 < done_before < 61

    resumed = run_demo(tmp_path)
    assert resumed.returncode == 0
    summary = (tmp_path / "log.txt").read_text()[len(log) :]
    assert f"* {done_before} complete ones were encountered:" in summary
    assert f"* {61 - done_before} ran successfully:" in summary
    assert len(events(tmp_path, "DEPENDENCY_PRESENT")) == done_before
    assert len(events(tmp_path, "SUCCESS")) == 61


def test_flaky_task_is_retried(tmp_path: Path) -> None:
    result = run_demo(tmp_path, "--flaky", "SWOTAnalysisTask", "--retry-count", "2")
    assert result.returncode == 0
    log = (tmp_path / "log.txt").read_text()
    assert len(running_lines(log, "SWOTAnalysisTask")) == 2
    assert "* 61 ran successfully:" in log
    assert "there were failed tasks but they all succeeded in a retry" in log
    assert [e["family"] for e in events(tmp_path, "FAILURE")] == ["SWOTAnalysisTask"]


def test_failing_task_is_disabled_after_retry_count(tmp_path: Path) -> None:
    result = run_demo(tmp_path, "--fail", "ReportTask", "--retry-count", "3")
    assert result.returncode == 1
    log = (tmp_path / "log.txt").read_text()
    assert len(running_lines(log, "ReportTask")) == 3
    assert "task num failures limit(3) is exceeded" in log
    assert len(events(tmp_path, "FAILURE")) == 3


def test_kill_after_leaves_no_summary(tmp_path: Path) -> None:
    result = run_demo(tmp_path, "--kill-after", "10")
    assert result.returncode == -signal.SIGKILL
    log = (tmp_path / "log.txt").read_text()
    assert "Execution Summary" not in log
    assert 10 <= len(events(tmp_path, "SUCCESS")) < 61


def test_dual_handlers_echo_luigi_lines(tmp_path: Path) -> None:
    result = run_demo(tmp_path, "--dual-handlers", "--ms", "--task", "PlanTypeTask")
    assert result.returncode == 0
    log = (tmp_path / "log.txt").read_text()
    assert "\nINFO: Done scheduling tasks\n" in log
    assert re.search(r"\n\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - luigi-interface - INFO - Done scheduling tasks\n", log)
    assert "INFO: Done scheduling tasks" in result.stderr, "Luigi's own console handler is active"
    assert "Scheduled 3 tasks of which:" in log


def test_durations_depend_on_seed_only(tmp_path: Path) -> None:
    def seconds(name: str, *options: str) -> dict[str, float]:
        run_dir = tmp_path / name
        assert run_demo(run_dir, "--task", "PlanTypeTask", *options).returncode == 0
        return {p.name: json.loads(p.read_text())["seconds"] for p in run_dir.glob("0*.json")}

    first = seconds("a", "--seed", "7", "--workers", "1")
    assert sorted(first) == ["002-setup.json", "004-identify_purpose.json", "005-plan_type.json"]
    assert seconds("b", "--seed", "7", "--workers", "3") == first
    assert seconds("c", "--seed", "8") != first
