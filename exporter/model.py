"""The run model: runs, tasks and attempts, as plain Python values (no I/O, no clock).

One `Run` per `luigi.build` (or `luigi` command). Task states mirror `luigi/execution_summary.py`'s
`_partition_tasks`: a task is *done* when it was DONE after having been PENDING in this build, *already done* when it
was DONE without ever being PENDING, *failed* when it ever failed and never completed. `exporter.transitions`
changes these values, one function per event; `exporter.book` hands it each event with the run it belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

from exporter.events import Summary, TaskStatus
from exporter.taskid import TaskIndex

__all__ = [
    "FAILED_RESULTS",
    "FAILED_STATES",
    "Attempt",
    "AttemptResult",
    "Change",
    "Retry",
    "Run",
    "RunStatus",
    "Task",
    "TaskState",
    "task_error",
]


# Bound once: an Enum's member read off its class goes through the metaclass's attribute hook each time.
_DONE, _PENDING, _DISABLED, _FAILED, _UNKNOWN = (
    TaskStatus.DONE,
    TaskStatus.PENDING,
    TaskStatus.DISABLED,
    TaskStatus.FAILED,
    TaskStatus.UNKNOWN,
)


class TaskState(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    ALREADY_DONE = "already_done"
    UPSTREAM_FAILED = "upstream_failed"
    MISSING_INPUT = "missing_input"
    DISABLED = "disabled"
    UNKNOWN = "unknown"


class RunStatus(str, Enum):
    SCHEDULING = "scheduling"
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # summary ":)"
    FAILED = "failed"  # summary ":("
    BLOCKED = "blocked"  # summary ":|": tasks left for reasons outside the build (missing data, other workers)
    INCOMPLETE = "incomplete"  # the log ended without a summary: killed, or still running when replayed


class AttemptResult(str, Enum):
    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"
    DIED = "died"
    TIMEOUT = "timeout"
    NEW_REQUIREMENTS = "new_requirements"  # the attempt yielded dynamic dependencies; the task runs again


# The states Luigi's summary counts among the failed (the contract's `tasks_failed`): a disabled task failed too often.
# Members are `str`s too: `"disabled" in FAILED_STATES` holds for a stored document's state.
FAILED_STATES = frozenset({TaskState.FAILED, TaskState.DISABLED})
# How an attempt ends in error (Luigi's FAILURE, PROCESS_FAILURE and TIMEOUT events): what fails a task, what the
# attempt after it retries, what a failure counter counts.
FAILED_RESULTS = frozenset({AttemptResult.FAILURE, AttemptResult.DIED, AttemptResult.TIMEOUT})

_BY_SMILEY = {":)": RunStatus.SUCCEEDED, ":(": RunStatus.FAILED, ":|": RunStatus.BLOCKED}


@dataclass
class Attempt:
    number: int
    pid: int | None
    started_at: float | None
    ended_at: float | None = None
    result: AttemptResult = AttemptResult.RUNNING
    error: str | None = None

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0.0, self.ended_at - self.started_at)


@dataclass
class Task:
    task_id: str  # Luigi's id, with any credential in its readable part redacted (what every output shows)
    family: str
    params: dict[str, str] = field(default_factory=dict)  # serialized values, credentials redacted
    statuses: set[TaskStatus] = field(default_factory=set)  # every status Informed to the scheduler in this build
    attempts: list[Attempt] = field(default_factory=list)
    missing_input: bool = False
    disabled: bool = False
    upstream_failed: bool = False
    error: str | None = None  # an error outside any attempt: complete() or scheduling failed
    key: str = ""  # Luigi's id as logged: what scheduler lines name it by
    # A batch (`batch_method` params: Luigi runs several pending tasks as one): the tasks it runs, which share its
    # attempts and statuses. Luigi never schedules the batch itself: done, it is among "complete ones encountered".
    members: list[Task] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.key = self.key or self.task_id

    @property
    def state(self) -> TaskState:
        last = self.attempts[-1] if self.attempts else None
        if last is not None and last.result is AttemptResult.RUNNING:
            return TaskState.RUNNING
        # Asked of every task on every scrape and document: most are done by their one attempt, or have none yet,
        # so the attempts are scanned only when that does not answer.
        succeeded = last is not None and (
            last.result is AttemptResult.SUCCESS or any(a.result is AttemptResult.SUCCESS for a in self.attempts)
        )
        if succeeded or _DONE in self.statuses:
            if _PENDING in self.statuses or (succeeded and not self.members):
                return TaskState.DONE
            return TaskState.ALREADY_DONE
        if self.disabled or _DISABLED in self.statuses:
            return TaskState.DISABLED
        if _FAILED in self.statuses or (last is not None and any(a.result in FAILED_RESULTS for a in self.attempts)):
            return TaskState.FAILED
        if _UNKNOWN in self.statuses:
            return TaskState.UNKNOWN
        if self.missing_input:
            return TaskState.MISSING_INPUT
        if self.upstream_failed:
            return TaskState.UPSTREAM_FAILED
        return TaskState.PENDING

    @property
    def last_attempt(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None


def task_error(task: Task, state: TaskState | None = None) -> str | None:
    """The error a task shows, the one every output gives (the contract, the store's `tasks` row, replay's lines).

    A task's state is where Luigi left it, so is its error: none once it completed, even after failed attempts (each
    attempt keeps its own error); else its latest attempt's that has one (a task running again shows why the attempt
    before failed), else the one outside any attempt (its complete() raised). `state` is `task.state`, when the
    caller has it.
    """
    state = state or task.state
    if state is TaskState.DONE or state is TaskState.ALREADY_DONE:
        return None
    return next((a.error for a in reversed(task.attempts) if a.error), task.error)


class Change(NamedTuple):
    """What one event changed, for sinks to read: the run, and the task and attempt where one was touched.

    `ended` with an attempt: the attempt ended; without: the run ended. Sinks read these objects, never write them.
    A tuple, not a dataclass: one is made per event, and a tuple is the cheapest value to make.
    """

    run: Run
    task: Task | None = None
    attempt: Attempt | None = None
    ended: bool = False


@dataclass(frozen=True)
class Retry:
    """What makes a build a retry: `run --retries` started its command again because the build `of` failed tasks.
    The log cannot tell (a new build in the same file), so the sidecar says so before the build's first line."""

    of: str  # run_id of the build retried
    number: int  # 1 for the first retry
    failed: dict[str, int]  # id of each task that failed there -> its last attempt's number: re-running it is a retry


@dataclass
class Run:
    run_id: str
    source: str
    worker: str | None = None
    processes: int | None = None
    scheduling: bool = True
    tasks: dict[str, Task] = field(default_factory=dict)
    started_at: float | None = None
    ended_at: float | None = None
    last_event_at: float | None = None
    summary: Summary | None = None
    stopped: bool = False
    finished: bool = False  # the input ended without a summary
    expected_tasks: int | None = None
    # Tasks whose worker line (done/failed) came and whose `Informed ... DONE|FAILED` has not yet: that Informed
    # line is this run's, whichever other build is scheduling meanwhile.
    awaiting: set[str] = field(default_factory=set)
    # After a failure with missing deps or a `new requirements`, Luigi re-adds tasks: a short scheduling burst.
    reschedule_open: bool = False
    # Only a `new requirements` re-adds tasks this build has not seen (worker.py `self.add(t)` for each new_req); a
    # failure re-adds the failed task (`self.add(task)`), seen already. So while only a failure holds the burst open,
    # lines about unseen tasks belong to another build started meanwhile in the same file (Router.for_checking).
    reschedule_new: bool = False
    checked: set[str] = field(default_factory=set, repr=False)  # the reprs of this build's `Checking` lines
    index: TaskIndex = field(default_factory=TaskIndex, repr=False)  # ids <-> reprs of this build's tasks
    errors: list[tuple[str, str]] = field(default_factory=list)  # (family, traceback) of scheduling errors
    family_tasks: dict[str, list[Task]] = field(default_factory=dict, repr=False)  # family -> its tasks, in order
    retry: Retry | None = None

    @property
    def ended(self) -> bool:
        return self.summary is not None or self.finished

    @property
    def pipeline(self) -> str | None:
        first = next(iter(self.tasks.values()), None)
        return first.family if first is not None else None

    @property
    def status(self) -> RunStatus:
        if self.summary is not None:
            status = _BY_SMILEY.get(self.summary.smiley)
            if status is None:  # no smiley line: judged by the tasks
                status = RunStatus.FAILED if self.count(TaskState.FAILED) else RunStatus.SUCCEEDED
            return status
        if self.finished:
            return RunStatus.INCOMPLETE
        return RunStatus.SCHEDULING if self.scheduling else RunStatus.RUNNING

    def count(self, state: TaskState) -> int:
        return sum(1 for t in self.tasks.values() if t.state is state)

    @property
    def tasks_total(self) -> int:
        if not self.tasks and self.summary is not None:
            return self.summary.scheduled
        if self.scheduling and self.expected_tasks is not None and not self.ended:
            return max(self.expected_tasks, len(self.tasks))
        return len(self.tasks)

    def _touch(self, time: float | None) -> None:
        if time is None:
            return
        if self.started_at is None or time < self.started_at:
            self.started_at = time
        if self.last_event_at is None or time > self.last_event_at:
            self.last_event_at = time
