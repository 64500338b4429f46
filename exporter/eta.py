"""How long a running build has left: pure arithmetic over the model and earlier durations, no clock of its own."""

from __future__ import annotations

from collections.abc import Mapping

from exporter.model import AttemptResult, Run, TaskState

__all__ = ["eta_seconds"]


def eta_seconds(run: Run, usual: Mapping[str, float], now: float) -> float | None:
    """Seconds until the build is done, or None when there is nothing to go on.

    Each unfinished task costs its family's usual duration (mean of successful attempts in earlier runs of this
    pipeline, from the store), less what a running task has already spent; the sum is divided by the parallelism
    this run has actually achieved so far (busy time / wall time, at least 1), because a PlanExe-like graph is mostly
    a chain that 4 workers do not shorten 4 times. Without history for every family left, this run's own pace:
    wall time per completed task times the tasks left.
    """
    if run.ended or run.started_at is None:
        return None
    left = [t for t in run.tasks.values() if t.state in (TaskState.PENDING, TaskState.RUNNING)]
    if not left:
        return None if run.scheduling else 0.0
    wall = max(now - run.started_at, 1e-9)
    finished = [a for t in run.tasks.values() for a in t.attempts if a.result is AttemptResult.SUCCESS and a.duration_s]
    if all(t.family in usual for t in left):
        work = 0.0
        for task in left:
            spent = 0.0
            last = task.last_attempt
            if task.state is TaskState.RUNNING and last is not None and last.started_at is not None:
                spent = max(0.0, now - last.started_at)
            work += max(0.0, usual[task.family] - spent)
        parallelism = max(1.0, sum(a.duration_s or 0.0 for a in finished) / wall)
        return work / parallelism
    if not finished:
        return None
    return wall / len(finished) * len(left)
