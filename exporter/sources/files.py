"""Whole-file reading for replay: bytes to `Line`s, with offsets, bounded line length and lenient decoding."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from pathlib import Path

from exporter.lines import Block, Line

__all__ = ["MAX_LINE_BYTES", "expand", "is_readable_file", "read_blocks", "read_lines", "run_base_id"]

# A line longer than this is cut and counted, never buffered whole (a 100 MB line must not cost 100 MB).
MAX_LINE_BYTES = 1 << 20
_CHUNK = 1 << 20


def expand(patterns: list[str]) -> list[str]:
    """Expand globs in order; a pattern that matches nothing is kept as is so the caller can report it."""
    paths: list[str] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else []
        paths.extend(matches or [pattern])
    return paths


def run_base_id(path: str) -> str:
    """PlanExe writes `RUN_DIR/log.txt`, one directory per plan: the run is named after its directory."""
    p = Path(path)
    if p.name == "log.txt" and p.parent.name:
        return p.parent.name
    return p.name


def read_blocks(path: str, start: int = 0, end: int | None = None) -> Iterator[Block]:
    """Whole lines of `path` from byte `start` (to `end`) in blocks of about _CHUNK bytes; a last line without newline
    counts. A line longer than MAX_LINE_BYTES comes alone, cut to that length: only its head is ever held."""
    with open(path, "rb") as f:
        f.seek(start)
        offset = start  # just past the last line handed on
        held = b""  # the head of a line that goes on past the chunk read (at most MAX_LINE_BYTES of it)
        length = 0  # that line's length so far
        left = end - start if end is not None else None
        while chunk := f.read(_CHUNK if left is None else min(_CHUNK, left)):
            if left is not None:
                left -= len(chunk)
            whole = chunk.rfind(b"\n") + 1  # lines inside one chunk are shorter than _CHUNK <= MAX_LINE_BYTES
            if length:
                nl = chunk.find(b"\n")
                stop = nl if nl != -1 else len(chunk)
                held += chunk[: max(0, min(stop, MAX_LINE_BYTES - len(held)))]
                length += stop
                if nl == -1:
                    continue
                if length > MAX_LINE_BYTES:
                    offset += length + 1
                    yield Block(held, offset, cut=True)
                    chunk, whole = chunk[nl + 1 :], whole - nl - 1
                else:  # the held line is whole now: one block with the lines after it
                    chunk, whole = held + chunk[nl:], whole - nl + len(held)
                held, length = b"", 0
            if whole:
                offset += whole
                yield Block(chunk[:whole], offset)
            if whole < len(chunk):
                held = chunk[whole : whole + MAX_LINE_BYTES]
                length = len(chunk) - whole
        if length:
            yield Block(held, offset + length, cut=length > MAX_LINE_BYTES)


def read_lines(path: str, source: str, start: int = 0, end: int | None = None) -> Iterator[tuple[Line, bool]]:
    """Yield (line, cut) for every line of `path` from byte `start` (to `end`), as `read_blocks` reads them.

    `cut` is True when the line was longer than MAX_LINE_BYTES and only its head was kept.
    """
    for block in read_blocks(path, start, end):
        for line in block.lines(source):
            yield line, block.cut


def is_readable_file(path: str) -> str | None:
    """None when `path` can be read as a file, else a one-line reason."""
    if not os.path.exists(path):
        return f"{path}: no such file"
    if os.path.isdir(path):
        return f"{path}: is a directory, not a log file"
    if not os.access(path, os.R_OK):
        return f"{path}: permission denied"
    return None
