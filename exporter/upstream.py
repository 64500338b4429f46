"""Upstream failures: Luigi never logs a task left pending because a dependency failed; its summary only counts
them under "had failed dependencies" and lists a few, so they are named from the summary once the build ends."""

from __future__ import annotations

from collections.abc import Iterable

from exporter.events import Summary
from exporter.model import Run, Task, TaskState

__all__ = ["mark_upstream_failed"]


def mark_upstream_failed(run: Run, summary: Summary) -> None:
    """Name the tasks Luigi left pending "had failed dependencies" (never logged per task, only counted).

    When the count equals the pending tasks, all of them; otherwise the families the summary lists under that
    category, then, if its list was cut (`...`), the remaining pending tasks not listed under another category.
    """
    wanted = summary.count("upstream_failure")
    if wanted == 0:
        return
    pending = [t for t in run.tasks.values() if t.state is TaskState.PENDING]
    if len(pending) <= wanted:
        chosen: Iterable[Task] = pending
    else:
        listed = {line.split("(", 1)[0] for line in summary.listed("upstream_failure")}
        elsewhere = {
            line.split("(", 1)[0]
            for category, lines in summary.families
            if category not in ("upstream_failure", "still_pending")
            for line in lines
        }
        first = [t for t in pending if t.family in listed]
        rest = [t for t in pending if t.family not in listed and t.family not in elsewhere]
        truncated = "upstream_failure" in summary.truncated
        chosen = (first + (rest if truncated else []))[:wanted]
    for task in chosen:
        task.upstream_failed = True
