"""All builds of one source: the run and task each event belongs to (`exporter.routing`, `exporter.resolve` say
which), changed there by the model's transitions (`exporter.transitions`), and what sinks are told of it."""

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
    TimedOut,
    WorkerStopped,
)
from exporter.model import Attempt, AttemptResult, Change, Run, Task
from exporter.redact import Redactor
from exporter.resolve import TaskResolver
from exporter.routing import Router
from exporter.taskid import parse_repr
from exporter.transitions import (
    Changed,
    checking,
    done_scheduling,
    failure_detail,
    incomplete,
    informed,
    missing_data,
    process_end,
    running_worker,
    scheduler_line,
    scheduling_error,
    summary,
    summary_copy,
    worker_line,
    worker_stopped,
)

__all__ = ["Book"]


_FAILURE, _NEW_REQUIREMENTS = AttemptResult.FAILURE, AttemptResult.NEW_REQUIREMENTS  # bound once, as RESULT_STATUSES


class Book:
    """All runs of one source, in file order: each event applied to the run the router assigns it to.

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
        self._detail_target: tuple[Run, Task, Attempt] | tuple[Run, None, None] | None = None
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
        tells = self.tells
        for event in events:
            kind = event.__class__  # events are final classes: no isinstance needed, on every event
            if kind is FailureDetail:
                changed = self._detail(event)  # type: ignore[arg-type]
            else:
                self._detail_target = None
                if kind is not Summary:
                    self._last_summary = None
                handler = _HANDLERS.get(kind)
                if handler is None:
                    continue
                changed = handler(self, event)
            if changed and tells:
                changes += map(_change, changed)
        return changes

    def finish(self) -> list[Change]:
        """The input is over: builds without a summary end `incomplete`, their running tasks still running; no copy
        of a summary nor a traceback is to come, so every run is settled (those that waited for one end again, as
        they stand: sinks may hold what such a line would have completed)."""
        changes = [Change(run, ended=True) for run in self.runs if run.ended and not self.settled(run)]
        self._last_summary = None
        self._detail_target = None
        return changes + list(map(_change, self._end_incomplete(self.router.open_runs())))

    def conclude(self, dead: Callable[[Run], bool]) -> list[Change]:
        """End, `incomplete`, the open builds `dead` says will never write again (their worker's process is gone, or
        they have been silent too long: the sidecar's judgement, not the log's)."""
        return list(map(_change, self._end_incomplete([run for run in self.router.open_runs() if dead(run)])))

    def _end_incomplete(self, runs: list[Run]) -> Changed:
        changed: Changed = ()
        for run in runs:
            changed += incomplete(run)
            self.router.close(run)
        return changed

    def _informed(self, event: Informed) -> Changed:
        run = self.router.for_informed(event.task_id, event.status)
        self.router.seen(run)
        task = self.tasks.by_id(run, event.task_id)
        if event.status in RESULT_STATUSES:
            self.router.informed(run, event.task_id)
        return informed(run, task, event)

    def _build_starting(self, event: BuildStarting) -> Changed:
        self.router.starting()
        return ()

    def _checking(self, event: Checking) -> Changed:
        run = self.router.for_checking(event.repr, parse_repr(event.repr).params)
        self.router.seen(run)
        if not event.repr.endswith(")"):  # cut by a newline or CR: its secrets can't be read as params
            self.redactor.learn_repr(event.repr)
        return checking(run, event)

    def _done_scheduling(self, event: DoneScheduling) -> Changed:
        run = self.router.done_scheduling()
        if run is None:
            return ()
        self.router.seen(run)
        return done_scheduling(run, event)

    def _running_worker(self, event: RunningWorker) -> Changed:
        run = self.router.workerless()
        if run is None:
            return ()
        self.router.seen(run)
        changed = running_worker(run, event)
        self.router.scheduled(run)
        return changed

    def _worker_task(self, event: TaskStarted | TaskDone | TaskFailed | TaskNewRequirements) -> Changed:
        run = self.router.for_worker(event.worker, event.repr)
        self.router.seen(run)
        task = self.tasks.by_repr(run, event.repr)
        changed, ended = worker_line(run, task, event)
        if ended is not None:
            if ended.result is not _NEW_REQUIREMENTS:  # the task's `Informed DONE|FAILED` line is this build's
                self.router.awaits(run, task.key)
            if ended.result is _FAILURE:  # its traceback follows
                self._detail_target = (run, task, ended)
        return changed

    def _process_end(self, event: Died | TimedOut) -> Changed:
        run = self.router.with_task(event.task_id)
        if run is None:
            return ()
        self.router.seen(run)
        task = run.tasks[event.task_id]
        changed = process_end(run, task, event)
        if changed:
            self.router.awaits(run, task.key)
        return changed

    def _missing(self, event: MissingData | CompleteError | SchedulingError) -> Changed:
        run = self.router.scheduling_run() or self.router.last_open() or self.router.new_run()
        self.router.seen(run)
        if isinstance(event, MissingData):
            return missing_data(run, self.tasks.by_repr(run, event.repr), event)
        self._detail_target = (run, None, None)  # the traceback that follows is the run's
        return scheduling_error(run, event)

    def _scheduler_line(self, event: SchedulerRetry | SchedulerDisabled) -> Changed:
        run = self.router.with_task(event.task_id)
        if run is None:
            return ()
        return scheduler_line(run, run.tasks[event.task_id], event)

    def _detail(self, event: FailureDetail) -> Changed:
        target, self._detail_target = self._detail_target, None
        if target is None:
            return ()
        run, task, attempt = target
        return failure_detail(run, task, attempt, self.redactor.text(event.text))

    def _worker_stopped(self, event: WorkerStopped) -> Changed:
        run = self.router.for_worker(event.worker, None)
        self.router.seen(run)
        changed = worker_stopped(run, event)
        self.router.stopped(run)
        return changed

    def _summary(self, event: Summary) -> Changed:
        if self._last_summary == event:  # the same block again, from a second handler, perhaps with the time
            if event.time is None:
                return ()
            last = self._last_summary
            return tuple(c for run in self.runs if run.summary is last for c in summary_copy(run, event))
        self._last_summary = event
        run = self.router.for_summary(event)
        self.router.scheduled(run)
        self.router.seen(run)
        changed = summary(run, event)
        if run.tasks:
            # Builds this one has gone past without a line of theirs were killed before it began: none will end them.
            changed = self._end_incomplete(self.router.gone_past(run)) + changed
        self.router.close(run)
        return changed


_change = Change._make  # a Change of a transition's plain tuple, made only while someone listens

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
