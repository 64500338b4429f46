"""Replay: whole files through the same pipeline (parser, model) the live sidecar uses."""

from __future__ import annotations

from datetime import tzinfo

from exporter.pipeline import Pipeline
from exporter.sources.files import read_lines

__all__ = ["replay_file", "replay_into"]


# A batch ends at this many lines or bytes, whichever comes first: lines near the 1 MiB cap must not pile up.
_BATCH_LINES = 4096
_BATCH_BYTES = 8 << 20


def replay_into(pipeline: Pipeline, path: str) -> None:
    """Feed one whole file and close its builds, committing batch by batch (a store's span outbox stays within its
    bound); raises OSError when the file can't be read."""
    batch = []
    cut = size = 0
    for line, was_cut in read_lines(path, path):
        batch.append(line)
        cut += was_cut
        size += len(line.text)
        if len(batch) >= _BATCH_LINES or size >= _BATCH_BYTES:
            pipeline.feed(path, batch, cut=cut)
            pipeline.commit()
            batch, cut, size = [], 0, 0
    pipeline.feed(path, batch, cut=cut)
    pipeline.finish(path)
    pipeline.commit()


def replay_file(path: str, tz: tzinfo | None = None, expected_tasks: int | None = None) -> Pipeline:
    """A pipeline holding every run of one file (tests and tools)."""
    pipeline = Pipeline(tz=tz, expected_tasks=expected_tasks)
    replay_into(pipeline, path)
    return pipeline
