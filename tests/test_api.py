"""The public Python API (`luigi_exporter`): `read` gives replay's runs, a follower hands on every change of a real
build as it is written, and the example web backend shows one plan's progress from it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, replay, run_demo, start_demo
from sidecar import free_port

import luigi_exporter
from exporter.demo import truth


@pytest.fixture(scope="module")
def ended(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished real demo build with a failing task: RUN_DIR/log.txt."""
    run_dir = tmp_path_factory.mktemp("api") / "PlanExe_api"
    run_demo(run_dir, "--workers", "2", "--speed", "0", "--fail", "SWOTAnalysisTask")
    return run_dir


def test_read_gives_replays_runs_with_their_headline(ended: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = luigi_exporter.read(str(ended / "log.txt"))
    assert runs == replay(capsys, ended / "log.txt")["runs"]
    (run,) = runs
    assert (run["run_id"], run["status"], run["headline"]) == ("PlanExe_api", "failed", "37 of 61 complete")
    document = luigi_exporter.read_document(str(ended / "*.txt"))
    assert document["runs"] == runs and document["lines_read"] > 0


def test_read_of_a_missing_file_raises_one_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError, match=r"no-such\.log"):
        luigi_exporter.read(str(tmp_path / "no-such.log"))


def test_a_follower_hands_on_every_change_of_a_live_build(tmp_path: Path) -> None:
    """Followed from before its directory exists; every task Luigi's handlers saw succeed is seen done on its way
    (with its headline naming the tasks then running), and the last document equals `read` of the whole log."""
    run_dir = tmp_path / "runs" / "PlanExe_live"
    seen: list[dict[str, Any]] = []
    with luigi_exporter.follow(str(tmp_path / "runs" / "*" / "log.txt")) as follower:
        build = start_demo(run_dir, "--workers", "2", "--speed", "0.01")
        deadline = time.monotonic() + 120
        while not (seen and seen[-1]["status"] == "succeeded"):
            assert time.monotonic() < deadline, "the build did not end in time"
            seen += follower.changes(timeout=0.25)
        build.wait(timeout=30)
        assert follower.runs() == [seen[-1]]
    assert seen[-1] == luigi_exporter.read(str(run_dir / "log.txt"))[0]
    done = {t["task_id"] for run in seen for t in run["tasks"] if t["state"] == "done"}
    succeeded = {e["task_id"] for e in truth.load(str(run_dir / "truth.jsonl")) if e["event"] == "SUCCESS"}
    assert done == succeeded and len(done) == 61
    running = [r["headline"] for r in seen if r["status"] == "running" and r["tasks_running"]]
    assert running and all(h.startswith("Task ") and " of 61: " in h for h in running)


def test_the_example_backend_shows_one_plans_progress(ended: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "plan_progress.py"), str(ended), "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().decode().strip() == f"serving http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 30
        while (progress := _get(f"http://127.0.0.1:{port}/progress")) == "null":
            assert time.monotonic() < deadline, "the example never read the plan"
            time.sleep(0.1)
        assert json.loads(progress)["status"] == "failed"
        page = _get(f"http://127.0.0.1:{port}/")
        assert '<h1 id="headline">37 of 61 complete</h1>' in page
        assert '<p id="done">37 of 61 tasks, failed</p>' in page
    finally:
        server.kill()
        server.wait(timeout=10)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()
