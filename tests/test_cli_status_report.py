"""`status` and `report` on a real build: their figures are the replay contract's."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

from conftest import ROOT

CLI = [sys.executable, "-m", "exporter"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


class _Cells(HTMLParser):
    """The text of every table cell, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self._in = False

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in ("td", "th"):
            self._in = True
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._in = False

    def handle_data(self, data: str) -> None:
        if self._in:
            self.cells[-1] += data


def test_run_status_and_report_agree_with_replay(tmp_path: Path) -> None:
    state, run_dir = tmp_path / "state", tmp_path / "runs" / "PlanExe_cli"
    proc = _cli(
        "run",
        "--view",
        "--state-dir",
        str(state),
        "--listen",
        "127.0.0.1:0",
        "--run-id",
        "demo",
        "--output",
        str(tmp_path / "output.log"),
        "--report",
        str(tmp_path / "run-report.html"),
        "--",
        sys.executable,
        "-m",
        "exporter.demo",
        "--run-dir",
        str(run_dir),
        "--speed",
        "0.01",
        "--fail",
        "SWOTAnalysisTask",
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "report written to" in proc.stderr
    assert "Informed scheduler that task" in (tmp_path / "output.log").read_text()  # the command's output, kept
    (replayed,) = json.loads(_cli("replay", "--json", str(run_dir / "log.txt")).stdout)["runs"]

    status = _cli("status", "--state-dir", str(state))
    assert status.returncode == 0
    c = replayed
    first, failure = status.stdout.splitlines()
    assert first == (
        f"demo: {c['tasks_completed']} of {c['tasks_total']} complete | {c['tasks_done']}/61 done | "
        f"{c['tasks_failed']} failed | {c['tasks_upstream_failed']} upstream failed | run failed"
    )
    assert failure.strip().startswith("failed SWOTAnalysisTask: Exception: Failed to run SWOTAnalysisTask")

    for args in (("report", str(run_dir / "log.txt")), ("report", "demo", "--state-dir", str(state))):
        out = tmp_path / f"{args[1].replace('/', '_')}.html"
        assert _cli(*args, "-o", str(out)).returncode == 0
        parser = _Cells()
        parser.feed(out.read_text())
        task_rows = [
            parser.cells[i : i + 5]
            for i, cell in enumerate(parser.cells)
            if cell in {t["family"] for t in replayed["tasks"]}
        ]
        assert len(task_rows) == 61
        states = {row[0]: row[1] for row in task_rows}
        assert states == {t["family"]: t["state"] for t in replayed["tasks"]}


def test_report_of_an_unknown_run_is_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    proc = _cli("report", "nope", "--state-dir", str(state), "-o", str(tmp_path / "x.html"))
    assert proc.returncode == 78 and proc.stderr.count("\n") == 1 and "no store" in proc.stderr
