"""Which build of one source an event belongs to, asked in constant time however many builds came before.

Luigi's scheduler-side lines (`Informed scheduler ...`, `Checking if ...`) carry no worker identity, so builds
interleaved in one file (several processes, a central scheduler) are told apart by what each build is doing: the one
still scheduling, the one that just finished a task and awaits its `Informed` line, the one that holds the task.
Worker lines carry the worker, and that claims a build for good. The router owns the indexes these questions read;
the runs' state is the model's (`exporter.model`), changed by `exporter.transitions`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from exporter.events import RESULT_STATUSES, Summary, TaskStatus
from exporter.model import Retry, Run, TaskState

__all__ = ["Router"]


class Router:
    """The runs of one source in file order, with indexes over the open ones (not ended yet).

    Each open run is in `_open`; the indexes below hold open runs only and lose a run when it ends (`close`), so
    their size is the number of builds running at once, never the number read.
    """

    def __init__(self, source: str, base_id: str, expected_tasks: int | None) -> None:
        self.source = source
        self.base_id = base_id
        self.expected_tasks = expected_tasks
        self.runs: list[Run] = []  # held runs, file order (ended ones until dropped)
        self.numbered = 0  # runs made so far, dropped ones included: `#n` run ids go on counting after a drop
        self.retry: Retry | None = None  # what the next run made retries (`Pipeline.retry`)
        self._open: dict[int, Run] = {}  # id(run) -> run, in the order the runs began
        self._scheduling: dict[int, Run] = {}  # open runs still in their dependency walk
        self._workerless: dict[int, Run] = {}  # open runs no worker line has claimed yet
        self._by_worker: dict[str, Run] = {}
        self._holders: dict[str, list[Run]] = {}  # task id -> open runs holding it
        self._awaiting: dict[str, list[Run]] = {}  # task id -> open runs awaiting its `Informed DONE|FAILED`
        self._seq = 0  # events routed so far
        self._began: dict[int, int] = {}  # id(open run) -> the event it began at
        self._last: dict[int, int] = {}  # id(open run) -> its latest event
        # What tells builds scheduling at once apart (several clients of one central scheduler, one file): the params
        # every Checking repr of each shares (its signature).
        self._signature: dict[int, frozenset[tuple[str, str]]] = {}
        self._done_scheduling: list[Run] = []  # runs that said `Done scheduling tasks`, awaiting `Running Worker`
        self._stopped: list[Run] = []  # runs whose worker said "was stopped", awaiting their summary, oldest first
        # Builds that announced themselves (`BuildStarting`) and have written no Checking line yet: the events they
        # came at, forgotten after _STARTING_EVENTS (a build that scheduled nothing must not split a later one).
        self._starting: deque[int] = deque()

    # -- runs ----------------------------------------------------------------------------------------------------

    def run_id(self, n: int) -> str:
        """The id of the n-th run of this source (from 1)."""
        return self.base_id if n == 1 else f"{self.base_id}#{n}"

    def new_run(self) -> Run:
        self.numbered += 1
        run = Run(run_id=self.run_id(self.numbered), source=self.source, expected_tasks=self.expected_tasks)
        run.retry, self.retry = self.retry, None
        self.runs.append(run)
        key = id(run)
        self._open[key] = self._scheduling[key] = self._workerless[key] = run
        self._began[key] = self._last[key] = self._seq
        return run

    def open_runs(self) -> list[Run]:
        """The open runs, in the order they began (a list: the caller may close them as it goes)."""
        return list(self._open.values())

    def has_open(self) -> bool:
        return bool(self._open)

    def last_open(self) -> Run | None:
        return next(reversed(self._open.values()), None)

    def seen(self, run: Run) -> None:
        """An event of `run` was applied (its latest event: `gone_past`)."""
        self._seq += 1
        if id(run) in self._last:
            self._last[id(run)] = self._seq

    def close(self, run: Run) -> None:
        """`run` has ended (its summary, or concluded): it leaves every index and takes no more scheduler lines."""
        if run in self._stopped:  # a run ended already may have been stopped by a late line of its worker
            self._stopped.remove(run)
        key = id(run)
        if self._open.pop(key, None) is None:
            return
        self._scheduling.pop(key, None)
        self._workerless.pop(key, None)
        self._began.pop(key, None)
        self._last.pop(key, None)
        self._signature.pop(key, None)
        if run in self._done_scheduling:
            self._done_scheduling.remove(run)
        for task_id in run.tasks:
            _remove(self._holders, task_id, run)
        for task_id in run.awaiting:
            _remove(self._awaiting, task_id, run)

    def drop(self, runs: Iterable[Run]) -> None:
        """Forget runs (written out, or stored and past retention): a dropped run takes no more lines."""
        gone = {id(run): run for run in runs}
        if not gone:
            return
        for run in gone.values():
            self.close(run)
        self.runs = [run for run in self.runs if id(run) not in gone]
        self._by_worker = {w: run for w, run in self._by_worker.items() if id(run) not in gone}

    def gone_past(self, ended: Run) -> list[Run]:
        """Open runs that began before `ended` and wrote nothing since it began: builds killed before it started
        (one file, builds one after another), which no line will ever end."""
        began = self._began.get(id(ended))
        if began is None:
            return []
        return [
            run
            for key, run in self._open.items()
            if run is not ended and self._began[key] < began and self._last[key] <= began
        ]

    # -- the indexes the book keeps up to date ----------------------------------------------------------------------

    def scheduled(self, run: Run) -> None:
        """`run`'s dependency walk is over."""
        run.scheduling = False
        self._scheduling.pop(id(run), None)

    def holds(self, run: Run, task_id: str) -> None:
        """`run` has a task of that id (just added)."""
        if id(run) in self._open:
            self._holders.setdefault(task_id, []).append(run)

    def awaits(self, run: Run, task_id: str) -> None:
        """`run`'s worker finished the task: its `Informed ... DONE|FAILED` line is the run's."""
        if task_id not in run.awaiting:
            run.awaiting.add(task_id)
            if id(run) in self._open:
                self._awaiting.setdefault(task_id, []).append(run)

    def informed(self, run: Run, task_id: str) -> None:
        if task_id in run.awaiting:
            run.awaiting.discard(task_id)
            _remove(self._awaiting, task_id, run)

    def stopped(self, run: Run) -> None:
        """`run`'s worker stopped: the summary Luigi writes next is the run's (`for_summary`)."""
        if run not in self._stopped:
            self._stopped.append(run)

    def starting(self) -> None:
        """A build announced itself (Luigi set up its logging): its first Checking line starts a run of its own."""
        self._starting.append(self._seq)

    def signature(self, run: Run) -> frozenset[tuple[str, str]]:
        """The params every Checking repr of an open run shares."""
        return self._signature.get(id(run), frozenset())

    # -- questions ---------------------------------------------------------------------------------------------------

    def scheduling_run(self) -> Run | None:
        """The latest open run still scheduling."""
        return next(reversed(self._scheduling.values()), None)

    def with_task(self, task_id: str) -> Run | None:
        """The latest open run holding the task."""
        holders = self._holders.get(task_id)
        return holders[-1] if holders else None

    def workerless(self) -> Run | None:
        """The run a `Running Worker` line belongs to: interface.py logs it right after `Done scheduling tasks`, so
        the oldest run that said that and has no such line yet; else the open run without one that wrote last."""
        while self._done_scheduling:
            run = self._done_scheduling.pop(0)
            if id(run) in self._open and run.processes is None:
                return run
        free = [r for r in self._workerless.values() if r.processes is None]
        return max(free, key=lambda run: self._last[id(run)], default=None)

    def done_scheduling(self) -> Run | None:
        """The run a `Done scheduling tasks` line ends: of those scheduling, the one that wrote last (the line comes
        right after a build's last `Informed`) among those whose walk is over, else among all.

        Luigi's worker checks a task when it finds it (`Checking if`) and informs the scheduler when it takes it
        from its queue, so a build's walk is over once it has informed every task it checked; one with a checked
        task still to inform is walking, though it may have written after the build that is done (many clients of
        one scheduler writing one file).
        """
        scheduling = self._scheduling.values()
        over = [run for run in scheduling if len(run.checked) <= len(run.tasks)]
        run = max(over or scheduling, key=lambda run: self._last[id(run)], default=None)
        if run is not None:
            self.scheduled(run)
            self._done_scheduling.append(run)
        return run

    def for_worker(self, worker: str, repr_text: str | None) -> Run:
        """The run of a worker line: its worker's, else the first build without a worker that holds the task the
        line's repr names (None: a line naming none), else the oldest without a worker (builds interleaved in one
        file start their workers in the order they scheduled)."""
        run = self._by_worker.get(worker)
        if run is not None:
            return run
        self._done_scheduling = [r for r in self._done_scheduling if r.processes is None and r.worker is None]
        free = self._workerless.values()
        holder = None
        if repr_text is not None:
            holder = next((r for r in free if r.index.find(repr_text, r.tasks) is not None), None)
        run = holder or next((r for r in free if not r.scheduling), None) or next(iter(free), None) or self.new_run()
        run.worker = worker
        self._workerless.pop(id(run), None)
        self.scheduled(run)
        self._by_worker[worker] = run
        return run

    def for_informed(self, task_id: str, status: TaskStatus) -> Run:
        ending = status in RESULT_STATUSES
        scheduling = self.scheduling_run()
        # A build walking its dependencies logs `Checking if X` right before it informs X's status: the build that
        # checked X is X's, among builds scheduling at once, and before a run that awaits X (its worker finished X),
        # which lost that line to a build started after it (killed, then resumed).
        checked = next(
            (r for r in reversed(self._scheduling.values()) if task_id not in r.tasks and r.index.checked(task_id)),
            None,
        )
        if checked is not None:
            return checked
        if ending:
            awaiting = self._awaiting.get(task_id)
            if awaiting:
                return awaiting[0]
        if scheduling is not None:
            return scheduling
        for run in reversed(self._open.values()):
            if run.reschedule_open and (run.reschedule_new or task_id in run.tasks):
                return run
        for run in reversed(self._holders.get(task_id, ())):
            task = run.tasks[task_id]
            if status in task.statuses:
                return run  # an echo of a line already applied, its copies parted by another process's line
            if ending and task.state is TaskState.PENDING:
                return run  # a multiprocess build whose children's lines were lost (spawn start method)
        return self.new_run()

    def for_summary(self, summary: Summary) -> Run:
        """The run a summary ends: Luigi writes it right after its worker stopped, so a run whose worker stopped;
        of several (builds ending at once in one file), the one whose shared params the summary's lists name most,
        else the first to stop; else the latest open run (a log cut before the worker's line), else a new one."""
        stopped = [run for run in self._stopped if run.summary is None]
        if len(stopped) > 1:
            listed = "\n".join(line for _, lines in summary.families for line in lines)
            return max(stopped, key=lambda run: sum(f"{k}={v}" in listed for k, v in self.signature(run)))
        return next(iter(stopped), None) or self.last_open() or self.new_run()

    def for_checking(self, repr_text: str, params: dict[str, str]) -> Run:
        run = self._scheduling_for(frozenset(params.items())) if self._scheduling else None
        if run is not None:
            self._note_checked(run, params)
            return run
        # A build re-adding tasks takes a repr it checked before (after a failure), or any (after new requirements);
        # an unseen repr while only a failure holds the burst open is another build's first line: two builds writing
        # to one file, the second starting while the first has just failed a task (it took the second's tasks).
        for run in reversed(self._open.values()):
            if run.reschedule_open and (run.reschedule_new or repr_text in run.checked):
                return run
        if self._starting:
            self._starting.popleft()
        run = self.new_run()
        self._note_checked(run, params)
        return run

    def _scheduling_for(self, items: frozenset[tuple[str, str]]) -> Run | None:
        """The build still scheduling that a Checking line belongs to, or None for a new build's first line.

        Of several builds scheduling at once (clients of one central scheduler writing one file), the one whose
        shared params the repr has most of (a plan's run dir), else the latest. A build that announced itself
        (`BuildStarting`) and has no line yet takes a repr that has the shared params of no build scheduling.
        """
        best, score = None, -1
        matched = False
        for run in reversed(self._scheduling.values()):
            signature = self._signature.get(id(run))
            shared = len(signature & items) if signature else 0
            matched = matched or bool(signature and signature <= items)
            if shared > score:
                best, score = run, shared
        starting = self._starting
        while starting and starting[0] < self._seq - _STARTING_EVENTS:
            starting.popleft()
        if starting and not matched:
            return None
        return best

    def _note_checked(self, run: Run, params: dict[str, str]) -> None:
        key = id(run)
        if key not in self._open:
            return
        if params:
            items = frozenset(params.items())
            signature = self._signature.get(key)
            self._signature[key] = items if signature is None else signature & items


_STARTING_EVENTS = 10_000


def _remove(index: dict[str, list[Run]], task_id: str, run: Run) -> None:
    runs = index.get(task_id)
    if runs is None:
        return
    runs[:] = [r for r in runs if r is not run]
    if not runs:
        del index[task_id]
