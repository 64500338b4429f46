"""The values a source hands to the parser: one `Line`, or a `Block` of whole lines still in bytes."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Block", "Line", "decode_line"]


class Line(NamedTuple):
    """One physical line of a log, without its line terminator.

    `offset` is the byte offset just past the line in its source, so a store can resume there; `arrival` is the
    wall-clock time the line was read when following a live file (None in replay, where only log times count).
    """

    source: str
    offset: int
    text: str
    arrival: float | None = None


class Block(NamedTuple):
    """Whole lines of a file as read, for the parser's fast path (`Parser.feed_block`): most lines of a pipeline's
    log are its own chatter, which the parser can pass over in bytes without decoding or splitting them.

    `end` is the offset just past `data`. The last line may lack its newline only at the end of input. With `cut`,
    `data` is the first MAX_LINE_BYTES of one longer line and `end` is past the whole line.
    """

    data: bytes
    end: int
    cut: bool = False


def decode_line(raw: bytes | bytearray) -> str:
    """UTF-8 with replacement (a log is never rejected for one bad byte), without a trailing CR or NUL bytes."""
    text = raw.decode("utf-8", errors="replace")
    if text.endswith("\r"):
        text = text[:-1]
    return text.replace("\x00", "") if "\x00" in text else text
