"""Pure parser: Luigi log lines in, typed events out.

What Luigi writes is in `exporter.records` (each record quoted once with its origin) and `exporter.summary_block`;
this module holds the state a stream needs: the traceback being collected, the summary block being read, a repr
going on over the next lines, and the last event (to drop the echoes that a second or third handler writes of the
same record). Matching is unanchored within a line, so any handler format works (Luigi's bare `LEVEL: msg`,
`asctime - name - level - msg`, browser prefixes, loguru-style pipes) and so do records glued behind tqdm output.

Lines are read on one path: a line and the mask of the table's phrases it holds (`exporter.prefilter`). `feed` finds
the mask of a line of text; `feed_block` finds the masks of a block's lines in one pass over its bytes and passes over
the lines holding none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import tzinfo
from operator import eq

from exporter.events import (
    BuildStarting,
    Checking,
    CompleteError,
    Event,
    FailureDetail,
    SchedulingError,
    Summary,
    TaskDone,
    TaskFailed,
    TaskNewRequirements,
    TaskStarted,
    WorkerTaskEvent,
)
from exporter.lines import Block, Line, count_lines, decode_line
from exporter.prefilter import RECORD_BITS, bit, held_by_line, held_in, new_scratch, records_held
from exporter.records import CHECKING, CR, ESC, INFORMED, NUL, PID, SUMMARY, WORKER_HEAD, WORKER_TASK
from exporter.summary_block import read_summary
from exporter.timestamps import Timestamps

__all__ = ["Parser"]

# Terminal colours and cursor moves (werkzeug, coloredlogs, tqdm's `\x1b[A`).
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# A browser console's time prefix, `[12:11:03 AM] ` or `[9:56:38 PM]`.
_BROWSER_PREFIX = re.compile(r"^\[\d{1,2}:\d{2}:\d{2}\s?[AP]M\]\s?")
# A record's first line: an optional timestamp, at most two words (logger name, `name:lineno`), then the level.
# `-` both joins words (`luigi-interface`) and separates them (` - `): with plain `[\w.\-]+` words a line of dashes
# (an application's separator) splits into words and separators in O(n^5) ways, and 120 dashes took 7 s. So a word
# starts with a letter, digit or dot and is matched atomically (a lookahead captures it whole, the backreference
# consumes it: Python 3.10 has no possessive quantifiers), and only a line's first HEADER_CHARS are looked at.
_HEADER = re.compile(
    r"^\[?(?:\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[,.]\d+)?)?[\s\-|:\[\]]*"
    r"(?:(?=(?P<word>[\w.][\w.\-]*))(?P=word)(?::\d+)?[\s\-|:\[\]]+){0,2}?"
    r"(?:DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)\b"
)
HEADER_CHARS = 512

_WORKER_KINDS = frozenset((TaskStarted, TaskDone, TaskFailed, TaskNewRequirements))
# Escape sequences at the end of a message: a colour handler's reset after the repr, not part of it.
_TRAILING_ANSI = re.compile(r"(?:\x1b\[[0-9;?]*[A-Za-z])+$")
_TRACEBACK = "Traceback (most recent call last):"

# The events a traceback follows (worker.py:247 logger.exception, :685-693): the lines after them are collected.
_OPENS_DETAIL = frozenset((TaskFailed, CompleteError, SchedulingError))

# Tracebacks longer than this are cut: a sidecar must not buffer without bound.
MAX_DETAIL_LINES = 400
# Nor a traceback or a summary block of long lines (each may be 1 MiB): at most this many characters of each are kept.
MAX_HELD_CHARS = 1 << 18

_SUMMARY = bit(SUMMARY)
_REWRITTEN = bit(CR) | bit(ESC)  # the line is split at its CRs and its colours removed before it is read
_NUL = bit(NUL)
_READ_AGAIN = _REWRITTEN | _NUL  # the line's phrases are looked for again once these are out
_CHECKING = bit(CHECKING)
_INFORMED = bit(INFORMED)
_WORKER = bit(WORKER_TASK)


def _keep_escapes(events: list[Event], raw: str) -> None:
    """Give the reprs of events read from a line without its escape sequences the escapes Luigi wrote inside them
    (a param value in colour): the task id is hashed over the value as it is. A colour handler's own escapes around
    the message are left out."""
    for event in events:
        kind = event.__class__
        if kind in _WORKER_KINDS:
            m = WORKER_TASK.pattern.search(_TRAILING_ANSI.sub("", raw.rstrip()))
            if m is not None and _ANSI.sub("", m[4]) == event.repr:  # type: ignore[attr-defined]
                event.repr = m[4]  # type: ignore[attr-defined]
        elif kind is Checking:
            m = CHECKING.pattern.search(_TRAILING_ANSI.sub("", raw.rstrip()))
            if m is not None and _ANSI.sub("", m[1]) == event.repr:  # type: ignore[attr-defined]
                event.repr = m[1]  # type: ignore[attr-defined]


@dataclass(slots=True)
class _Continued:
    """A record whose repr goes on over the next lines (a param value holding newlines): what was read of it."""

    event: WorkerTaskEvent | None  # the worker line's event as its first line reads (None: a `Checking if` line)
    text: str  # the repr so far (a Checking line's: all after `Checking if `)
    time: float | None
    lines: int = 1


def _balanced(text: str) -> bool:
    """Whether a repr closes every bracket it opens: one that does not goes on over the next line."""
    return text.count("(") <= text.count(")")


class Parser:
    """Turns the lines of one stream into events; one Parser per source, fed in order.

    `tz` is the zone of timestamps written without one (None: the local zone). `feed` never raises on any input.
    """

    def __init__(self, tz: tzinfo | None = None) -> None:
        self._time = Timestamps(tz).of
        self._last_event: Event | None = None
        self._detail: list[str] | None = None
        self._detail_offset = 0
        self._summary: list[str] | None = None
        self._held = 0  # characters kept of the traceback or summary being collected
        self._record_time: float | None = None  # of the latest header or event line: a traceback's or summary's time
        self._skipped: list[tuple[bytes, int, int, float | None]] = []  # lines passed over since then (feed_block)
        self._continued: _Continued | None = None  # a record whose repr spans lines, being read
        self._scratch = new_scratch()
        self.lines_read = 0
        self.lines_unparsed = 0

    def feed(self, line: Line) -> list[Event]:
        self.lines_read += 1
        events: list[Event] = []
        self._read(line.text, line.offset, line.arrival, held_in(line.text), events)
        return events

    def feed_block(self, block: Block, source: str) -> list[Event]:
        """The lines of `block`, read as `feed` reads them one by one: while no traceback, summary or continued repr
        is being read, the lines holding no phrase are passed over in bytes, counted, and only read again if the time
        of the record is needed (`_resolve_skipped`)."""
        data, arrival = block.data, block.arrival
        if block.cut:
            return self.feed(Line(source, block.end, decode_line(data), arrival))
        base, size = block.end - len(data), len(data)
        self.lines_read += count_lines(data)  # each line is passed over or read once
        held_by_start = held_by_line(data, self._scratch)
        starts = sorted(held_by_start)
        starts.append(size)  # a sentinel: the loop below needs no bounds check
        events: list[Event] = []
        read, piece, find, held_at = self._read, self._piece, data.find, held_by_start.get
        k = pos = 0
        while pos < size:
            if self._detail is None and self._summary is None and self._continued is None:  # on to the next holder
                while starts[k] < pos:
                    k += 1
                start = starts[k]
                if start > pos:
                    self._skipped.append((data, pos, start, arrival))
                    if start == size:
                        break
                    pos = start
                k += 1
            stop = find(b"\n", pos)
            if stop == -1:
                stop = size
            held = held_at(pos, 0)
            raw = data[pos:stop]
            text = raw.decode("utf-8", "replace")
            if held & _NUL or text[-1:] == "\r":
                text = decode_line(raw)
            (read if held & _READ_AGAIN else piece)(text, base + stop + (stop < size), arrival, held, events)
            pos = stop + 1
        self._resolve_skipped()  # holds no block past its own
        return events

    def flush(self) -> list[Event]:
        """End of input: hand on what a following line would have completed (a traceback, a cut summary)."""
        events: list[Event] = []
        self._end_continued(events)
        self._end_detail(events)
        if self._summary is not None:
            summary = self._finish_summary(self._detail_offset)
            if summary is not None:
                events.append(summary)
        return events

    def _read(self, text: str, offset: int, arrival: float | None, held: int, events: list[Event]) -> None:
        """One line (`offset` is past it) holding the phrases `held`; its events go to `events`."""
        if held & _NUL:  # `decode_line` took the NULs out: the line may hold other phrases now
            held = held_in(text)
        if not held & _REWRITTEN:
            self._piece(text, offset, arrival, held, events)
            return
        for raw in text.split("\r"):  # a tqdm redraw: each piece is a record of its own
            piece = _ANSI.sub("", raw) if "\x1b" in raw else raw
            if piece:
                first = len(events)
                self._piece(piece, offset, arrival, held_in(piece), events)
                if piece is not raw:
                    _keep_escapes(events[first:], raw)

    def _piece(self, text: str, offset: int, arrival: float | None, held: int, events: list[Event]) -> None:
        """A line, or a piece of one between CRs, without colours: what `_read` says of its line."""
        if self._continued is not None:
            self._continue(text, offset, arrival, held, events)
            return
        stripped = text
        if text[:1] == "[":
            stripped = _BROWSER_PREFIX.sub("", text, count=1)
            if stripped is not text:
                held = held_in(stripped)
        if self._summary is not None:
            if not (held & RECORD_BITS and _HEADER.match(stripped.lstrip()[:HEADER_CHARS])):
                self._summary_line(stripped.strip(), offset, held, events)
                return
            # Luigi writes the block as one record, so a record of Luigi's starting inside it means the block was cut
            # (its writer died mid-write): what it had is handed on and the line read as usual. Without this, a cut
            # summary swallowed every line up to the next build's summary, and that whole build was lost. (Any other
            # record is left in the block: some handlers put a header on every line of a record.)
            self._end_summary(self._finish_summary(self._detail_offset), events)
            self._piece(text, offset, arrival, held, events)
            return
        if held & _SUMMARY:
            self._resolve_skipped()
            self._end_detail(events)
            self._summary, self._held = [], 0
            self._detail_offset = offset
            return
        event = self._match(stripped.rstrip(), offset, arrival, held) if held & RECORD_BITS else None
        if event is not None:
            self._took(event, offset, events)
        else:
            self._no_event(text, stripped, offset, arrival, held, events)

    def _no_event(
        self, text: str, stripped: str, offset: int, arrival: float | None, held: int, events: list[Event]
    ) -> None:
        """A line that makes no event: a header starts a record (ending the traceback before it), any other line may
        be part of a traceback."""
        if _HEADER.match(stripped.lstrip()[:HEADER_CHARS]):
            time = self._time(stripped, arrival)
            self._at(time)
            self._end_detail(events)
            if held & _CHECKING and (start := stripped.find(CHECKING.phrase)) != -1:
                # a repr that goes on over the next lines (see `_continue`)
                self._continued = _Continued(None, stripped[start + len(CHECKING.phrase) :].rstrip(), time)
            return
        if self._detail is not None and len(self._detail) < MAX_DETAIL_LINES:
            self._detail.append(self._hold(text.rstrip()))
            self._detail_offset = offset
        if held & _WORKER and PID.phrase in stripped:
            self.lines_unparsed += 1

    def _took(self, event: Event, offset: int, events: list[Event]) -> None:
        """An event line was read: the traceback before it ends (at its time), and `event` goes to `events` after it
        unless it is a copy (or held, while its repr goes on over the next lines)."""
        self._record_time = event.time  # `_at`, written out: this runs for every event
        self._skipped.clear()
        if self._detail is not None:
            self._end_detail(events)
        if event.__class__ in _WORKER_KINDS and not _balanced(event.repr):  # type: ignore[attr-defined]
            self._continued = _Continued(event, event.repr, event.time)  # type: ignore[arg-type, attr-defined]
            return
        self._accept(event, offset, events)

    def _accept(self, event: Event, offset: int, events: list[Event]) -> None:
        """`event` goes to `events` unless it is a copy of the last; a failure opens its traceback."""
        if self._last_event.__class__ is event.__class__ and self._is_echo(event):  # a copy is of the same kind
            return
        self._last_event = event
        if event.__class__ in _OPENS_DETAIL:
            self._detail, self._held = [], 0
            self._detail_offset = offset
        events.append(event)

    def _continue(self, text: str, offset: int, arrival: float | None, held: int, events: list[Event]) -> None:
        """A line after a record whose repr was left open (Luigi writes a param value's newlines as they are): part of
        that repr, until the repr closes; a header, a traceback or a summary ends the record as its lines read."""
        continued = self._continued
        assert continued is not None
        line = text.rstrip("\r")
        if (
            continued.lines >= MAX_DETAIL_LINES
            or line.startswith(_TRACEBACK)
            or held & _SUMMARY
            or _HEADER.match(line.lstrip()[:HEADER_CHARS])
        ):
            self._end_continued(events)
            self._piece(text, offset, arrival, held, events)
            return
        text = continued.text
        continued.text = self._hold(f"{text}\n{line}") if len(text) < MAX_HELD_CHARS else text
        continued.lines += 1
        if continued.event is not None:
            if _balanced(continued.text.rstrip()):
                self._continued = None
                old = continued.event
                event = old.__class__(continued.time, offset, old.pid, old.worker, continued.text.rstrip())
                self._accept(event, offset, events)
        elif continued.text.endswith(CHECKING.suffix) and _balanced(
            repr_text := continued.text[: -len(CHECKING.suffix)]
        ):
            self._continued = None
            self._accept(Checking(continued.time, offset, repr_text), offset, events)

    def _end_continued(self, events: list[Event]) -> None:
        """The record being continued ends as read so far: a worker line's event as its first line read it."""
        continued, self._continued = self._continued, None
        if continued is not None and continued.event is not None:
            self._accept(continued.event, continued.event.offset, events)

    def _at(self, time: float | None) -> None:
        """A header or event line was read: the record's time is its time, whatever lines were passed over before."""
        self._record_time = time
        self._skipped.clear()

    def _resolve_skipped(self) -> None:
        """Set the record's time from the latest header among the lines passed over since the last one read, as
        reading each of them would have (they hold no CR, ESC or NUL: those lines are candidates)."""
        skipped, self._skipped = self._skipped, []
        for data, start, stop, arrival in reversed(skipped):
            end = stop - 1 if data[stop - 1 : stop] == b"\n" else stop
            while True:
                begin = data.rfind(b"\n", start, end) + 1 or start
                text = decode_line(data[begin:end])
                stripped = _BROWSER_PREFIX.sub("", text, count=1) if text[:1] == "[" else text
                if _HEADER.match(stripped.lstrip()[:HEADER_CHARS]):
                    self._record_time = self._time(stripped, arrival)
                    return
                if begin == start:
                    break
                end = begin - 1

    def _hold(self, text: str) -> str:
        """`text` as far as the block being collected has room left for (MAX_HELD_CHARS in all)."""
        kept = text[: max(0, MAX_HELD_CHARS - self._held)]
        self._held += len(kept)
        return kept

    def _is_echo(self, event: Event) -> bool:
        """A second or third handler writes the same record again right after the first (LUIGI-LOGS.md).

        A copy that carries a time the first lacked is passed on: the model keeps one of them, with the time.
        """
        last = self._last_event
        if last is None or not eq(event, last):  # `!=` would go through object.__ne__ to the same __eq__
            return False
        if event.__class__ is BuildStarting and event.time is not None and last.time is not None:
            return event.time == last.time  # builds starting within a second of each other: each one counts
        if last.time is None:
            return event.time is None
        return event.time is None or abs(event.time - last.time) <= 1.0

    def _end_detail(self, events: list[Event]) -> None:
        detail, self._detail = self._detail, None
        if detail:
            text = "\n".join(detail).strip("\n")
            events.append(FailureDetail(time=self._record_time, offset=self._detail_offset, text=text))

    def _match(self, text: str, offset: int, arrival: float | None, held: int) -> Event | None:
        """The event of a line without trailing blanks (the patterns ending in `$` expect none: linear time, see
        `exporter.records`) holding the phrases `held`: the first record of those whose pattern matches."""
        for search, make in records_held(held):
            m = search(text)
            if m is not None:
                return make(self._time(text, arrival), offset, m)
        # A line of one of Luigi's two commonest records that makes no event: Luigi reworded it, or it was cut.
        if held & _INFORMED or (held & _WORKER and WORKER_HEAD.phrase in text):
            self.lines_unparsed += 1
        return None

    def _summary_line(self, text: str, offset: int, held: int, events: list[Event]) -> None:
        assert self._summary is not None
        self._detail_offset = offset
        if not held & _SUMMARY:
            if len(self._summary) < 10_000:
                self._summary.append(self._hold(text))
            return
        self._end_summary(self._finish_summary(offset), events)

    def _end_summary(self, summary: Summary | None, events: list[Event]) -> None:
        if summary is not None and not self._is_echo(summary):
            self._last_event = summary
            events.append(summary)

    def _finish_summary(self, offset: int) -> Summary | None:
        lines, self._summary = self._summary or [], None
        return read_summary(lines, self._record_time, offset)
