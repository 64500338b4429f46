"""Batch tasks (`batch_method`, `max_batch_size`): Luigi runs several members as one task; each member is credited
with its batch's attempt, and the figures are Luigi's own summary's."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import replay, run_pipeline
from truth import expected_states, load, starts_and_ends

RESULT = {"SUCCESS": "success", "FAILURE": "failure"}


@pytest.mark.parametrize("fail", [False, True], ids=["all-succeed", "one-batch-fails"])
def test_batch_attempt_is_every_members_attempt(tmp_path: Path, capsys: pytest.CaptureFixture[str], fail: bool) -> None:
    log, truth_path, code = run_pipeline("batch", tmp_path, *(["--fail"] if fail else []))
    assert code == (1 if fail else 0)
    events = load(str(truth_path))
    (run,) = replay(capsys, log)["runs"]
    tasks = {t["task_id"]: t for t in run["tasks"]}
    states = expected_states(events)
    assert {tid: t["state"] for tid, t in tasks.items()} == states
    starts, ends = starts_and_ends(events)
    batches = {
        tid: set(e["params"]["item"].split(","))
        for tid, e in _first(starts).items()
        if "," in e["params"].get("item", "")
    }
    assert batches, "Luigi ran no batch"
    for task_id, task in tasks.items():
        if task["family"] != "Item":
            continue
        batch = task_id if task_id in batches else _batch_of(task["params"]["item"], batches)
        (start,), (end,) = starts[batch], ends[batch]
        (attempt,) = task["attempt_history"]
        assert attempt["worker_pid"] == start["pid"], task_id
        assert attempt["result"] == RESULT[end["event"]], task_id
        assert 0 <= start["time"] - attempt["started_at"] < 0.25 and 0 <= end["time"] - attempt["ended_at"] < 0.25
        if task_id in batches:
            members = {tasks[m]["params"]["item"] for m in task["batch_members"]}
            assert members == batches[task_id]
    counts = Counter(states.values())
    summary = run["summary"]
    assert run["tasks_total"] == summary["scheduled"] == len(states)
    assert run["tasks_done"] == summary["ran_successfully"] == counts["done"]
    assert run["tasks_already_done"] == summary["already_complete"] == counts["already_done"]
    assert run["tasks_failed"] == summary["failed"] == counts["failed"]
    assert run["status"] == ("failed" if fail else "succeeded")


def _first(starts: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return {task_id: events[0] for task_id, events in starts.items()}


def _batch_of(item: str, batches: dict[str, set[str]]) -> str:
    (batch,) = [task_id for task_id, items in batches.items() if item in items]
    return batch
