"""Replay: whole files through the same pipeline (parser, model) the live sidecar uses."""

from __future__ import annotations

from datetime import tzinfo

from exporter.pipeline import Pipeline
from exporter.sources.files import read_lines

__all__ = ["replay_file", "replay_into"]


def replay_into(pipeline: Pipeline, path: str) -> None:
    """Feed one whole file and close its builds; raises OSError when the file can't be read."""
    batch = []
    cut = 0
    for line, was_cut in read_lines(path, path):
        batch.append(line)
        cut += was_cut
        if len(batch) >= 4096:
            pipeline.feed(path, batch, cut=cut)
            batch, cut = [], 0
    pipeline.feed(path, batch, cut=cut)
    pipeline.finish(path)


def replay_file(path: str, tz: tzinfo | None = None, expected_tasks: int | None = None) -> Pipeline:
    """A pipeline holding every run of one file (tests and tools)."""
    pipeline = Pipeline(tz=tz, expected_tasks=expected_tasks)
    replay_into(pipeline, path)
    return pipeline
