"""Replay on the log shapes a new user meets, in one process, against mtail's plain two-rule program.

Each shape at 1x and 8x its size: one huge build (20,000 tasks at 1x), builds interleaved in one file (128 builds at
1x, 8 writing at once), builds killed every tenth (no summary; 128 builds at 1x), and one build repeated identically
(128 times at 1x). The cost per line at 8x over the cost per line at 1x
(the growth) shows what grows with what came before rather than with the lines: 1.0 is linear.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from benchmarks.common import EXPORTER, Timed, run_timed
from benchmarks.throughput import plain_mtail
from exporter.demo.copies import BuildCopies
from exporter.taskid import task_id_str

__all__ = ["SHAPES", "Shape", "measure", "rows"]

_RECORD = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", re.M)  # a record's first line: the demo's format
_TIME = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class Shape:
    name: str
    make: Callable[[BuildCopies, bytes, int], bytes]  # (copies of a real build, that build, count) -> the log
    base: int  # the count at 1x (tasks of the huge build, builds of the others)


def _huge(_copies: BuildCopies, _build: bytes, n: int) -> bytes:
    """One local-scheduler build of n tasks of one family under a root, in Luigi's own lines (ids as
    luigi.task.task_id_str makes them), every tenth failing."""
    worker = "Worker(salt=123456789, workers=1, host=bench, username=bench, pid=4242)"
    stamp = "2026-11-24 23:05:17,226 - luigi-interface"
    root = task_id_str("Root", {})
    ids = [task_id_str("Leaf", {"i": str(i), "run_dir": "/srv/wide"}) for i in range(n)]
    out = [f"{stamp} - DEBUG - Checking if Root() is complete"]
    out.append(f"{stamp} - INFO - Informed scheduler that task   {root}   has status   PENDING")
    for i, task_id in enumerate(ids):
        out.append(f"{stamp} - DEBUG - Checking if Leaf(i={i}, run_dir=/srv/wide) is complete")
        out.append(f"{stamp} - INFO - Informed scheduler that task   {task_id}   has status   PENDING")
    out += [f"{stamp} - INFO - Done scheduling tasks", f"{stamp} - INFO - Running Worker with 1 processes"]
    for i, task_id in enumerate(ids):
        verb, status = ("failed   ", "FAILED") if i % 10 == 7 else ("done     ", "DONE")
        out.append(f"{stamp} - INFO - [pid 4242] Worker {worker} running   Leaf(i={i}, run_dir=/srv/wide)")
        out.append(f"{stamp} - INFO - [pid 4242] Worker {worker} {verb} Leaf(i={i}, run_dir=/srv/wide)")
        if status == "FAILED":
            out += ["Traceback (most recent call last):", '  File "wide.py", line 9, in run', "RuntimeError: no"]
        out.append(f"{stamp} - INFO - Informed scheduler that task   {task_id}   has status   {status}")
    failed = len(range(7, n, 10))
    out += [
        f"{stamp} - INFO - Worker {worker} was stopped. Shutting down Keep-Alive thread",
        f"{stamp} - INFO - ",
        "===== Luigi Execution Summary =====",
        "",
        f"Scheduled {n + 1} tasks of which:",
        f"* {n - failed} ran successfully:",
        f"    - {n - failed} Leaf(i=0...{n - 1}, run_dir=/srv/wide)",
        f"* {failed} failed:",
        f"    - {failed} Leaf(i=7...{n - 3}, run_dir=/srv/wide)",
        "* 1 were left pending, among these:",
        "    * 1 had failed dependencies:",
        "        - 1 Root()",
        "",
        "This progress looks :( because there were failed tasks",
        "",
        "===== Luigi Execution Summary =====",
        "",
    ]
    return "\n".join(out).encode()


def _records(blob: bytes) -> list[bytes]:
    """A log cut into records (a header line and the lines that follow it: a traceback, a summary block)."""
    starts = [m.start() for m in _RECORD.finditer(blob)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    return [blob[a:b] for a, b in zip(starts, [*starts[1:], len(blob)], strict=True)]


def _shifted(blob: bytes, seconds: int) -> bytes:
    """A build's log as it would read had it started `seconds` later: every record's time moved on."""

    def later(m: re.Match[bytes]) -> bytes:
        return (datetime.strptime(m[0].decode(), _TIME) + timedelta(seconds=seconds)).strftime(_TIME).encode()

    return _RECORD.sub(later, blob)


def _interleaved(copies: BuildCopies, _build: bytes, n: int) -> bytes:
    """n builds written 8 at a time into one file, a record of each in turn (one write() each, as concurrent
    processes appending with O_APPEND do), each started a second after the one before: copies of one build share
    its times, and builds starting in the same instant would read as one build's lines echoed by a second handler."""
    out = []
    for group in range(n // 8):
        streams = [_records(_shifted(copies.copy(group * 8 + k), k)) for k in range(8)]
        for turn in range(max(map(len, streams))):
            out += [stream[turn] for stream in streams if turn < len(stream)]
    return b"".join(out)


def _killed(copies: BuildCopies, _build: bytes, n: int) -> bytes:
    """n builds one after another, every tenth killed halfway (no summary), as a nightly job's log."""
    out = []
    for k in range(n):
        records = _records(copies.copy(k))
        out += records[: len(records) // 2] if k % 10 == 9 else records
    return b"".join(out)


def _repeats(_copies: BuildCopies, build: bytes, n: int) -> bytes:
    """One build's log repeated byte for byte n times (a re-run with the same run directory and ids)."""
    return build * n


SHAPES = (
    Shape("huge build", _huge, 20_000),
    Shape("interleaved", _interleaved, 128),
    Shape("killed every 10th", _killed, 128),
    Shape("identical repeats", _repeats, 128),
)
_SMOKE_DIVISOR = 16  # --smoke: each shape at a sixteenth, at 1x and 2x


@dataclass(frozen=True)
class Measured:
    shape: Shape
    scale: int
    lines: int
    runs: int
    replay: Timed  # best of the repeats (wall), one process
    mtail: Timed

    @property
    def cost_per_line_us(self) -> float:
        return self.replay.cpu / self.lines * 1e6


def measure(build_log: Path, directory: Path, repeats: int, smoke: bool = False) -> Iterator[Measured]:
    """Each shape at each scale: the log written under `directory`, replay and mtail alternating `repeats` times."""
    copies = BuildCopies.of_log(build_log)
    build = build_log.read_bytes()
    directory.mkdir(parents=True, exist_ok=True)
    for shape in SHAPES:
        for scale in (1, 2) if smoke else (1, 8):
            log = directory / f"{shape.name.replace(' ', '-')}-{scale}x.log"
            blob = shape.make(copies, build, shape.base // (_SMOKE_DIVISOR if smoke else 1) * scale)
            log.write_bytes(blob)
            lines = blob.count(b"\n")
            del blob
            replays, mtails = [], []
            for _ in range(repeats):
                timed, sampler = run_timed([*EXPORTER, "replay", "--json", str(log)])
                # wait4's peak counts the pages a forked child shares with this process before it execs: the sampled
                # peak is replay's own.
                replays.append(dataclasses.replace(timed, max_rss=sampler.peak))
                mtails.append(run_timed(plain_mtail(log))[0])
            out = subprocess.run([*EXPORTER, "replay", str(log)], capture_output=True, text=True, check=True).stdout
            runs = sum(1 for line in out.splitlines() if line[:1] not in (" ", ""))
            best = min(replays, key=lambda t: t.wall)
            yield Measured(shape, scale, lines, runs, best, min(mtails, key=lambda t: t.wall))
            log.unlink()


def rows(measured: list[Measured]) -> list[list[str]]:
    """One row per shape and scale: lines, runs, best wall times, replay/mtail lines/s, CPU per line, growth."""
    first = {m.shape.name: m for m in measured if m.scale == 1}
    out = []
    for m in measured:
        growth = m.cost_per_line_us / first[m.shape.name].cost_per_line_us
        out.append(
            [
                m.shape.name,
                f"{m.scale}x",
                f"{m.lines:,}",
                f"{m.runs:,}",
                f"{m.replay.wall:.2f} s",
                f"{m.mtail.wall:.2f} s",
                f"{m.mtail.wall / m.replay.wall:.2f}x",
                f"{m.cost_per_line_us:.1f} us",
                f"{growth:.2f}",
                f"{m.replay.max_rss / 2**20:.0f} MiB",
            ]
        )
    return out


HEADER = ["Shape", "Size", "Lines", "Runs", "replay", "mtail (plain)", "replay/mtail", "CPU/line", "growth", "RSS"]
