"""The values a source hands on: one `Line`, or a `Block` of whole lines still in bytes, for the parser; and the
`Position` it has read a path up to, which the store keeps with what those lines produced."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["Block", "Line", "Position", "count_lines", "decode_line"]


class Line(NamedTuple):
    """One physical line of a log, without its line terminator.

    `offset` is the byte offset just past the line in its source, so a store can resume there; `arrival` is the
    wall-clock time the line was read when following a live file or a command (None in replay, where only log times
    count).
    """

    source: str
    offset: int
    text: str
    arrival: float | None = None


class Block(NamedTuple):
    """Whole lines as read from a file or a command's pipe, for the parser's fast path (`Parser.feed_block`): most
    lines of a pipeline's log are its own chatter, which the parser can pass over in bytes without decoding or
    splitting them.

    `end` is the offset just past `data`. The last line may lack its newline only at the end of input. With `cut`,
    `data` is the first MAX_LINE_BYTES of one longer line and `end` is past the whole line. `arrival` is as for
    `Line`, for all of its lines.
    """

    data: bytes
    end: int
    cut: bool = False
    arrival: float | None = None

    def lines(self, source: str) -> list[Line]:
        """The block's lines one by one (as `Parser.feed` takes them)."""
        if self.cut:
            return [Line(source, self.end, decode_line(self.data), self.arrival)]
        raws = self.data.split(b"\n")
        if not raws[-1]:
            raws.pop()  # the block ends with a newline, not with an unterminated line
        lines = []
        offset = self.end - len(self.data)
        for raw in raws:
            offset = min(offset + len(raw) + 1, self.end)
            lines.append(Line(source, offset, decode_line(raw), self.arrival))
        return lines


@dataclass(frozen=True)
class Position:
    """Where reading one path stands, to persist with what its lines produced.

    `identity` is the file object's `device:inode`; `fingerprint` is the hex sha1 of the file's first
    min(`tail.FINGERPRINT_BYTES`, offset) bytes ("" at offset 0): only bytes already handed on, so its length follows
    from `offset` and a restart can check it.
    """

    path: str
    identity: str
    fingerprint: str
    offset: int


def decode_line(raw: bytes | bytearray) -> str:
    """UTF-8 with replacement (a log is never rejected for one bad byte), without a trailing CR or NUL bytes."""
    text = raw.decode("utf-8", errors="replace")
    if text.endswith("\r"):
        text = text[:-1]
    return text.replace("\x00", "") if "\x00" in text else text


def count_lines(data: bytes) -> int:
    """The lines in `data`, the last one perhaps unterminated. Counted by what removing the newlines takes away:
    `bytes.replace` finds them with memchr where `bytes.count` compares byte by byte, and this runs over every byte
    replay reads."""
    return len(data) - len(data.replace(b"\n", b"")) + (data[-1:] not in (b"\n", b""))
