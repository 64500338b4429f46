"""What each Luigi fact changes in the run it belongs to: the model's state changes, one plain function per event.

`exporter.book` finds the run an event belongs to (`exporter.routing`) and the task it names (`exporter.resolve`),
then hands them here with the event. Each function changes those values and returns what it changed, for sinks:
`Change`'s fields as plain tuples, `(run, task, attempt, ended)`, of which the book makes `Change`s only while a sink
listens (a replay's lines make none). No routing, no I/O, no clock: the same events give the same runs.
"""

from __future__ import annotations

from exporter.events import (
    Checking,
    CompleteError,
    Died,
    DoneScheduling,
    Informed,
    MissingData,
    RunningWorker,
    SchedulerDisabled,
    SchedulerRetry,
    SchedulingError,
    Summary,
    TaskDone,
    TaskFailed,
    TaskNewRequirements,
    TaskStarted,
    TaskStatus,
    TimedOut,
    WorkerStopped,
)
from exporter.model import Attempt, AttemptResult, Run, Task
from exporter.taskid import parse_repr
from exporter.upstream import mark_upstream_failed

__all__ = [
    "Changed",
    "checking",
    "done_scheduling",
    "failure_detail",
    "incomplete",
    "informed",
    "missing_data",
    "process_end",
    "running_worker",
    "scheduler_line",
    "scheduling_error",
    "summary",
    "summary_copy",
    "worker_line",
    "worker_stopped",
]

# What a transition changed: `Change`'s fields, each tuple one change.
Changed = tuple[tuple[Run, Task | None, Attempt | None, bool], ...]

# Bound once: an Enum's member read off its class goes through the metaclass's attribute hook each time.
_RUNNING, _SUCCESS, _FAILURE, _DIED, _TIMEOUT, _NEW_REQUIREMENTS = (
    AttemptResult.RUNNING,
    AttemptResult.SUCCESS,
    AttemptResult.FAILURE,
    AttemptResult.DIED,
    AttemptResult.TIMEOUT,
    AttemptResult.NEW_REQUIREMENTS,
)
_FAILED, _UNKNOWN = TaskStatus.FAILED, TaskStatus.UNKNOWN

# The attempt result each worker line says (worker.py's `running`, `done`, `failed`, `new requirements`).
_RESULT_OF = {
    TaskStarted: _RUNNING,
    TaskDone: _SUCCESS,
    TaskFailed: _FAILURE,
    TaskNewRequirements: _NEW_REQUIREMENTS,
}


def checking(run: Run, event: Checking) -> Changed:
    """`Checking if X is complete`: X is in the build's dependency walk."""
    run.checked.add(event.repr)
    run._touch(event.time)
    run.index.add_checked(event.repr)
    return ((run, None, None, False),)


def informed(run: Run, task: Task, event: Informed) -> Changed:
    """`Informed scheduler that task X has status S`: a status of X in this build, and of each member of a batch."""
    status = event.status
    run._touch(event.time)
    if status == _FAILED and not run.scheduling:  # Luigi re-adds a failed task: a short scheduling burst
        run.reschedule_open = True
    task.statuses.add(status)
    if status == _UNKNOWN and task.error is None:  # its complete() raised: the traceback waited on the run
        task.error = next((text for family, text in run.errors if family == task.family), None)
    if not task.members:
        return ((run, task, None, False),)
    for member in task.members:  # worker.py: the batch's status is each member's (`_batch_running_tasks`)
        member.statuses.add(status)
    return tuple((run, t, None, False) for t in (task, *task.members))


def done_scheduling(run: Run, event: DoneScheduling) -> Changed:
    """`Done scheduling tasks`: the build's walk is over (the router knows it; the run learns the time)."""
    run._touch(event.time)
    return ((run, None, None, False),)


def running_worker(run: Run, event: RunningWorker) -> Changed:
    """`Running Worker with N processes`: the build's worker starts running tasks."""
    run._touch(event.time)
    run.processes = event.processes
    return ((run, None, None, False),)


def worker_line(
    run: Run, task: Task, event: TaskStarted | TaskDone | TaskFailed | TaskNewRequirements
) -> tuple[Changed, Attempt | None]:
    """A worker line about `task` (`running`, `done`, `failed`, `new requirements`): an attempt starts or ends.

    Also returns the attempt the line ended, None when it ended none (a start, or a copy of a line applied already):
    the build then awaits the task's `Informed` line, and after a failure its traceback.
    """
    run._touch(event.time)
    attempt = task.last_attempt
    result = _RESULT_OF[event.__class__]
    started = result is _RUNNING
    if attempt is not None and attempt.pid == event.pid and attempt.result is result:
        # A second handler's copy of the same line (another process's line may sit between the copies); the copy
        # may carry the time the first lacked (Luigi's own `LEVEL: msg` handler writes none), which sinks that read
        # the first in an earlier batch must learn (a change again: they write each thing once).
        if event.time is None:
            return (), None
        if started and attempt.started_at is None:
            attempt.started_at = event.time
            return ((run, task, attempt, False),), None
        if not started and attempt.ended_at is None:
            attempt.ended_at = event.time
            return ((run, task, attempt, True),), None
        return (), None
    if started:
        run.reschedule_open = run.reschedule_new = False
        attempt = Attempt(len(task.attempts) + 1, event.pid, event.time)
        task.attempts.append(attempt)
        if task.members:
            return _credit(run, task, attempt, False), None
        return ((run, task, attempt, False),), None
    if attempt is None or attempt.result is not _RUNNING:
        # The start was not in this log (it began before the capture, or its child's lines were lost).
        attempt = Attempt(len(task.attempts) + 1, event.pid, None)
        task.attempts.append(attempt)
    attempt.ended_at = event.time
    if attempt.pid is None:
        attempt.pid = event.pid
    attempt.result = result
    if result is _NEW_REQUIREMENTS:  # Luigi adds the new requirements, then the task again: a scheduling burst
        run.reschedule_open = run.reschedule_new = True
    if task.members:
        return _credit(run, task, attempt, True), attempt
    return ((run, task, attempt, True),), attempt


def _credit(run: Run, task: Task, attempt: Attempt, ended: bool) -> Changed:
    """A batch's attempt is each member's: one Attempt, so its end and its error reach them all."""
    for member in task.members:
        if not member.attempts or member.attempts[-1] is not attempt:
            member.attempts.append(attempt)
    return tuple((run, t, attempt, ended) for t in (task, *task.members))


def process_end(run: Run, task: Task, event: Died | TimedOut) -> Changed:
    """The main process says `task`'s child died or timed out: its attempt ends without a `failed` line."""
    run._touch(event.time)
    attempt = task.last_attempt
    if attempt is None or attempt.result is not _RUNNING:
        if attempt is not None and (attempt.result is _DIED or attempt.result is _TIMEOUT):
            return ()  # Luigi logs one death twice
        attempt = Attempt(len(task.attempts) + 1, None, None)
        task.attempts.append(attempt)
    if isinstance(event, Died):
        attempt.result = _DIED
        attempt.error = f"Task {task.task_id} died unexpectedly with exit code {event.exit_code}"
    else:
        attempt.result = _TIMEOUT
        attempt.error = f"Task {task.task_id} timed out after {event.seconds:g} seconds and was terminated."
    attempt.ended_at = event.time
    return ((run, task, attempt, True),)


def missing_data(run: Run, task: Task, event: MissingData) -> Changed:
    """`Data for X does not exist`: worker.py warns just before it informs the scheduler (PENDING, not runnable)."""
    run._touch(event.time)
    task.missing_input = True
    return ((run, task, None, False),)


def scheduling_error(run: Run, event: SchedulingError | CompleteError) -> Changed:
    """complete() or deps() raised, or the scheduler could not be reached: Luigi then
    informs UNKNOWN (or nothing at all), so no task is made here; the traceback that follows waits on the run for that
    line (`failure_detail`, then `informed`)."""
    run._touch(event.time)
    run.errors.append((parse_repr(event.repr).family, ""))
    return ((run, None, None, False),)


def scheduler_line(run: Run, task: Task, event: SchedulerRetry | SchedulerDisabled) -> Changed:
    """The scheduler retries `task`, or disables it (it failed too often)."""
    if isinstance(event, SchedulerDisabled):
        task.disabled = True
    return ((run, task, None, False),)


def failure_detail(run: Run, task: Task | None, attempt: Attempt | None, text: str) -> Changed:
    """The traceback after a failure line (`text`, redacted): the failed attempt's error, or, with no task, the run's
    last scheduling error's."""
    if task is None or attempt is None:
        family, _ = run.errors[-1]
        run.errors[-1] = (family, text)
        return ((run, None, None, False),)
    attempt.error = text
    return ((run, task, attempt, True),)


def worker_stopped(run: Run, event: WorkerStopped) -> Changed:
    """`Worker ... was stopped`: the build's summary comes next."""
    run._touch(event.time)
    run.stopped = True
    return ((run, None, None, False),)


def summary(run: Run, event: Summary) -> Changed:
    """Luigi's execution summary: the build has ended, and names the tasks left pending by a failed dependency."""
    run.summary = event
    run.ended_at = event.time
    run._touch(event.time)
    mark_upstream_failed(run, event)
    return ((run, None, None, True),)


def summary_copy(run: Run, event: Summary) -> Changed:
    """A second handler's copy of the summary that ended `run`: the time the first lacked, if it lacked one."""
    if run.ended_at is not None:
        return ()
    run.ended_at = event.time
    return ((run, None, None, True),)


def incomplete(run: Run) -> Changed:
    """No line will end the build (the input is over, or its worker is gone): it ends `incomplete`."""
    run.finished = True
    return ((run, None, None, True),)
