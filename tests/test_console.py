"""The terminal view of a real demo build: the plain lines and the rich view show the replay's own figures, for the
ended build and for the same build caught mid-way (its log read up to a moment when tasks were running)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import run_demo
from rich.console import Console

from exporter.book import Book
from exporter.cli import main
from exporter.contract import run_dict
from exporter.demo import truth
from exporter.model import TaskState
from exporter.parse import Parser
from exporter.report import error_line
from exporter.sinks.console import LiveView, plain_lines, render_runs
from exporter.sources.files import read_lines


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("console") / "PlanExe_console"
    proc = run_demo(run_dir, "--speed", "0.01", "--workers", "4", "--ms", "--fail", "SWOTAnalysisTask")
    assert proc.returncode == 1, proc.stderr[-2000:]
    return run_dir / "log.txt"


@pytest.fixture(scope="module")
def ended(log: Path) -> dict[str, Any]:
    """The build's run, from `replay --json`."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["replay", "--json", str(log)]) == 0
    (run,) = json.loads(out.getvalue())["runs"]
    return run


@pytest.fixture(scope="module")
def running(log: Path) -> dict[str, Any]:
    """The run as the live sidecar sees it once 10 tasks are done and others run: the log's lines up to then, through
    the same parser and model, without the end of input that makes a replayed run incomplete."""
    parser, book = Parser(), Book(str(log), "PlanExe_live")
    for line, _ in read_lines(str(log), str(log)):
        for event in parser.feed(line):
            book.apply(event)
        run = book.runs[0] if book.runs else None
        if run and run.count(TaskState.DONE) >= 10 and run.count(TaskState.RUNNING):
            return run_dict(run)
    raise AssertionError("the build never had 10 tasks done and one running")


def _render(runs: list[dict[str, Any]], now: float | None) -> str:
    console = Console(record=True, width=120, file=io.StringIO())
    console.print(render_runs(runs, now))
    return console.export_text()


def test_plain_lines_of_an_ended_build(ended: dict[str, Any]) -> None:
    completed, total = ended["tasks_completed"], ended["tasks_total"]
    (failed,) = [t for t in ended["tasks"] if t["state"] == "failed"]
    assert plain_lines([ended], None) == [
        f"PlanExe_console: {completed} of {total} complete | {completed}/{total} done | {ended['tasks_failed']} failed"
        f" | {ended['tasks_upstream_failed']} upstream failed | run failed",
        f"    failed SWOTAnalysisTask: {error_line(failed['error'])}",
    ]
    assert (completed, total, ended["tasks_failed"], ended["tasks_upstream_failed"]) == (37, 61, 1, 23)
    assert error_line(failed["error"]).startswith("Exception: Failed to run SWOTAnalysisTask with any of the LLMs")


def test_rich_view_of_an_ended_build(ended: dict[str, Any]) -> None:
    text = _render([ended], None)
    assert "PlanExe_console FullPlanPipeline failed" in text
    assert "37 of 61 complete" in text
    assert "37/61 done · 1 failed · 23 upstream failed" in text
    assert "✗ failed SWOTAnalysisTask: Exception: Failed to run SWOTAnalysisTask" in text


def test_running_build_names_its_running_tasks(running: dict[str, Any]) -> None:
    assert running["status"] == "running"
    completed, total = running["tasks_completed"], running["tasks_total"]
    tasks = sorted((t for t in running["tasks"] if t["state"] == "running"), key=lambda t: t["started_at"])
    families = ", ".join(dict.fromkeys(t["family"] for t in tasks))
    with_eta = [{**running, "eta_s": 130.4}]
    assert plain_lines(with_eta, None) == [
        f"PlanExe_live: Task {completed + 1} of {total}: {families} | {completed}/{total} done | ETA 2m10s"
    ]
    now = tasks[0]["started_at"] + 12.3
    text = _render(with_eta, now)
    assert f"Task {completed + 1} of {total}: {families}" in text
    assert f"{completed}/{total} done · ETA 2m10s" in text
    assert f"▶ {tasks[0]['family']}  12s" in text


def test_live_view_off_a_terminal_prints_one_line_per_transition(log: Path, ended: dict[str, Any]) -> None:
    """The build's log read line by line, the view updated after every line as the sidecar may: the run's first
    line, then exactly one line per task start, success and failure Luigi's own handlers saw, then its end."""
    out = io.StringIO()
    view = LiveView(Console(file=out, width=80))
    parser, book = Parser(), Book(str(log), "PlanExe_console")
    for line, _ in read_lines(str(log), str(log)):
        for event in parser.feed(line):
            book.apply(event)
        view.update([run_dict(run) for run in book.runs], None)
    book.finish()
    view.update([run_dict(run) for run in book.runs], None)
    view.close()
    lines = out.getvalue().splitlines()
    events = [e for e in truth.load(str(log.parent / "truth.jsonl")) if e["event"] in ("START", "SUCCESS", "FAILURE")]
    news = {"START": "running", "SUCCESS": "done", "FAILURE": "failed"}
    expected = sorted(f"PlanExe_console: {e['family']} {news[e['event']]}" for e in events)
    assert sorted(line.split(" | ", 1)[0] for line in lines[1:-2]) == expected
    assert lines[0] == "PlanExe_console: scheduling"
    assert lines[-2:] == plain_lines([ended], None)


def test_live_view_on_a_terminal_draws_the_rich_view(ended: dict[str, Any]) -> None:
    out = io.StringIO()
    view = LiveView(Console(file=out, width=120, force_terminal=True, color_system=None))
    view.update([ended], None)
    view.close()
    assert "37/61 done · 1 failed · 23 upstream failed" in out.getvalue()
