"""Replay: whole files through the same pipeline (parser, model) the live sidecar uses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo

from exporter.model import Run
from exporter.pipeline import Pipeline
from exporter.sources.files import read_blocks

__all__ = ["replay_file", "replay_into"]


def replay_into(pipeline: Pipeline, path: str, settled: Callable[[list[Run]], None] | None = None) -> None:
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
