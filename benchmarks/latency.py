"""Live latency: from a Luigi line's write to the change it makes being visible on /api/runs or /metrics.

A writer appends a real demo build to a watched log, timestamps rewritten to now: steadily (200 lines/s), or in
bursts (5,000 lines in one write). A poller thread requests the endpoint back to back and notes when each task
transition (running, done, failed) first shows. Both ends are conservative: the write time is taken before the
write, the seen time after the response is parsed, so a latency includes up to one poll round trip (reported as
the resolution).
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import Sidecar, median, percentile
from exporter.demo.copies import unique_workers

# The worker line that changes a task's state (Luigi worker.py: "[pid %s] Worker %s running   %s").
_TRANSITION = re.compile(rb"\] Worker Worker\([^)]*\) (running|done|failed) +([A-Za-z_]\w*)\(")
_STAMP = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
_SAMPLE = re.compile(r"^(luigi_run_tasks|luigi_run_tasks_running)\{(.*)\} (\S+)$", re.M)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

Key = tuple[str, str, object]  # (run_id, family or state, "running"/"done"/"failed" or a count)


def run_id(base: str, n: int) -> str:
    """The id the model gives the n-th build of one file (`Book._new_run`)."""
    return base if n == 1 else f"{base}#{n}"


@dataclass
class Change:
    """A written transition: the keys that show it on the endpoint, and when its line was written."""

    state: str
    keys: tuple[Key, ...]  # any of them seen means the line was applied
    written: float = 0.0


@dataclass
class Script:
    """Lines to write, and after which line each change is due; built per endpoint."""

    base: str
    lines: list[bytes] = field(default_factory=list)
    changes: dict[int, list[Change]] = field(default_factory=dict)  # line index -> changes it makes
    _runs: int = 0

    def add_build(self, build: list[bytes], endpoint: str) -> None:
        """Append one whole build (it becomes the next run of the file) and note the changes its lines make.

        /metrics shows done and failed as counts per run, running only while it lasts: a task that ran and ended
        between two scrapes shows as running through its count. Echoed lines (a second handler) change nothing.
        """
        self._runs += 1
        rid = run_id(self.base, self._runs)
        build = unique_workers(b"".join(build), self._runs).splitlines(keepends=True)
        counts = {"done": 0, "failed": 0}
        started: dict[str, Change] = {}
        seen: set[tuple[str, str]] = set()
        for raw in build:
            m = _TRANSITION.search(raw)
            if m is not None and (m[1].decode(), m[2].decode()) not in seen:
                state, family = m[1].decode(), m[2].decode()
                seen.add((state, family))
                change = Change(state, ((rid, family, state),))
                if endpoint == "/metrics" and state != "running":
                    counts[state] += 1
                    change = Change(state, ((rid, state, counts[state]),))
                    if family in started:
                        started[family].keys += change.keys
                elif state == "running":
                    started[family] = change
                self.changes.setdefault(len(self.lines), []).append(change)
            self.lines.append(raw)


def observe_runs(body: bytes) -> Iterable[Key]:
    """/api/runs: every task's state; a task done or failed has been running too."""
    for run in json.loads(body)["runs"]:
        for task in run.get("tasks", []):
            state = task["state"]
            yield (run["run_id"], task["family"], state)
            if state in ("done", "failed"):
                yield (run["run_id"], task["family"], "running")


def observe_metrics(body: bytes) -> Iterable[Key]:
    """/metrics: done and failed counts per run, and the tasks running now."""
    for name, labels, value in _SAMPLE.findall(body.decode()):
        label = dict(_LABEL.findall(labels))
        if name == "luigi_run_tasks_running":
            yield (label["run_id"], label["family"], "running")
        elif label["state"] in ("done", "failed"):
            for n in range(1, int(float(value)) + 1):
                yield (label["run_id"], label["state"], n)


class Poller(threading.Thread):
    """Requests `path` back to back; `seen` maps each key to the first time it showed."""

    def __init__(self, sidecar: Sidecar, path: str, observe: Callable[[bytes], Iterable[Key]]) -> None:
        super().__init__(daemon=True)
        self.sidecar, self.path, self.observe = sidecar, path, observe
        self.seen: dict[Key, float] = {}
        self.round_trips: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            sent = time.perf_counter()
            body = self.sidecar.get(self.path)
            keys = list(self.observe(body))
            now = time.perf_counter()
            self.round_trips.append(now - sent)
            for key in keys:
                self.seen.setdefault(key, now)


def _restamp(raw: bytes) -> bytes:
    """Today's time on a record's first line: the log looks written now, as it would be."""
    if _STAMP.match(raw):
        return time.strftime("%Y-%m-%d %H:%M:%S").encode() + raw[19:]
    return raw


@dataclass
class Latencies:
    endpoint: str
    mode: str
    samples: list[float]  # seconds
    round_trips: list[float]
    missing: int

    def row(self) -> list[str]:
        ms = [s * 1000 for s in self.samples]
        return [
            f"{self.mode} → `{self.endpoint}`",
            str(len(ms)),
            f"{percentile(ms, 50):.1f}",
            f"{percentile(ms, 99):.1f}",
            f"{max(ms):.1f}",
            f"{median(self.round_trips) * 1000:.1f}",
        ]


def _wait_seen(poller: Poller, changes: list[Change], timeout: float) -> int:
    """Wait until every change shows; returns how many never did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        missing = [c for c in changes if not any(k in poller.seen for k in c.keys)]
        if not missing:
            return 0
        time.sleep(0.01)
    return len(missing)


def _latency(poller: Poller, change: Change) -> float:
    return min(poller.seen[k] for k in change.keys if k in poller.seen) - change.written


def steady(build: list[bytes], endpoint: str, work: Path, rate: float, builds: int) -> Latencies:
    """Builds written line by line at `rate` lines/s; one sample per task transition."""
    log = work / "steady" / "log.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"")
    script = Script("steady")
    for _ in range(builds):
        script.add_build(build, endpoint)
    observe = observe_runs if endpoint == "/api/runs" else observe_metrics
    with Sidecar([str(log)], "--retain-runs", "2", "--run-metrics", "2", log=work / "steady-sidecar.log") as sidecar:
        poller = Poller(sidecar, endpoint, observe)
        poller.start()
        fd = os.open(log, os.O_WRONLY | os.O_APPEND)
        start = time.perf_counter()
        try:
            for i, raw in enumerate(script.lines):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                written = time.perf_counter()
                os.write(fd, _restamp(raw))
                for change in script.changes.get(i, []):
                    change.written = written
        finally:
            os.close(fd)
        changes = [c for cs in script.changes.values() for c in cs]
        missing = _wait_seen(poller, changes, timeout=30)
        poller.stop.set()
        poller.join()
    samples = [_latency(poller, c) for c in changes if any(k in poller.seen for k in c.keys)]
    return Latencies(endpoint, f"steady {rate:.0f} lines/s", samples, poller.round_trips, missing)


def bursts(builds: list[list[bytes]], endpoint: str, work: Path, size: int, count: int) -> Latencies:
    """`count` bursts of `size` lines, each one write on a fresh sidecar (so /api/runs stays small); one sample per
    burst: until its last task done shows, i.e. until (nearly) the whole burst is applied."""
    samples: list[float] = []
    trips: list[float] = []
    missing = 0
    observe = observe_runs if endpoint == "/api/runs" else observe_metrics
    for n in range(count):
        log = work / f"burst{n}" / "log.txt"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_bytes(b"")
        script = Script(f"burst{n}")
        b = 0
        while len(script.lines) < size:
            script.add_build(builds[(n + b) % len(builds)], endpoint)
            b += 1
        lines = script.lines[:size]
        # done is for good (a failure may be retried, a running task ends): the burst's last one is the sample
        done = [c for i, cs in script.changes.items() if i < size for c in cs if c.state == "done"]
        if not done:
            raise RuntimeError(f"a burst of {size} lines holds no task done")
        change = done[-1]
        with Sidecar(
            [str(log)], "--retain-runs", "5", "--run-metrics", "5", log=work / f"burst{n}-sidecar.log"
        ) as sidecar:
            poller = Poller(sidecar, endpoint, observe)
            poller.start()
            time.sleep(0.05)  # a few empty polls first: the poller is warm when the burst lands
            blob = b"".join(_restamp(raw) for raw in lines)
            fd = os.open(log, os.O_WRONLY | os.O_APPEND)
            try:
                change.written = time.perf_counter()
                os.write(fd, blob)
            finally:
                os.close(fd)
            missing += _wait_seen(poller, [change], timeout=20)
            poller.stop.set()
            poller.join()
        if any(k in poller.seen for k in change.keys):
            samples.append(_latency(poller, change))
        trips += poller.round_trips
    return Latencies(endpoint, f"burst of {size:,} lines", samples, trips, missing)


def read_build(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def measure(
    builds: list[Path],
    work: Path,
    rate: float = 200,
    steady_builds: int = 1,
    burst_size: int = 5000,
    burst_count: int = 5,
) -> list[Latencies]:
    """Steady and burst latency on both endpoints; `builds[0]` is the steady build, all of them feed bursts."""
    sys.setswitchinterval(0.001)  # the writer must not wait 5 ms for the poller's JSON parsing
    lines = [read_build(p) for p in builds]
    results = []
    for endpoint in ("/api/runs", "/metrics"):
        results.append(steady(lines[0], endpoint, work / endpoint.strip("/").replace("/", "-"), rate, steady_builds))
        results.append(
            bursts(lines, endpoint, work / ("b-" + endpoint.strip("/").replace("/", "-")), burst_size, burst_count)
        )
    return results
