"""Replay: whole files through the same pipeline (parser, model) the live sidecar uses, and `--json`'s document."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import tzinfo
from typing import TextIO

from exporter.contract import error_line, run_counts, run_dict, to_json
from exporter.controls import printable
from exporter.model import Run, TaskState, task_error
from exporter.pipeline import Pipeline
from exporter.sources.files import read_blocks

__all__ = ["JsonRuns", "Settled", "print_run", "replay_file", "replay_into"]

Settled = Callable[[list[Run]], None]


def replay_into(pipeline: Pipeline, path: str, settled: Settled | None = None) -> None:
    """Feed one whole file and close its builds, committing block by block (a store's span outbox stays within its
    bound); raises OSError when the file can't be read. Given `settled`, the runs that have ended for good go to it
    in `pipeline.runs()` order as they do, and leave the model (which then holds a few runs, not every file's)."""
    for block in read_blocks(path):
        pipeline.feed_blocks(path, [block])
        pipeline.commit()
        if settled is not None:
            settled(pipeline.take_settled())
    pipeline.finish(path)
    pipeline.commit()
    if settled is not None:
        settled(pipeline.take_settled())


def replay_file(path: str, tz: tzinfo | None = None, expected_tasks: int | None = None) -> Pipeline:
    """A pipeline holding every run of one file (tests and tools)."""
    pipeline = Pipeline(tz=tz, expected_tasks=expected_tasks)
    replay_into(pipeline, path)
    return pipeline


class JsonRuns:
    """`replay --json`'s document written a run at a time, as runs settle: byte for byte what `to_json` gives for
    `{"runs": [...], "lines_read": N, "lines_unparsed": M}` written at once."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.written = 0

    def write(self, runs: Iterable[Run]) -> None:
        for run in runs:
            self.write_json(to_json(run_dict(run)))

    def write_json(self, text: str) -> None:
        """A run's document already in JSON (`Documents.as_json`)."""
        self._out.write(("," if self.written else '{"runs":[') + text)
        self.written += 1

    def end(self, lines_read: int, lines_unparsed: int) -> None:
        counts = f'"lines_read":{lines_read},"lines_unparsed":{lines_unparsed}}}'
        self._out.write(f"],{counts}\n" if self.written else f'{{"runs":[],{counts}\n')


def print_run(run: Run) -> None:
    """Plain `replay`'s text of a run: its line, then each failed task's last error line."""
    print(printable(_run_line(run)))
    for task in run.tasks.values():
        state = task.state
        if state is TaskState.FAILED:
            print(printable(f"    failed  {task.family}: {error_line(task_error(task, state)).strip()}"))


def _run_line(run: Run) -> str:
    c = run_counts(run)
    parts = [
        f"{run.run_id}: {run.pipeline or '?'} {run.status.value}",
        f"{c['tasks_completed']} of {c['tasks_total']} complete ({c['tasks_done']} ran, "
        f"{c['tasks_already_done']} already done)",
    ]
    for key in ("tasks_failed", "tasks_running", "tasks_upstream_failed", "tasks_pending"):
        if c[key]:
            parts.append(f"{c[key]} {key.removeprefix('tasks_').replace('_', ' ')}")
    return ", ".join(parts)
