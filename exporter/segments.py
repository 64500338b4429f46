"""One big log replayed by several processes, with exactly the output of one process reading it whole.

A log of builds run one after another (a nightly job appending to one file, a benchmark's concatenation) is cut
into segments that start where a build may begin (`parse.BUILD_STARTS_AFTER`); a forked process reads each from a
fresh parser and book while this one reads the first. That equals reading on only where the reader coming from
before is *at rest* there (`Pipeline.take_at_rest`: every run ended, nothing half read, the next line no copy
of the last): so the reader reaching a cut checks that and stops, handing over to the process that started there, or
reads on past it when it does not hold (builds interleaved, a killed build that never ends). A file without such
points is read as by one process; a process that fails is read past by the one before it.

A process writes the runs it read as JSON without their ids (`replay.without_id`): an id numbers the run among the
file's, which only the reader before it knows.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, NoReturn

from exporter.events import Event, FailureDetail, Summary
from exporter.lines import Line, decode_line
from exporter.model import Run
from exporter.parse import BUILD_STARTS_AFTER, Parser
from exporter.pipeline import Pipeline, Rest
from exporter.replay import JsonRuns, Settled, finish, read_range, replay_into, without_id
from exporter.sources.files import read_blocks

__all__ = ["MIN_SEGMENT", "cpus", "cuts", "replay_json"]

log = logging.getLogger("luigi_exporter")

# Below this a segment is not worth a process: forking and checking a cut cost little, but a cut that fails costs
# the process's whole segment of CPU for nothing.
MIN_SEGMENT = 8 << 20
_LONGEST_FIRST_LINE = 1 << 16


def cpus() -> int:
    """The CPUs this process may run on: `replay --jobs`'s default."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cuts(path: str, parts: int, min_segment: int = MIN_SEGMENT) -> list[int]:
    """Up to `parts` - 1 offsets cutting `path` into about equal segments of at least `min_segment` bytes, each
    the start of the first `Checking if` line after a summary past its share of the file."""
    size = os.path.getsize(path)
    parts = min(parts, size // max(1, min_segment))
    found: list[int] = []
    for k in range(1, parts):
        start = _build_start(path, max(k * size // parts, found[-1] if found else 0))
        if start is None:
            break
        found.append(start)
    return sorted(set(found))


def _build_start(path: str, offset: int) -> int | None:
    """The start of the first `Checking if` line after a summary mark, from the first whole line at `offset` on.
    Read, not mapped: a file truncated meanwhile only ends the search (a mapping would fault past its end)."""
    with open(path, "rb") as f:
        f.seek(max(0, offset - 1))  # from the byte before: at a line's start, readline reads only its newline
        while offset and (piece := f.readline(_LONGEST_FIRST_LINE)) and not piece.endswith(b"\n"):
            pass  # a long line, read past in bounded pieces
        offset = f.tell() if offset else 0
    summary, checking = BUILD_STARTS_AFTER
    seen = False
    for block in read_blocks(path, offset):
        if block.cut:  # the head of one overlong line: no place to cut at
            continue
        data, base = block.data, block.end - len(block.data)
        i = 0
        if not seen:
            i = data.find(summary)
            if i == -1:
                continue
            seen = True
        i = data.find(checking, i)
        if i != -1:
            return base + data.rfind(b"\n", 0, i) + 1
    return None


def replay_json(pipeline: Pipeline, path: str, out: JsonRuns, starts: list[int]) -> int:
    """`replay_into` writing to `out`, with a process forked to read on from each of `starts` (line starts, as
    `cuts` gives them; none without os.fork); returns how many of them took over."""
    if not starts or not hasattr(os, "fork"):
        replay_into(pipeline, path, out.write)
        return 0
    children = {start: _Child.fork(pipeline, path, start, [s for s in starts if s > start]) for start in starts}
    took_over = 0
    try:
        position: int | None = 0
        while position is not None:
            child = children.pop(position, None)
            result = child.result() if child is not None else None
            if result is None:  # from the start, or after a process that failed: read on in this one
                position = _read_on(pipeline, path, position, [s for s in starts if s > position], out.write)
                continue
            assert child is not None
            stop, rest = result
            for run_id, text in zip(pipeline.resume(path, rest), child.runs_json(), strict=True):
                out.put(run_id, text)
            child.close()
            took_over += 1
            position = stop
    finally:
        for child in children.values():
            child.kill()
    return took_over


def _read_on(pipeline: Pipeline, path: str, start: int, cuts: list[int], settled: Settled) -> int | None:
    """Read `path` from `start` up to the first of `cuts` where the reader is at rest, and return it; else to the
    end of the file, its builds closed, and return None."""
    for cut in cuts:
        read_range(pipeline, path, start, cut, settled)
        following = _first_event(pipeline, path, cut)
        held = pipeline.take_at_rest(path, following) if following is not None else None
        if held is not None:
            settled(held)
            return cut
        start = cut
    read_range(pipeline, path, start, None, settled)
    finish(pipeline, path, settled)
    return None


def _first_event(pipeline: Pipeline, path: str, offset: int) -> Event | None:
    """The event a fresh parser reads from the line at `offset`, when that line makes exactly one, of a kind that
    reads the same after any line at rest (a summary or traceback needs lines before it)."""
    with open(path, "rb") as f:
        f.seek(offset)
        raw = f.readline(_LONGEST_FIRST_LINE)
    if not raw.endswith(b"\n"):
        return None
    events = Parser(pipeline.tz).feed(Line(path, offset + len(raw), decode_line(raw[:-1])))
    if len(events) != 1 or isinstance(events[0], (Summary, FailureDetail)):
        return None
    return events[0]


@dataclass
class _Child:
    """A forked process reading `path` from one cut on, into two files: its runs' JSON a line each, then
    (pickled) where it stopped and its `Rest`."""

    pid: int
    runs: IO[str]
    report: IO[bytes]

    @classmethod
    def fork(cls, pipeline: Pipeline, path: str, start: int, cuts: list[int]) -> _Child:
        # Both outlive this call: the child writes them, `result` reads and closes them.
        runs = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 (to_json writes UTF-8)
        report = tempfile.TemporaryFile("w+b")  # noqa: SIM115
        pid = os.fork()
        if pid == 0:
            _child_main(pipeline, path, start, cuts, runs, report)
        return cls(pid, runs, report)

    def result(self) -> tuple[int | None, Rest] | None:
        """Where it stopped and its Rest, once it has ended; None (said in one line) when it failed."""
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        try:
            if os.waitstatus_to_exitcode(status) != 0:
                raise ValueError(f"exit status {os.waitstatus_to_exitcode(status)}")
            self.report.seek(0)
            return pickle.load(self.report)
        except (OSError, EOFError, ValueError, pickle.UnpicklingError) as err:
            log.warning("a replay process failed (%s): reading on in one", err)
            self.close()
            return None

    def runs_json(self) -> Iterator[str]:
        """The JSON of the runs it wrote, without their ids, read one by one (a segment may hold thousands)."""
        self.runs.seek(0)
        for line in self.runs:
            yield line[:-1]

    def kill(self) -> None:
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = 0
        self.close()

    def close(self) -> None:
        self.runs.close()
        self.report.close()


def _child_main(
    pipeline: Pipeline, path: str, start: int, cuts: list[int], runs: IO[str], report: IO[bytes]
) -> NoReturn:
    """The forked process: read, write, and leave without running the parent's exit handlers or flushing its
    buffers (os._exit), whatever happens."""
    code = 1
    try:
        cut_before = pipeline.lines_cut

        def write(settled: list[Run]) -> None:
            runs.write("".join(without_id(run) + "\n" for run in settled))

        stop = _read_on(pipeline, path, start, cuts, write)
        runs.flush()
        pickle.dump((stop, pipeline.rest(path, pipeline.lines_cut - cut_before)), report)
        report.flush()
        code = 0
    finally:
        os._exit(code)
