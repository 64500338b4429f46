"""What each event changes in the run it belongs to (`exporter.routing` says which): all builds of one source."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from exporter.events import (
    RESULT_STATUSES,
    BuildStarting,
    Checking,
    CompleteError,
    Died,
    DoneScheduling,
    Event,
    FailureDetail,
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
from exporter.model import Attempt, AttemptResult, Change, Run, Task
from exporter.redact import Redactor
from exporter.resolve import TaskResolver
from exporter.routing import Router
from exporter.taskid import parse_repr
from exporter.upstream import mark_upstream_failed

__all__ = ["Book"]


_FAILED, _UNKNOWN = TaskStatus.FAILED, TaskStatus.UNKNOWN  # bound once, as RESULT_STATUSES


class Book:
    """All runs of one source, in file order, and what each event changes in the run the router assigns it to.

    `apply` takes events in order and returns what changed; `finish` closes the input (replay's end of file).
    `runs` holds the runs not dropped yet: replay drops each once written, the sidecar those past retention (stored).
    """

    def __init__(
        self, source: str, base_id: str, expected_tasks: int | None = None, redactor: Redactor | None = None
    ) -> None:
        self.source = source
        self.redactor = redactor or Redactor()
        self.base_id = base_id
        self.expected_tasks = expected_tasks
        self.router = Router(source, base_id, expected_tasks)
        self.tasks = TaskResolver(self.redactor, self.router)
        # Where the traceback that follows a failure line belongs: an attempt, or the run's last scheduling error.
        self._detail_target: tuple[Run, Task | None, Attempt | None] | None = None
        self._last_summary: Summary | None = None
        # Whether anyone reads what events change (the pipeline's store and sinks): when not (replay, a restart's
        # catch-up), `apply` makes no Change.
        self.tells = True

    @property
    def runs(self) -> list[Run]:
        return self.router.runs

    @property
    def numbered(self) -> int:
        return self.router.numbered

    def run_id(self, n: int) -> str:
        """The id of the n-th run of this source (from 1)."""
        return self.router.run_id(n)

    # -- dropping ------------------------------------------------------------------------------------------

    def settled(self, run: Run) -> bool:
        """Ended, and no line to come is meant to change it: not the run a summary's second copy (the next event)
        may give its time, nor the one a traceback (the next lines) belongs to."""
        if not run.ended:
            return False
        if self._last_summary is not None and run.summary is self._last_summary and run.ended_at is None:
            return False
        return self._detail_target is None or self._detail_target[0] is not run

    def drop(self, runs: Iterable[Run]) -> None:
        """Forget settled runs (written out, or stored and past retention) so memory does not grow with the log.

        A dropped run takes no more lines: a worker line of its worker after its summary (Luigi writes none) goes to
        another build, and a summary's copy no longer gives it a time; the builds still open are routed as before.
        """
        self.router.drop(runs)

    def take_settled(self) -> list[Run]:
        """The settled runs at the front (file order), dropped: replay writes them and need not hold them."""
        runs = self.runs
        n = 0
        while n < len(runs) and self.settled(runs[n]):
            n += 1
        taken = runs[:n]
        self.drop(taken)
        return taken

    # -- applying ------------------------------------------------------------------------------------------

    def apply(self, event: Event) -> Sequence[Change]:
        return self.apply_all((event,))

    def apply_all(self, events: Iterable[Event]) -> list[Change]:
        """`apply` to each event in turn: a block's events in one call, not one each."""
        changes: list[Change] = []
        for event in events:
            kind = event.__class__  # events are final classes: no isinstance needed, on every event
            if kind is FailureDetail:
                changes += self._detail(event)  # type: ignore[arg-type]
                continue
            self._detail_target = None
            if kind is not Summary:
                self._last_summary = None
            handler = _HANDLERS.get(kind)
            if handler is not None:
                changes += handler(self, event)
        return changes

    def finish(self) -> list[Change]:
        """The input is over: builds without a summary end `incomplete`, their running tasks still running; no copy
        of a summary nor a traceback is to come, so every run is settled (those that waited for one end again, as
        they stand: sinks may hold what such a line would have completed)."""
        changes = [Change(run, ended=True) for run in self.runs if run.ended and not self.settled(run)]
        self._last_summary = None
        self._detail_target = None
        return changes + self._conclude(self.router.open_runs())

    def conclude(self, dead: Callable[[Run], bool]) -> list[Change]:
        """End, `incomplete`, the open builds `dead` says will never write again (their worker's process is gone, or
        they have been silent too long: the sidecar's judgement, not the log's)."""
        return self._conclude([run for run in self.router.open_runs() if dead(run)])

    def _conclude(self, runs: list[Run]) -> list[Change]:
        changes = []
        for run in runs:
            run.finished = True
            self.router.close(run)
            changes.append(Change(run, ended=True))
        return changes

    def _touch(self, run: Run, time: float | None) -> None:
        run._touch(time)
        self.router.seen(run)

    def _informed(self, event: Informed) -> Sequence[Change]:
        run = self.router.for_informed(event.task_id, event.status)
        self._touch(run, event.time)
        task = self.tasks.by_id(run, event.task_id)
        if event.status in RESULT_STATUSES:
            self.router.informed(run, event.task_id)
        if event.status == _FAILED and not run.scheduling:
            run.reschedule_open = True
        task.statuses.add(event.status)
        if event.status == _UNKNOWN and task.error is None:
            task.error = next((text for family, text in run.errors if family == task.family), None)
        for member in task.members:  # worker.py: the batch's status is each member's (`_batch_running_tasks`)
            member.statuses.add(event.status)
        if not self.tells:
            return _UNTOLD
        return [Change(run, t) for t in (task, *task.members)] if task.members else [Change(run, task)]

    def _build_starting(self, event: BuildStarting) -> Sequence[Change]:
        self.router.starting()
        return _UNTOLD

    def _checking(self, event: Checking) -> Sequence[Change]:
        run = self.router.for_checking(event.repr, parse_repr(event.repr).params)
        run.checked.add(event.repr)
        self._touch(run, event.time)
        run.index.add_checked(event.repr)
        if not event.repr.endswith(")"):  # cut by a newline or CR: its secrets can't be read as params
            self.redactor.learn_repr(event.repr)
        return [Change(run)] if self.tells else _UNTOLD

    def _done_scheduling(self, event: DoneScheduling) -> Sequence[Change]:
        run = self.router.done_scheduling()
        if run is None:
            return []
        self._touch(run, event.time)
        return [Change(run)] if self.tells else _UNTOLD

    def _running_worker(self, event: RunningWorker) -> Sequence[Change]:
        run = self.router.workerless()
        if run is None:
            return []
        self._touch(run, event.time)
        run.processes = event.processes
        self.router.scheduled(run)
        return [Change(run)] if self.tells else _UNTOLD

    def _worker_task(self, event: TaskStarted | TaskDone | TaskFailed | TaskNewRequirements) -> Sequence[Change]:
        run = self.router.for_worker(event.worker, event.repr)
        self._touch(run, event.time)
        task = self.tasks.by_repr(run, event.repr)
        attempt = task.last_attempt
        result = _RESULT_OF[event.__class__]
        started = result is AttemptResult.RUNNING  # a `running` line (TaskStarted)
        if attempt is not None and attempt.pid == event.pid and attempt.result is result:
            # A second handler's copy of the same line (another process's line may sit between the copies); the
            # copy may carry the time the first lacked (Luigi's own `LEVEL: msg` handler writes none), which sinks
            # that read the first in an earlier batch must learn (a change again: they write each thing once).
            if event.time is None:
                return []
            if started and attempt.started_at is None:
                attempt.started_at = event.time
                return [Change(run, task, attempt)] if self.tells else _UNTOLD
            if not started and attempt.ended_at is None:
                attempt.ended_at = event.time
                return [Change(run, task, attempt, ended=True)] if self.tells else _UNTOLD
            return []
        if started:
            run.reschedule_open = run.reschedule_new = False
            attempt = Attempt(len(task.attempts) + 1, event.pid, event.time)
            task.attempts.append(attempt)
            if task.members:
                return self._credit(run, task, attempt, False)
            return [Change(run, task, attempt)] if self.tells else _UNTOLD
        if attempt is None or attempt.result is not AttemptResult.RUNNING:
            # The start was not in this log (it began before the capture, or its child's lines were lost).
            attempt = Attempt(len(task.attempts) + 1, event.pid, None)
            task.attempts.append(attempt)
        attempt.ended_at = event.time
        if attempt.pid is None:
            attempt.pid = event.pid
        attempt.result = result
        if result is AttemptResult.NEW_REQUIREMENTS:
            run.reschedule_open = run.reschedule_new = True
        else:
            self.router.awaits(run, task.key)
        if result is AttemptResult.FAILURE:
            self._detail_target = (run, task, attempt)
        if task.members:
            return self._credit(run, task, attempt, True)
        return [Change(run, task, attempt, ended=True)] if self.tells else _UNTOLD

    def _credit(self, run: Run, batch: Task, attempt: Attempt, ended: bool) -> list[Change]:
        """A batch's attempt is each member's: one Attempt, so its end and its error reach them all."""
        for member in batch.members:
            if not member.attempts or member.attempts[-1] is not attempt:
                member.attempts.append(attempt)
        if not self.tells:
            return []
        return [Change(run, task, attempt, ended) for task in (batch, *batch.members)]

    def _process_end(self, event: Died | TimedOut) -> Sequence[Change]:
        """Main-process lines about a child that died or timed out: the attempt ends without a `failed` line."""
        run = self.router.with_task(event.task_id)
        if run is None:
            return []
        self._touch(run, event.time)
        task = run.tasks[event.task_id]
        attempt = task.last_attempt
        if attempt is None or attempt.result is not AttemptResult.RUNNING:
            if attempt is not None and attempt.result in (AttemptResult.DIED, AttemptResult.TIMEOUT):
                return []  # Luigi logs one death twice
            attempt = Attempt(len(task.attempts) + 1, None, None)
            task.attempts.append(attempt)
        if isinstance(event, Died):
            attempt.result = AttemptResult.DIED
            attempt.error = f"Task {task.task_id} died unexpectedly with exit code {event.exit_code}"
        else:
            attempt.result = AttemptResult.TIMEOUT
            attempt.error = f"Task {task.task_id} timed out after {event.seconds:g} seconds and was terminated."
        attempt.ended_at = event.time
        self.router.awaits(run, task.key)
        return [Change(run, task, attempt, ended=True)] if self.tells else _UNTOLD

    def _missing(self, event: MissingData | CompleteError | SchedulingError) -> Sequence[Change]:
        run = self.router.scheduling_run() or self.router.last_open() or self.router.new_run()
        self._touch(run, event.time)
        if isinstance(event, MissingData):
            # worker.py logs the warning just before it informs the scheduler of the task (PENDING, not runnable).
            task = self.tasks.by_repr(run, event.repr)
            task.missing_input = True
            return [Change(run, task)] if self.tells else _UNTOLD
        # complete() or deps() raised, or the scheduler could not be reached: Luigi then informs UNKNOWN (or
        # nothing at all), so the task is not created here; its traceback waits on the run for that line.
        run.errors.append((parse_repr(event.repr).family, ""))
        self._detail_target = (run, None, None)
        return [Change(run)] if self.tells else _UNTOLD

    def _scheduler_line(self, event: SchedulerRetry | SchedulerDisabled) -> Sequence[Change]:
        run = self.router.with_task(event.task_id)
        if run is None:
            return []
        if isinstance(event, SchedulerDisabled):
            run.tasks[event.task_id].disabled = True
        return [Change(run, run.tasks[event.task_id])] if self.tells else _UNTOLD

    def _detail(self, event: FailureDetail) -> Sequence[Change]:
        target, self._detail_target = self._detail_target, None
        if target is None:
            return []
        run, task, attempt = target
        if task is None:
            family, _ = run.errors[-1]
            run.errors[-1] = (family, self.redactor.text(event.text))
            return [Change(run)] if self.tells else _UNTOLD
        text = self.redactor.text(event.text)
        if attempt is not None:
            attempt.error = text
        else:
            task.error = text
        return [Change(run, task, attempt, ended=attempt is not None)] if self.tells else _UNTOLD

    def _worker_stopped(self, event: WorkerStopped) -> Sequence[Change]:
        run = self.router.for_worker(event.worker, None)
        self._touch(run, event.time)
        run.stopped = True
        self.router.stopped(run)
        return [Change(run)] if self.tells else _UNTOLD

    def _summary(self, event: Summary) -> Sequence[Change]:
        if self._last_summary == event:
            if event.time is None:
                return []
            changes = []
            for run in self.runs:  # the same block again, from a second handler, perhaps with the time
                if run.summary is self._last_summary and run.ended_at is None:  # the run the first ended
                    run.ended_at = event.time
                    changes.append(Change(run, ended=True))  # sinks that read the first in an earlier batch
            return changes
        self._last_summary = event
        run = self.router.for_summary(event)
        run.summary = event
        self.router.scheduled(run)
        run.ended_at = event.time
        self._touch(run, event.time)
        mark_upstream_failed(run, event)
        # Builds this one has gone past without a line of theirs were killed before it began: none will end them.
        changes = self._conclude(self.router.gone_past(run)) if run.tasks else []
        self.router.close(run)
        changes.append(Change(run, ended=True))
        return changes if self.tells else _UNTOLD


_RESULT_OF = {
    TaskStarted: AttemptResult.RUNNING,
    TaskDone: AttemptResult.SUCCESS,
    TaskFailed: AttemptResult.FAILURE,
    TaskNewRequirements: AttemptResult.NEW_REQUIREMENTS,
}


_UNTOLD: Sequence[Change] = ()  # what `apply` returns when it tells nobody

_HANDLERS = {
    Informed: Book._informed,
    BuildStarting: Book._build_starting,
    Checking: Book._checking,
    DoneScheduling: Book._done_scheduling,
    RunningWorker: Book._running_worker,
    TaskStarted: Book._worker_task,
    TaskDone: Book._worker_task,
    TaskFailed: Book._worker_task,
    TaskNewRequirements: Book._worker_task,
    Died: Book._process_end,
    TimedOut: Book._process_end,
    MissingData: Book._missing,
    CompleteError: Book._missing,
    SchedulingError: Book._missing,
    SchedulerRetry: Book._scheduler_line,
    SchedulerDisabled: Book._scheduler_line,
    WorkerStopped: Book._worker_stopped,
    Summary: Book._summary,
}
