"""Which of the table's phrases (`exporter.records`) each line holds, as a mask of bits: one bit per record, then one
per mark, in table order.

A block of bytes is searched in one Hyperscan pass (`held_by_line`): the lines holding no phrase can make no event
and change nothing but the time of the record being read, so the parser passes over them in bytes. A line of text
(`held_in`) is searched phrase by phrase: the same answer for the same line, checked by tests/test_fast_path.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import hyperscan

from exporter.records import CR, MARKS, RECORDS, Make, Mark, Record

__all__ = ["PHRASES", "RECORD_BITS", "bit", "held_by_line", "held_in", "new_scratch", "records_held"]

PHRASES: tuple[str, ...] = tuple(entry.phrase for entry in (*RECORDS, *MARKS))
RECORD_BITS = (1 << len(RECORDS)) - 1
_BITS = tuple((phrase, 1 << k) for k, phrase in enumerate(PHRASES))
_CR = PHRASES.index(CR.phrase)


def bit(entry: Record | Mark) -> int:
    """The bit of a record or mark in a mask."""
    return 1 << PHRASES.index(entry.phrase)


Search = Callable[[str], re.Match[str] | None]
_BY_MASK: dict[int, tuple[tuple[Search, Make], ...]] = {}  # filled as masks are met: a log holds few


def records_held(held: int) -> tuple[tuple[Search, Make], ...]:
    """The records whose phrases `held` has, in table order: each one's search and what its match makes."""
    held &= RECORD_BITS
    found = _BY_MASK.get(held)
    if found is None:
        found = _BY_MASK[held] = tuple(
            (record.pattern.search if not (record.suffix or record.tails) else record.search, record.event)
            for k, record in enumerate(RECORDS)
            if held >> k & 1
        )
    return found


def held_in(text: str) -> int:
    """The phrases a line of text holds (a CR counts wherever it is: a text line has no line terminator)."""
    held = 0
    for phrase, b in _BITS:
        if phrase in text:
            held |= b
    return held


def _database(words: tuple[bytes, ...]) -> hyperscan.Database:
    """One Hyperscan database finding every one of `words` in a single pass: a bytes.find pass per literal costs
    three times as much. Each byte is written as a `\\xHH` escape: Hyperscan reads a pattern as a C string (a NUL
    would end it) and as a regex (`]`, `.`, `(` mean something there)."""
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    expressions = [b"".join(b"\\x%02x" % c for c in word) for word in words]
    database.compile(expressions=expressions, ids=list(range(len(words))), elements=len(words), flags=[0] * len(words))
    return database


_DATABASE = _database(tuple(phrase.encode() for phrase in PHRASES))


def new_scratch() -> hyperscan.Scratch:
    """Hyperscan's working memory for `held_by_line`: one per parser, so parsers on several threads never share one."""
    return hyperscan.Scratch(_DATABASE)


def held_by_line(data: bytes, scratch: hyperscan.Scratch) -> dict[int, int]:
    """The lines of `data` holding a phrase, by the offset of their start: the phrases each holds. A CR counts only
    where no LF follows it: `decode_line` drops a CRLF line's CR, and the line reads as one without it."""
    hits: list[tuple[int, int]] = []
    _DATABASE.scan(data, match_event_handler=lambda k, _, end, _flags, _context: hits.append((end, k)), scratch=scratch)
    lines: dict[int, int] = {}
    get, rfind = lines.get, data.rfind
    for end, k in hits:
        if k == _CR and data[end : end + 1] == b"\n":
            continue
        start = rfind(b"\n", 0, end - 1) + 1
        lines[start] = get(start, 0) | 1 << k
    return lines
