"""Typed Luigi facts, one dataclass per thing Luigi writes (the events `luigi/event.py` wished it had).

Every event carries `time` (epoch seconds from the log's timestamp, else the line's arrival time, else None) and
`offset` (byte offset just past the line that completed it, for resumption and ordering).

Nothing changes an event once the parser made it, but they are not frozen: a frozen dataclass is set up through
`object.__setattr__` field by field, several times the cost of a plain one, and one event is made per Luigi line.
Equality leaves `time` and `offset` out: a second handler's copy of a record equals it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "RESULT_STATUSES",
    "BuildStarting",
    "Checking",
    "CompleteError",
    "Died",
    "DoneScheduling",
    "Event",
    "FailureDetail",
    "Informed",
    "MissingData",
    "RunningWorker",
    "SchedulerDisabled",
    "SchedulerRetry",
    "SchedulingError",
    "Summary",
    "TaskDone",
    "TaskFailed",
    "TaskNewRequirements",
    "TaskStarted",
    "TaskStatus",
    "TimedOut",
    "WorkerStopped",
]


class TaskStatus(str, Enum):
    """A task's status as the worker informs the scheduler of it (luigi/task_status.py), which an `Informed` line
    carries: Luigi's word, not our `model.TaskState`. A str, so a status compares equal to Luigi's word for it."""

    PENDING = "PENDING"
    FAILED = "FAILED"
    DONE = "DONE"
    RUNNING = "RUNNING"
    BATCH_RUNNING = "BATCH_RUNNING"
    SUSPENDED = "SUSPENDED"  # task_status.py: "Only kept for backward compatibility with old clients"
    UNKNOWN = "UNKNOWN"
    DISABLED = "DISABLED"


# A task's result (worker.py `_handle_next_task`): the Informed line its worker's run awaits. A set made once: an Enum's
# member read off its class goes through the metaclass's attribute hook each time.
RESULT_STATUSES = frozenset((TaskStatus.DONE, TaskStatus.FAILED))


@dataclass(slots=True)
class Event:
    time: float | None = field(default=None, compare=False)
    offset: int = field(default=0, compare=False)


@dataclass(slots=True)
class BuildStarting(Event):
    """Luigi set up its logging for a build (`logging disabled in settings`, ...): a build's first line of Luigi's."""


@dataclass(slots=True)
class Checking(Event):
    """`Checking if X is complete`: the scheduling walk, not a start."""

    repr: str = ""


@dataclass(slots=True)
class Informed(Event):
    """The worker told the scheduler a task's status."""

    task_id: str = ""
    status: TaskStatus = TaskStatus.PENDING


@dataclass(slots=True)
class DoneScheduling(Event):
    """`Done scheduling tasks`: the dependency walk of one build is over."""


@dataclass(slots=True)
class RunningWorker(Event):
    """`Running Worker with N processes`."""

    processes: int = 1


@dataclass(slots=True)
class WorkerTaskEvent(Event):
    """A line a worker writes about one task: `[pid P] Worker Worker(...) <verb> Repr`."""

    pid: int = 0
    worker: str = ""
    repr: str = ""


@dataclass(slots=True)
class TaskStarted(WorkerTaskEvent):
    """`running`: an attempt starts."""


@dataclass(slots=True)
class TaskDone(WorkerTaskEvent):
    """`done`: an attempt succeeded."""


@dataclass(slots=True)
class TaskFailed(WorkerTaskEvent):
    """`failed`: an attempt raised; its traceback follows as a FailureDetail."""


@dataclass(slots=True)
class TaskNewRequirements(WorkerTaskEvent):
    """`new requirements`: the attempt yielded dynamic dependencies and goes back to pending."""


@dataclass(slots=True)
class FailureDetail(Event):
    """The traceback lines that followed the last failure-like record of the same stream."""

    text: str = ""


@dataclass(slots=True)
class Died(Event):
    """`Task X died unexpectedly with exit code N` (main process; no `failed` line follows)."""

    task_id: str = ""
    exit_code: int = 0


@dataclass(slots=True)
class TimedOut(Event):
    """`Task X timed out after N seconds and was terminated.`"""

    task_id: str = ""
    seconds: float = 0.0


@dataclass(slots=True)
class MissingData(Event):
    """`Data for X does not exist (yet?)`: an external dependency is missing."""

    repr: str = ""


@dataclass(slots=True)
class CompleteError(Event):
    """`Will not run X or any dependencies due to error in complete()|deps() method`."""

    repr: str = ""


@dataclass(slots=True)
class SchedulingError(Event):
    """`Luigi unexpected framework error while scheduling X` (e.g. the central scheduler is unreachable)."""

    repr: str = ""


@dataclass(slots=True)
class SchedulerRetry(Event):
    """luigi.scheduler DEBUG `X task num failures is N and limit is L`."""

    task_id: str = ""
    failures: int = 0
    limit: int = 0


@dataclass(slots=True)
class SchedulerDisabled(Event):
    """luigi.scheduler DEBUG `X task num failures limit(L) is exceeded`: the task is disabled."""

    task_id: str = ""
    limit: int = 0


@dataclass(slots=True)
class WorkerStopped(Event):
    """`Worker W was stopped. Shutting down Keep-Alive thread`: the build's last line before its summary."""

    worker: str = ""


@dataclass(slots=True)
class Summary(Event):
    """The whole `===== Luigi Execution Summary =====` block, as counts per category.

    `counts` maps Luigi's category keys (`already_done`, `completed`, `failed`, `scheduling_error`,
    `still_pending`, `still_pending_ext`, `run_by_other_worker`, `upstream_failure`,
    `upstream_missing_dependency`, `upstream_run_by_other_worker`, `upstream_scheduling_error`, `not_run`) to the
    numbers Luigi printed; `families` maps each category to the task lines it listed (lossy: at most 5 lines, ranges
    folded); `truncated` names the categories whose list ended in `...`.
    """

    scheduled: int = 0
    counts: tuple[tuple[str, int], ...] = ()
    families: tuple[tuple[str, tuple[str, ...]], ...] = ()
    truncated: tuple[str, ...] = ()
    smiley: str = ""
    reason: str = ""
    did_not_run: bool = False

    def count(self, category: str) -> int:
        return dict(self.counts).get(category, 0)

    def listed(self, category: str) -> tuple[str, ...]:
        return dict(self.families).get(category, ())
