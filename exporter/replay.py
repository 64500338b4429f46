"""Replay: read whole files through the same parser and model the live sidecar uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo

from exporter.model import Book, Run
from exporter.parse import Parser
from exporter.sources.files import read_lines, run_base_id

__all__ = ["Replay", "replay_file"]


@dataclass
class Replay:
    runs: list[Run] = field(default_factory=list)
    lines_read: int = 0
    lines_unparsed: int = 0
    lines_cut: int = 0


def replay_file(
    path: str, tz: tzinfo | None = None, expected_tasks: int | None = None, into: Replay | None = None
) -> Replay:
    """Reconstruct every run of one file; raises OSError when the file can't be read."""
    result = into if into is not None else Replay()
    parser = Parser(tz)
    book = Book(path, run_base_id(path), expected_tasks)
    for line, cut in read_lines(path, path):
        result.lines_cut += cut
        for event in parser.feed(line):
            book.apply(event)
    for event in parser.flush():
        book.apply(event)
    book.finish()
    result.runs.extend(book.runs)
    result.lines_read += parser.lines_read
    result.lines_unparsed += parser.lines_unparsed
    return result
