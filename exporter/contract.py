"""The replay JSON contract: one dict per run, the same for `replay --json` and `/api/runs`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from exporter.eta import eta_seconds
from exporter.events import Summary
from exporter.ids import trace_id
from exporter.model import FAILED_STATES, Attempt, Run, Task, TaskState, task_error

__all__ = [
    "ENDED",
    "error_line",
    "headline",
    "live_dict",
    "run_counts",
    "run_dict",
    "state_counts",
    "summary_dict",
    "task_dict",
    "to_json",
]

# A run in one of these states has stopped (render.js keeps the same list).
ENDED = frozenset({"succeeded", "failed", "blocked", "incomplete"})


def to_json(document: Any) -> str:
    """A document of the contract as JSON text: compact, in UTF-8. orjson, not json.dumps: replay writes a document
    per run and /api/runs serves them on every poll, and orjson makes them several times faster."""
    return orjson.dumps(document).decode()


def state_counts(run: Run, of_tasks: list[TaskState] | None = None) -> dict[TaskState, int]:
    """Tasks per state (`of_tasks`: each task's, in order, when known); a run seen only through its summary (no
    task lines in the log) takes Luigi's numbers."""
    states = dict.fromkeys(TaskState, 0)
    for state in of_tasks if of_tasks is not None else (task.state for task in run.tasks.values()):
        states[state] += 1
    if not run.tasks and run.summary is not None:
        s = run.summary
        states[TaskState.DONE] = s.count("completed")
        states[TaskState.ALREADY_DONE] = s.count("already_done")
        states[TaskState.FAILED] = s.count("failed")
        states[TaskState.UPSTREAM_FAILED] = s.count("upstream_failure")
        states[TaskState.PENDING] = max(0, s.count("still_pending") - s.count("upstream_failure"))
    return states


def run_counts(run: Run, states: dict[TaskState, int] | None = None) -> dict[str, Any]:
    """The run's figures (from `state_counts`, computed here unless given)."""
    states = states if states is not None else state_counts(run)
    total = run.tasks_total
    completed = states[TaskState.DONE] + states[TaskState.ALREADY_DONE]
    return {
        "tasks_total": total,
        "tasks_done": states[TaskState.DONE],
        "tasks_already_done": states[TaskState.ALREADY_DONE],
        "tasks_completed": completed,
        "tasks_failed": sum(states[state] for state in FAILED_STATES),
        "tasks_running": states[TaskState.RUNNING],
        "tasks_pending": states[TaskState.PENDING] + states[TaskState.UNKNOWN] + states[TaskState.MISSING_INPUT],
        "tasks_upstream_failed": states[TaskState.UPSTREAM_FAILED],
        "progress_ratio": round(completed / total, 6) if total else 0.0,
    }


def summary_dict(summary: Summary | None) -> dict[str, Any] | None:
    if summary is None:
        return None
    return {
        "scheduled": summary.scheduled,
        "ran_successfully": summary.count("completed"),
        "failed": summary.count("failed"),
        "already_complete": summary.count("already_done"),
        "pending": summary.count("still_pending"),
        "categories": dict(summary.counts),
        "smiley": summary.smiley or None,
        "reason": summary.reason or None,
    }


def attempt_dict(attempt: Attempt) -> dict[str, Any]:
    return {
        "attempt": attempt.number,
        "result": attempt.result._value_,  # `.value` without the property's lookup: for every attempt of every document
        "started_at": attempt.started_at,
        "ended_at": attempt.ended_at,
        "duration_s": attempt.duration_s,
        "worker_pid": attempt.pid,
        "error": attempt.error,
    }


# The last attempt's figures of a task that has none.
_NO_ATTEMPT = {"started_at": None, "ended_at": None, "duration_s": None, "worker_pid": None}


def task_dict(task: Task, state: TaskState | None = None) -> dict[str, Any]:
    """One task in the contract; `state` is `task.state` when the caller has it (a derivation over its attempts)."""
    state = state or task.state
    history = [attempt_dict(a) for a in task.attempts]
    last = history[-1] if history else _NO_ATTEMPT
    return {
        "task_id": task.task_id,
        "family": task.family,
        "params": task.params,
        "state": state._value_,  # `.value` (see attempt_dict)
        "attempts": len(history),
        "started_at": last["started_at"],
        "ended_at": last["ended_at"],
        "duration_s": last["duration_s"],
        "worker_pid": last["worker_pid"],
        "error": task_error(task, state),
        "attempt_history": history,
        "batch_members": [member.task_id for member in task.members],
    }


def error_line(error: str | None) -> str:
    """The line of a traceback that says what went wrong: its last (the console, the report, replay's lines)."""
    lines = (error or "").strip().splitlines()
    return lines[-1] if lines else "no error text in the log"


def headline(status: str, total: int, completed: int, running: Iterable[str]) -> str:
    """What a run is at, in one phrase: "Task 38 of 61: SWOTAnalysisTask" while it goes on (the next task's number,
    then the families `running`, in order of start, as PlanExe's own progress shows it), "37 of 61 complete" once
    ended. Every view and the API show this one, so an application need not rebuild it."""
    if status in ENDED:
        return f"{completed} of {total} complete"
    if status == "scheduling" or not total:
        return "scheduling"
    families = ", ".join(dict.fromkeys(running))
    text = f"Task {min(completed + 1, total)} of {total}"
    return f"{text}: {families}" if families else text


def run_dict(run: Run) -> dict[str, Any]:
    tasks = list(run.tasks.values())
    states = [task.state for task in tasks]
    counts = run_counts(run, state_counts(run, states))
    status = run.status.value
    running = sorted(
        (t for t, s in zip(tasks, states, strict=True) if s is TaskState.RUNNING),
        key=lambda t: t.attempts[-1].started_at or 0,
    )
    return {
        "run_id": run.run_id,
        "source": run.source,
        "pipeline": run.pipeline,
        "status": status,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        **counts,
        "summary": summary_dict(run.summary),
        "retry_of": run.retry.of if run.retry is not None else None,
        "retry": run.retry.number if run.retry is not None else 0,
        "headline": headline(status, counts["tasks_total"], counts["tasks_completed"], (t.family for t in running)),
        "tasks": [task_dict(task, state) for task, state in zip(tasks, states, strict=True)],
    }


def live_dict(run: Run, now: float, usual: Mapping[str, float]) -> dict[str, Any]:
    """The contract plus what only a live sidecar knows: the ETA (from earlier runs' durations) and the run's trace."""
    return {
        **run_dict(run),
        "eta_s": eta_seconds(run, usual, now),
        "trace_id": f"{trace_id(run.source, run.run_id):032x}",
    }
