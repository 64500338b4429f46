"""Luigi builds as the typed events the parser makes of their logs, built by hand for the core's unit tests (no
files, no threads): each helper gives the events one Luigi step writes, in Luigi's order. Ids are Luigi's own
(`luigi.task.task_id_str`), reprs are `Task.__repr__`'s format."""

from __future__ import annotations

from dataclasses import dataclass, field

import luigi.task

from exporter.events import (
    Checking,
    DoneScheduling,
    Event,
    FailureDetail,
    Informed,
    RunningWorker,
    Summary,
    TaskDone,
    TaskFailed,
    TaskStarted,
    WorkerStopped,
)

WORKER = "Worker(salt=1234, workers=1, host=build-1, username=luigi, pid=100)"


@dataclass(frozen=True)
class T:
    """A task of a hand-built build: its family and params (serialized, as Luigi logs them)."""

    family: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return luigi.task.task_id_str(self.family, self.params)

    @property
    def repr(self) -> str:
        return f"{self.family}({', '.join(f'{k}={v}' for k, v in self.params.items())})"


def scheduled(*tasks: T, status: str = "PENDING", at: float = 0.0) -> list[Event]:
    """The dependency walk over `tasks`: each checked, then informed (PENDING, or DONE when complete already)."""
    events: list[Event] = []
    for task in tasks:
        events += [Checking(at, repr=task.repr), Informed(at, task_id=task.id, status=status)]
    return events


def worker_starts(at: float = 0.0, processes: int = 1) -> list[Event]:
    return [DoneScheduling(at), RunningWorker(at, processes=processes)]


def runs(task: T, start: float, end: float, pid: int = 101, worker: str = WORKER) -> list[Event]:
    """One attempt that succeeds."""
    return [
        TaskStarted(start, pid=pid, worker=worker, repr=task.repr),
        TaskDone(end, pid=pid, worker=worker, repr=task.repr),
        Informed(end, task_id=task.id, status="DONE"),
    ]


def fails(task: T, start: float, end: float, error: str, pid: int = 101, worker: str = WORKER) -> list[Event]:
    """One attempt that raises: its traceback follows the `failed` line."""
    return [
        TaskStarted(start, pid=pid, worker=worker, repr=task.repr),
        TaskFailed(end, pid=pid, worker=worker, repr=task.repr),
        FailureDetail(end, text=error),
        Informed(end, task_id=task.id, status="FAILED"),
    ]


def ends(at: float, scheduled: int, smiley: str = ":)", worker: str = WORKER, **counts: int) -> list[Event]:
    """The worker stops, then Luigi's summary: `scheduled` tasks, these counts per category."""
    summary = Summary(at, scheduled=scheduled, counts=tuple(counts.items()), smiley=smiley)
    return [WorkerStopped(at, worker=worker), summary]
