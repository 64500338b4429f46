"""A task's error is one thing on every output: a real demo build where Luigi retries SWOTAnalysisTask after its
first attempt fails (it then succeeds) and ReportTask fails both its attempts (then is disabled). The store's
`tasks` rows and `/api/runs` give each task the same error: none for the task that ended done, the latest failure's
for the one that ended failed; each attempt keeps its own error in both."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from conftest import run_demo
from sidecar import Sidecar

from exporter.demo import truth

FLAKY, FAILING = "SWOTAnalysisTask", "ReportTask"


def _stored(store: Path, run_id: str) -> tuple[dict[str, str | None], dict[tuple[str, int], str | None]]:
    """The committed `tasks.error` of each task, and the error of each failed attempt's event row."""
    db = sqlite3.connect(store)
    try:
        tasks = dict(db.execute("SELECT task_id, error FROM tasks WHERE run_id = ?", (run_id,)))
        failures = db.execute(
            "SELECT task_id, attempt, error FROM task_events WHERE run_id = ? AND event = 'failure'", (run_id,)
        )
        return tasks, {(task_id, attempt): error for task_id, attempt, error in failures}
    finally:
        db.close()


def _store_ended(store: Path, run_id: str) -> bool:
    if not store.exists():
        return False
    db = sqlite3.connect(store)
    try:
        row = db.execute("SELECT status FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    except sqlite3.OperationalError:  # the sidecar has not made its tables yet
        return False
    finally:
        db.close()
    return row is not None and row[0] == "failed"


def test_a_task_retried_by_luigi_has_the_same_error_in_the_store_and_the_api(tmp_path: Path) -> None:
    run_dir = tmp_path / "PlanExe_errors"
    build = run_demo(
        run_dir, "--speed", "0", "--workers", "2", "--flaky", FLAKY, "--fail", FAILING, "--retry-count", "2"
    )
    assert build.returncode == 1, build.stderr
    luigi_failures = [e for e in truth.load(str(run_dir / "truth.jsonl")) if e["event"] == "FAILURE"]
    assert [e["family"] for e in luigi_failures] == [FLAKY, FAILING, FAILING]

    state = tmp_path / "state"
    sidecar = Sidecar("watch", str(run_dir / "log.txt"), "--state-dir", str(state), log=tmp_path / "sidecar.err")
    try:
        (run,) = sidecar.wait_for(lambda doc: [r["status"] for r in doc["runs"]] == ["failed"])["runs"]
        deadline = time.monotonic() + 30
        while not _store_ended(state / "luigi-exporter.sqlite", run["run_id"]):
            assert time.monotonic() < deadline, "the run's rows were not committed"
            time.sleep(0.05)
        stored, stored_failures = _stored(state / "luigi-exporter.sqlite", run["run_id"])
    finally:
        sidecar.close()

    api = {task["task_id"]: task for task in run["tasks"]}
    assert stored == {task_id: task["error"] for task_id, task in api.items()}
    flaky = next(task for task in api.values() if task["family"] == FLAKY)
    failing = next(task for task in api.values() if task["family"] == FAILING)
    assert (flaky["state"], flaky["error"]) == ("done", None)
    assert [a["result"] for a in flaky["attempt_history"]] == ["failure", "success"]
    assert failing["state"] == "disabled" and [a["result"] for a in failing["attempt_history"]] == ["failure"] * 2
    assert failing["error"] == failing["attempt_history"][-1]["error"]
    # Every failed attempt keeps Luigi's exception, in the API and in its event row.
    for task, attempt, failure in ((flaky, 1, luigi_failures[0]), (failing, 1, luigi_failures[1])):
        error = task["attempt_history"][attempt - 1]["error"]
        assert error.strip().splitlines()[-1].endswith(failure["error"])
        assert stored_failures[task["task_id"], attempt] == error
    assert stored_failures[failing["task_id"], 2] == failing["error"]
    assert len(stored_failures) == 3
