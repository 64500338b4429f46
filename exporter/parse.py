"""Pure parser: Luigi log lines in, typed events out.

Every Luigi string we rely on is quoted here once, with the line of Luigi 3.8.1 that writes it. Matching is
unanchored within a line, so any handler format works (Luigi's bare `LEVEL: msg`, `asctime - name - level - msg`,
browser prefixes, loguru-style pipes) and so do records glued behind tqdm output. The parser keeps only the state a
stream needs: the traceback being collected, the summary block being read, and the last event (to drop the echoes
that a second or third handler writes of the same record).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import tzinfo
from operator import eq

import hyperscan

from exporter.events import (
    BuildStarting,
    Checking,
    CompleteError,
    Died,
    DoneScheduling,
    Event,
    FailureDetail,
    Informed,
    MissingData,
    RunningWorker,
    SchedulerDisabled,
    SchedulerRetry,
    SchedulingError,
    Summary,
    TaskDone,
    TaskFailed,
    TaskNewRequirements,
    TaskStarted,
    TimedOut,
    WorkerStopped,
    WorkerTaskEvent,
)
from exporter.lines import Block, Line, count_lines, decode_line
from exporter.summary_block import SUMMARY_MARK, read_summary
from exporter.timestamps import Timestamps

__all__ = ["Parser", "worker_process"]

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

# Every pattern below must run in time linear in the line, which may be MAX_LINE_BYTES (1 MiB) of anything: no
# lazy group before `\s*$` (a run of blanks inside the line is rescanned at every step; `_match` strips the line
# and the patterns end in a bare `$`), no `\S+` that can start anywhere inside a long word (`(?<!\S)`), no
# `[^)]*` that rescans to the line's end from each of many starts (`[^()]*`), and no `(.+)` before a tail the line
# lacks from each of many starts (`_match` checks for the tail first and ends the search there). A 20 KB line
# took 10 s before; 1 MiB would have taken hours.
# worker.py:625  logger.info("Informed scheduler that task   %s   has status   %s", task_id, status)
_INFORMED = re.compile(r"Informed scheduler that task\s+(\S+)\s+has status\s+(\w+)")
# worker.py:173,230,234,247  "[pid %s] Worker %s running   %s" / "new requirements      %s" / "done      %s" /
# "failed    %s"; the worker id is worker.py:673 "Worker(salt=..., workers=N, host=..., username=..., pid=M)".
_WORKER_TASK = re.compile(r"\[pid (\d+)\] Worker (Worker\([^()]*\)) (running|done|failed|new requirements)\s+(.*)$")
_WORKER_EVENTS: dict[str, type[WorkerTaskEvent]] = {
    "running": TaskStarted,
    "done": TaskDone,
    "failed": TaskFailed,
    "new requirements": TaskNewRequirements,
}
# setup_logging.py:52,57,63,69,75,81  logger.info("logging already configured") / "logging disabled in settings" /
# "logging configured via special settings" / "via *.conf file" / "via config section" / "by default settings":
# once per luigi.build (interface._schedule_and_run), before its first Checking line.
_BUILD_STARTING = re.compile(r"\blogging (?:already configured|disabled in settings|configured (?:via|by) )")
# worker.py:438  logger.debug("Checking if %s is complete", task)
_CHECKING = re.compile(r"Checking if (.+) is complete$")
# interface.py:137  logger.info("Done scheduling tasks")
_DONE_SCHEDULING = "Done scheduling tasks"
# worker.py:1208  logger.info("Running Worker with %d processes", self.worker_processes)
_RUNNING_WORKER = re.compile(r"Running Worker with (\d+) processes")
# worker.py:518  "Worker %s was stopped. Shutting down Keep-Alive thread"
_STOPPED = re.compile(r"Worker (Worker\([^()]*\)) was stopped\. Shutting down Keep-Alive thread")
# worker.py:1070  "Task {} died unexpectedly with exit code {}"
_DIED = re.compile(r"Task (\S+) died unexpectedly with exit code (-?\d+)")
# worker.py:1074  "Task {} timed out after {} seconds and was terminated."
_TIMED_OUT = re.compile(r"Task (\S+) timed out after ([\d.]+) seconds and was terminated")
# worker.py:870  "Data for %s does not exist (yet?). The task is an external data dependency, so it cannot be run..."
_MISSING_TAIL = " does not exist (yet?). The task is an external data dependency"
_MISSING = re.compile(r"Data for (.+)" + re.escape(_MISSING_TAIL))
# worker.py:685,689  "Will not run {task} or any dependencies due to error in complete() method:\n{tb}" (and deps())
_COMPLETE_ERROR_TAILS = tuple(f" or any dependencies due to error in {m}() method" for m in ("complete", "deps"))
_COMPLETE_ERROR = re.compile(r"Will not run (.+) or any dependencies due to error in (?:complete|deps)\(\) method")
# worker.py:693  logger.exception("Luigi unexpected framework error while scheduling %s", task)
_SCHEDULING_ERROR = re.compile(r"Luigi unexpected framework error while scheduling (.+)$")
# scheduler.py:331  "%s task num failures is %s and limit is %s"
_RETRY = re.compile(r"(?<!\S)(\S+) task num failures is (\d+) and limit is (\d+)")
# scheduler.py:333  "%s task num failures limit(%s) is exceeded"
_DISABLED = re.compile(r"(?<!\S)(\S+) task num failures limit\((\d+)\) is exceeded")
# A phrase of every pattern above (`_match` tests each before its pattern): a record of Luigi's starts inside a
# summary block only on a line holding one.
_LUIGI_WORDS = re.compile(
    r"Informed sch|\] Worker Worker\(|Checking if|Done scheduling|Running Worker|was stopped\.|died unexp"
    r"|timed out after|does not exist \(yet|Will not run|framework error while|task num failures"
)

# What `feed_block` looks for first, all in one Hyperscan pass per block (`_candidate_lines`): every line that can make
# an event, be counted unparsed or open a summary holds one of these, after `Parser._read` splits a line on CRs and
# drops its colours too (hence the bytes it removes). While no traceback, summary or continued repr is being read, the
# lines between are passed over in bytes: they can only move the time of the record (`_skipped`). The phrases after the
# first three are the longest text their pattern requires; the first three also mark the lines counted unparsed. A line
# read in full costs ~5 us, so precise literals pay.
_CANDIDATES = (
    b"Informed sch",
    b"] Worker ",
    b"Checking if",
    _DONE_SCHEDULING.encode(),
    b"Running Worker with ",
    b" was stopped. Shutting down Keep-Alive thread",
    b" died unexpectedly with exit code ",
    b" seconds and was terminated",
    b" task num failures ",
    _MISSING_TAIL.encode(),
    b" or any dependencies due to error in ",
    b"Luigi unexpected framework error while scheduling ",
    b"logging already configured",
    b"logging disabled in settings",
    b"logging configured ",
    b"===== Luigi Execution Summary",
    b"\x00",
    b"\r",
    b"\x1b",
)
_QUICK_KINDS = 3  # the first three: Informed, worker and Checking lines, most of Luigi's (`Parser._quick`)

_WORKER_KINDS = frozenset(_WORKER_EVENTS.values())
# Escape sequences at the end of a message: a colour handler's reset after the repr, not part of it.
_TRAILING_ANSI = re.compile(r"(?:\x1b\[[0-9;?]*[A-Za-z])+$")
_TRACEBACK = "Traceback (most recent call last):"

# The events a traceback follows (worker.py:230 logger.exception, :685-693): the lines after them are collected.
_OPENS_DETAIL = frozenset((TaskFailed, CompleteError, SchedulingError))

# Tracebacks longer than this are cut: a sidecar must not buffer without bound.
MAX_DETAIL_LINES = 400
# Nor a traceback or a summary block of long lines (each may be 1 MiB): at most this many characters of each are kept.
MAX_HELD_CHARS = 1 << 18


def _tail_end(text: str, tails: tuple[str, ...]) -> int:
    """Where the last of `tails` ends in text (0: none): `(.+)TAIL` searched up to there succeeds at its first start."""
    return max((i + len(tail) for tail in tails if (i := text.rfind(tail)) != -1), default=0)


def _scanner(words: tuple[bytes, ...]) -> hyperscan.Database:
    """One Hyperscan database finding every one of `words` in a single pass: a bytes.find pass per literal cost
    three times as much on the benchmark's log. Each byte is written as a `\\xHH` escape: Hyperscan reads a pattern
    as a C string (a NUL would end it) and as a regex (`]`, `.`, `(` mean something there)."""
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    expressions = [b"".join(b"\\x%02x" % c for c in word) for word in words]
    database.compile(expressions=expressions, ids=list(range(len(words))), elements=len(words), flags=[0] * len(words))
    return database


_SCANNER = _scanner(_CANDIDATES)
_CR = _CANDIDATES.index(b"\r")


# worker.py:673  "Worker(salt=%s, workers=%d, host=%s, username=%s, pid=%s)": the build's main process.
_WORKER_ID = re.compile(r"host=([^,()]*), username=[^()]*, pid=(\d+)\)$")


def worker_process(worker: str) -> tuple[str, int] | None:
    """The host and pid of a worker id (`WorkerTaskEvent.worker`), if it has them."""
    m = _WORKER_ID.search(worker)
    return (m[1], int(m[2])) if m else None


def _keep_escapes(events: list[Event], raw: str) -> None:
    """Give the reprs of events read from a line without its escape sequences the escapes Luigi wrote inside them
    (a param value in colour): the task id is hashed over the value as it is. A colour handler's own escapes around
    the message are left out."""
    for event in events:
        kind = event.__class__
        if kind in _WORKER_KINDS:
            m = _WORKER_TASK.search(_TRAILING_ANSI.sub("", raw.rstrip()))
            if m is not None and _ANSI.sub("", m[4]) == event.repr:  # type: ignore[attr-defined]
                event.repr = m[4]  # type: ignore[attr-defined]
        elif kind is Checking:
            m = _CHECKING.search(_TRAILING_ANSI.sub("", raw.rstrip()))
            if m is not None and _ANSI.sub("", m[1]) == event.repr:  # type: ignore[attr-defined]
                event.repr = m[1]  # type: ignore[attr-defined]


def _candidate_lines(data: bytes, scratch: hyperscan.Scratch) -> dict[int, int]:
    """The lines of `data` that hold one of _CANDIDATES (a CR only when not before LF: a CRLF line's CR is dropped by
    `decode_line`, so Windows logs keep the fast path), by offset of their start: the index of the one candidate a
    line holds when it is one of the first three (`Parser._quick` reads such a line), else -1."""
    hits: list[tuple[int, int]] = []
    _SCANNER.scan(data, match_event_handler=lambda k, _, end, _flags, _context: hits.append((end, k)), scratch=scratch)
    lines: dict[int, int] = {}
    get, rfind = lines.get, data.rfind
    for end, k in hits:
        if k == _CR and data[end : end + 1] == b"\n":
            continue
        start = rfind(b"\n", 0, end - 1) + 1
        kind = k if k < _QUICK_KINDS else -1
        seen = get(start)
        lines[start] = kind if seen is None or seen == kind else -1
    return lines


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
        self._scratch = hyperscan.Scratch(_SCANNER)  # Hyperscan's working memory: one per parser, for threads
        self.lines_read = 0
        self.lines_unparsed = 0

    def feed(self, line: Line) -> list[Event]:
        self.lines_read += 1
        return self._read(line.text, line.offset, line.arrival)

    def _read(self, text: str, offset: int, arrival: float | None) -> list[Event]:
        """`feed` of a line's fields, uncounted (feed_block makes no Line of the lines it reads, and counts them
        all at once)."""
        if "\r" not in text and "\x1b" not in text:
            return self._piece(text, offset, arrival)
        events: list[Event] = []
        for raw in text.split("\r"):  # a tqdm redraw: each piece is a record of its own
            piece = _ANSI.sub("", raw) if "\x1b" in raw else raw
            if piece:
                read = self._piece(piece, offset, arrival)
                if piece is not raw:
                    _keep_escapes(read, raw)
                events += read
        return events

    def feed_block(self, block: Block, source: str) -> list[Event]:
        """The lines of `block`, read as `feed` reads them one by one, but faster: while no traceback or summary is
        being read, lines without any of _CANDIDATES are passed over in bytes, counted, and only read again if the
        time of the record is needed (`_resolve_skipped`); a line holding one of the commonest phrases alone is
        read by `_quick`."""
        data, arrival = block.data, block.arrival
        if block.cut:
            return self.feed(Line(source, block.end, decode_line(data), arrival))
        base, size = block.end - len(data), len(data)
        self.lines_read += count_lines(data)  # each line is passed over or read once
        kinds = _candidate_lines(data, self._scratch)
        starts = sorted(kinds)
        starts.append(size)  # a sentinel: the loop below needs no bounds check
        events: list[Event] = []
        read, find = self._read, data.find
        k = pos = 0
        while pos < size:
            kind = -1
            if self._detail is None and self._summary is None and self._continued is None:  # on to the next candidate
                while starts[k] < pos:
                    k += 1
                start = starts[k]
                if start > pos:
                    self._skipped.append((data, pos, start, arrival))
                    if start == size:
                        break
                    pos = start
                kind = kinds[pos]
                k += 1
            stop = find(b"\n", pos)
            if stop == -1:
                stop = size
            offset = base + stop + (stop < size)  # past the newline, if the line has one
            raw = data[pos:stop]
            # A quick line holds no NUL and no CR but one before its LF, which `_quick` reads past: it needs no
            # `decode_line`.
            if kind != -1 and (event := self._quick(kind, raw.decode("utf-8", "replace"), offset, arrival)) is not None:
                self._took(event, offset, events)
            else:
                events += read(decode_line(raw), offset, arrival)
            pos = stop + 1
        self._resolve_skipped()  # holds no block past its own
        return events

    def flush(self) -> list[Event]:
        """End of input: hand on what a following line would have completed (a traceback, a cut summary)."""
        events = self._end_continued()
        events += self._end_detail()
        if self._summary is not None:
            summary = self._finish_summary(self._detail_offset)
            if summary is not None:
                events.append(summary)
        return events

    def _piece(self, text: str, offset: int, arrival: float | None) -> list[Event]:
        if self._continued is not None:
            return self._continue(text, offset, arrival)
        stripped = _BROWSER_PREFIX.sub("", text, count=1) if text[:1] == "[" else text
        if self._summary is not None:
            if not (_LUIGI_WORDS.search(stripped) and _HEADER.match(stripped.lstrip()[:HEADER_CHARS])):
                return self._summary_line(stripped.strip(), offset)
            # Luigi writes the block as one record, so a record of Luigi's starting inside it means the block was cut
            # (its writer died mid-write): what it had is handed on and the line read as usual. Without this, a cut
            # summary swallowed every line up to the next build's summary, and that whole build was lost. (Any other
            # record is left in the block: some handlers put a header on every line of a record.)
            return self._end_summary(self._finish_summary(self._detail_offset)) + self._piece(text, offset, arrival)
        if SUMMARY_MARK in stripped:
            self._resolve_skipped()
            events = self._end_detail()
            self._summary, self._held = [], 0
            self._detail_offset = offset
            return events
        event = self._match(stripped.rstrip(), offset, arrival)
        if event is None:
            if _HEADER.match(stripped.lstrip()[:HEADER_CHARS]):
                time = self._time(stripped, arrival)
                self._at(time)
                events = self._end_detail()
                start = stripped.find("Checking if ")
                if start != -1:  # a repr that goes on over the next lines (see `_continue`)
                    self._continued = _Continued(None, stripped[start + len("Checking if ") :].rstrip(), time)
                return events
            if self._detail is not None and len(self._detail) < MAX_DETAIL_LINES:
                self._detail.append(self._hold(text.rstrip()))
                self._detail_offset = offset
            if "[pid " in stripped and "] Worker " in stripped:
                self.lines_unparsed += 1
            return []
        events: list[Event] = []
        self._took(event, offset, events)
        return events

    def _quick(self, kind: int, text: str, offset: int, arrival: float | None) -> Event | None:
        """The event of a line holding `_CANDIDATES[kind]` and no other candidate, read at rest, when it is what
        `_piece` makes of it; else None (the line is read in full). With no other phrase in it, no summary mark
        and no CR or ESC, `_piece` comes down to the one pattern (a CRLF line's CR is still at its end here: each
        pattern reads past trailing blanks)."""
        if text[:1] == "[":  # a browser's prefix, perhaps
            return None
        if kind == 0:  # `(\w+)` ends before any trailing blank: no need to strip them
            m = _INFORMED.search(text)
            return Informed(self._time(text, arrival), offset, m[1], m[2]) if m else None
        text = text.rstrip()
        if kind == 1:
            m = _WORKER_TASK.search(text)
            return _WORKER_EVENTS[m[3]](self._time(text, arrival), offset, int(m[1]), m[2], m[4]) if m else None
        if text.endswith(" is complete") and (m := _CHECKING.search(text)):
            return Checking(self._time(text, arrival), offset, m[1])
        return None

    def _took(self, event: Event, offset: int, events: list[Event]) -> None:
        """An event line was read: the traceback before it ends (at its time), and `event` goes to `events` after it
        unless it is a copy (or held, while its repr goes on over the next lines)."""
        self._record_time = event.time  # `_at`, written out: this runs for every event
        self._skipped.clear()
        if self._detail is not None:
            events += self._end_detail()
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

    def _continue(self, text: str, offset: int, arrival: float | None) -> list[Event]:
        """A line after a record whose repr was left open (Luigi writes a param value's newlines as they are): part of
        that repr, until the repr closes; a header, a traceback or a summary ends the record as its lines read."""
        held = self._continued
        assert held is not None
        line = text.rstrip("\r")
        if (
            held.lines >= MAX_DETAIL_LINES
            or line.startswith(_TRACEBACK)
            or SUMMARY_MARK in line
            or _HEADER.match(line.lstrip()[:HEADER_CHARS])
        ):
            return self._end_continued() + self._piece(text, offset, arrival)
        held.text = self._hold(f"{held.text}\n{line}") if len(held.text) < MAX_HELD_CHARS else held.text
        held.lines += 1
        events: list[Event] = []
        if held.event is not None:
            if _balanced(held.text.rstrip()):
                self._continued = None
                old = held.event
                self._accept(old.__class__(held.time, offset, old.pid, old.worker, held.text.rstrip()), offset, events)
        elif held.text.endswith(" is complete") and _balanced(repr_text := held.text[: -len(" is complete")]):
            self._continued = None
            self._accept(Checking(held.time, offset, repr_text), offset, events)
        return events

    def _end_continued(self) -> list[Event]:
        """The record being continued ends as read so far: a worker line's event as its first line read it."""
        held, self._continued = self._continued, None
        events: list[Event] = []
        if held is not None and held.event is not None:
            self._accept(held.event, held.event.offset, events)
        return events

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

    def _end_detail(self) -> list[Event]:
        detail, self._detail = self._detail, None
        if not detail:
            return []
        return [FailureDetail(time=self._record_time, offset=self._detail_offset, text="\n".join(detail).strip("\n"))]

    def _match(self, text: str, offset: int, arrival: float | None) -> Event | None:
        """The event of a line without trailing blanks (the patterns ending in `$` expect none: linear time, see
        above). Each pattern is tried only where its phrase is: a substring test costs a fraction of a failed search,
        and most lines read here hold one phrase (the first three)."""
        if "Informed sch" in text and (m := _INFORMED.search(text)):
            return Informed(self._time(text, arrival), offset, m[1], m[2])
        if "] Worker " in text and (m := _WORKER_TASK.search(text)):
            return _WORKER_EVENTS[m[3]](self._time(text, arrival), offset, int(m[1]), m[2], m[4])
        if text.endswith(" is complete") and (m := _CHECKING.search(text)):
            return Checking(self._time(text, arrival), offset, m[1])
        if _DONE_SCHEDULING in text:
            return DoneScheduling(self._time(text, arrival), offset)
        if "Running Worker" in text and (m := _RUNNING_WORKER.search(text)):
            return RunningWorker(self._time(text, arrival), offset, int(m[1]))
        if "was stopped." in text and (m := _STOPPED.search(text)):
            return WorkerStopped(self._time(text, arrival), offset, m[1])
        if "died unexp" in text and (m := _DIED.search(text)):
            return Died(self._time(text, arrival), offset, m[1], int(m[2]))
        if "timed out after" in text and (m := _TIMED_OUT.search(text)):
            return TimedOut(self._time(text, arrival), offset, m[1], float(m[2]))
        if (end := _tail_end(text, (_MISSING_TAIL,))) and (m := _MISSING.search(text, 0, end)):
            return MissingData(self._time(text, arrival), offset, m[1])
        if (end := _tail_end(text, _COMPLETE_ERROR_TAILS)) and (m := _COMPLETE_ERROR.search(text, 0, end)):
            return CompleteError(self._time(text, arrival), offset, m[1])
        if "framework error while" in text and (m := _SCHEDULING_ERROR.search(text)):
            return SchedulingError(self._time(text, arrival), offset, m[1])
        if "logging " in text and _BUILD_STARTING.search(text):
            return BuildStarting(self._time(text, arrival), offset)
        if "task num failures" in text:
            if m := _RETRY.search(text):
                return SchedulerRetry(self._time(text, arrival), offset, m[1], int(m[2]), int(m[3]))
            if m := _DISABLED.search(text):
                return SchedulerDisabled(self._time(text, arrival), offset, m[1], int(m[2]))
        if "Informed sch" in text or "] Worker Worker(" in text:
            self.lines_unparsed += 1
        return None

    def _summary_line(self, text: str, offset: int) -> list[Event]:
        assert self._summary is not None
        self._detail_offset = offset
        if SUMMARY_MARK not in text:
            if len(self._summary) < 10_000:
                self._summary.append(self._hold(text))
            return []
        return self._end_summary(self._finish_summary(offset))

    def _end_summary(self, summary: Summary | None) -> list[Event]:
        if summary is None or self._is_echo(summary):
            return []
        self._last_event = summary
        return [summary]

    def _finish_summary(self, offset: int) -> Summary | None:
        lines, self._summary = self._summary or [], None
        return read_summary(lines, self._record_time, offset)
