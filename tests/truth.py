"""Compare a replayed run with the truth Luigi itself recorded (exporter.demo.truth + harness SUMMARY line)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from exporter.demo import truth as recorder

# Luigi's own partition (execution_summary._summary_dict) -> our task state.
STATE_OF_CATEGORY = {
    "completed": "done",
    "already_done": "already_done",
    "failed": "failed",
    "scheduling_error": "unknown",
    "still_pending_ext": "missing_input",
    "upstream_failure": "upstream_failed",
}
ENDS = ("SUCCESS", "FAILURE", "PROCESS_FAILURE", "TIMEOUT")
# Seconds between Luigi's log line and its event handler: START fires only after the `running` line and the check of
# every dependency's complete() (worker.py TaskProcess.run), which on a loaded 2-core machine took up to ~60 ms.
SLACK = 0.25


def load(path: str) -> list[dict[str, Any]]:
    return recorder.load(path)


def expected_states(events: list[dict[str, Any]]) -> dict[str, str]:
    """Each scheduled task's state by Luigi's own summary categories of this build (the last SUMMARY line)."""
    categories = next(e["categories"] for e in reversed(events) if e["event"] == "SUMMARY")
    states: dict[str, str] = {}
    for task_id in categories.get("still_pending_not_ext", []):
        states[task_id] = "pending"
    for category, state in STATE_OF_CATEGORY.items():
        for task_id in categories.get(category, []):
            states[task_id] = state
    return states


def starts_and_ends(
    events: list[dict[str, Any]],
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    """Each task's START events and its ending events (SUCCESS, FAILURE, PROCESS_FAILURE, TIMEOUT), in order."""
    starts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    ends: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e["event"] == "START":
            starts[e["task_id"]].append(e)
        elif e["event"] in ENDS:
            ends[e["task_id"]].append(e)
    return starts, ends


def assert_run_matches(run: dict[str, Any], events: list[dict[str, Any]], resolution: float) -> None:
    """Every task's state, attempts, pid, start and end (within the log's time resolution), and the totals."""
    states = expected_states(events)
    tasks = {t["task_id"]: t for t in run["tasks"]}
    assert {tid: t["state"] for tid, t in tasks.items()} == states
    starts, ends = starts_and_ends(events)
    for task_id, task in tasks.items():
        history = task["attempt_history"]
        assert len(history) == len(starts[task_id]) == task["attempts"], task_id
        for attempt, start, end in zip(history, starts[task_id], ends[task_id], strict=False):
            assert attempt["worker_pid"] == start["pid"], task_id
            _assert_close(attempt["started_at"], start["time"], resolution, task_id)
            _assert_close(attempt["ended_at"], end["time"], resolution, task_id)
            assert (
                attempt["result"]
                == {
                    "SUCCESS": "success",
                    "FAILURE": "failure",
                    "PROCESS_FAILURE": "died",
                    "TIMEOUT": "timeout",
                }[end["event"]]
            ), task_id
    counts = Counter(states.values())
    assert run["tasks_total"] == len(states)
    assert run["tasks_done"] == counts["done"]
    assert run["tasks_already_done"] == counts["already_done"]
    assert run["tasks_completed"] == counts["done"] + counts["already_done"]
    assert run["tasks_failed"] == counts["failed"]
    assert run["tasks_upstream_failed"] == counts["upstream_failed"]
    assert run["progress_ratio"] == round(run["tasks_completed"] / len(states), 6)


def _assert_close(logged: float | None, true: float, resolution: float, what: str) -> None:
    """A log time is the true time truncated to the log's resolution (1 s, or 1 ms with `,mmm`)."""
    assert logged is not None, what
    assert -SLACK <= true - logged < resolution + SLACK, (what, logged, true)
