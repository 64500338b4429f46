"""Whole-file reading for replay: bytes to `Line`s, with offsets, bounded line length and lenient decoding."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from pathlib import Path

from exporter.lines import Line

__all__ = ["MAX_LINE_BYTES", "decode_line", "expand", "is_readable_file", "read_lines", "run_base_id"]

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


def read_lines(path: str, source: str, start: int = 0, end: int | None = None) -> Iterator[tuple[Line, bool]]:
    """Yield (line, cut) for every line of `path` from byte `start` (to `end`); a last line without newline counts.

    `cut` is True when the line was longer than MAX_LINE_BYTES and only its head was kept.
    """
    with open(path, "rb") as f:
        f.seek(start)
        offset = start
        head = bytearray()
        length = 0
        left = end - start if end is not None else None
        while chunk := f.read(_CHUNK if left is None else min(_CHUNK, left)):
            if left is not None:
                left -= len(chunk)
            pos = 0
            while True:
                nl = chunk.find(b"\n", pos)
                stop = nl if nl != -1 else len(chunk)
                room = MAX_LINE_BYTES - len(head)
                if room > 0:
                    head += chunk[pos : min(stop, pos + room)]
                length += stop - pos
                if nl == -1:
                    offset += len(chunk) - pos
                    break
                offset += nl + 1 - pos
                yield Line(source, offset, decode_line(head)), length > MAX_LINE_BYTES
                head, length = bytearray(), 0
                pos = nl + 1
        if length:
            yield Line(source, offset, decode_line(head)), length > MAX_LINE_BYTES


def decode_line(raw: bytes | bytearray) -> str:
    """UTF-8 with replacement (a log is never rejected for one bad byte), without a trailing CR or NUL bytes."""
    text = raw.decode("utf-8", errors="replace")
    if text.endswith("\r"):
        text = text[:-1]
    return text.replace("\x00", "") if "\x00" in text else text


def is_readable_file(path: str) -> str | None:
    """None when `path` can be read as a file, else a one-line reason."""
    if not os.path.exists(path):
        return f"{path}: no such file"
    if os.path.isdir(path):
        return f"{path}: is a directory, not a log file"
    if not os.access(path, os.R_OK):
        return f"{path}: permission denied"
    return None
