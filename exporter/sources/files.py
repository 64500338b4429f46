"""Reading files for replay and catch-up: bytes to `Block`s of whole lines, with offsets and bounded line length."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from exporter.lines import Block, Line

__all__ = ["MAX_LINE_BYTES", "LineSplitter", "expand", "is_readable_file", "read_blocks", "read_lines", "run_base_id"]

# A line longer than this is cut and counted, never buffered whole: a line's memory is bounded, whatever its length.
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


@dataclass
class LineSplitter:
    """Chunks of bytes in, Blocks of whole lines out, however the input was cut into chunks: the line a chunk ends
    inside is held (at most MAX_LINE_BYTES of it, whatever its length) until its newline comes. `read_blocks`, the
    tailer and a wrapped command's pipes split with it; chunks must be at most MAX_LINE_BYTES long, so only a held
    line can need cutting."""

    held: bytearray = field(default_factory=bytearray)
    length: int = 0  # the held line's full length so far

    def push(self, chunk: bytes, start: int, arrival: float | None = None) -> list[Block]:
        """The lines `chunk` (read at offset `start`) completes: the held one joins the chunk's first block, or
        comes alone when it is cut."""
        blocks = []
        whole = chunk.rfind(b"\n") + 1
        pos = 0
        if whole and self.length:
            nl = chunk.find(b"\n")
            self._hold(chunk, 0, nl)
            if self.length > MAX_LINE_BYTES:
                blocks.append(self.flush(start + nl + 1, arrival))
                pos = nl + 1
            else:
                blocks.append(Block(bytes(self.held) + chunk[nl:whole], start + whole, arrival=arrival))
                self.held, self.length, pos = bytearray(), 0, whole
        if whole > pos:
            blocks.append(Block(chunk[pos:whole], start + whole, arrival=arrival))
        self._hold(chunk, whole, len(chunk))
        return blocks

    def flush(self, end: int, arrival: float | None = None) -> Block:
        """The held line alone (cut if it was too long), ending at `end`: its newline, or the end of the input."""
        block = Block(bytes(self.held), end, cut=self.length > MAX_LINE_BYTES, arrival=arrival)
        self.held, self.length = bytearray(), 0
        return block

    def _hold(self, chunk: bytes, pos: int, end: int) -> None:
        room = MAX_LINE_BYTES - len(self.held)
        if room > 0:
            self.held += chunk[pos : min(end, pos + room)]
        self.length += end - pos


def read_blocks(path: str, start: int = 0, end: int | None = None) -> Iterator[Block]:
    """Whole lines of `path` from byte `start` (to `end`) in blocks of about _CHUNK bytes; a last line without newline
    counts. A line longer than MAX_LINE_BYTES comes alone, cut to that length: only its head is ever held."""
    splitter = LineSplitter()
    with open(path, "rb") as f:
        f.seek(start)
        offset = start
        left = end - start if end is not None else None
        while chunk := f.read(_CHUNK if left is None else min(_CHUNK, left)):
            if left is not None:
                left -= len(chunk)
            yield from splitter.push(chunk, offset)
            offset += len(chunk)
    if splitter.length:
        yield splitter.flush(offset)


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
