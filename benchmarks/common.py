"""What every benchmark needs: a real sidecar process, /proc readings of a process, and order statistics.

Processes are measured from outside (/proc, wait4) so the numbers include everything a user pays: interpreter start,
imports, reading, output.
"""

from __future__ import annotations

import compileall
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.data import ROOT

PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")
EXPORTER = [sys.executable, "-m", "exporter"]


def byte_compile() -> None:
    """Compile the package to bytecode, as pip does when it installs it: from an editable install under
    PYTHONDONTWRITEBYTECODE (set in some CI images) every start would compile each module again, ~30 ms of every
    replay measured that no installed copy pays."""
    compileall.compile_dir(ROOT / "exporter", quiet=1)


# -- statistics ----------------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: with 100 samples p99 is the second largest, never an interpolated value."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


# -- /proc ---------------------------------------------------------------------------------------------------------


def rss_bytes(pid: int) -> int:
    """Resident set size now (VmRSS); 0 once the process is gone."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads) from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def read_offset(pid: int, path: Path) -> int | None:
    """How far the process has read `path`: the `pos` of its descriptor open on it (None: not open)."""
    target = str(path.resolve())
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != target:
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                return int(f.readline().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return None


@dataclass
class Sampler:
    """Samples a process's RSS (and its read offset in one file) on a thread until it exits or `stop` is called.

    The samples show whether memory follows the bytes read (a leak per line) or the runs kept (the model).
    """

    pid: int
    path: Path | None = None
    interval: float = 0.05
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (seconds, offset, rss)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        t0 = time.monotonic()
        offset = 0
        while not self._stop.is_set():
            rss = rss_bytes(self.pid)
            if rss == 0:
                break
            if self.path is not None:
                offset = read_offset(self.pid, self.path) or offset
            self.samples.append((time.monotonic() - t0, offset, rss))
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def rss_at(self, offset: int) -> int | None:
        """RSS of the first sample taken at or past `offset` bytes read."""
        return next((rss for _, off, rss in self.samples if off >= offset), None)

    @property
    def peak(self) -> int:
        return max((rss for _, _, rss in self.samples), default=0)


@dataclass
class Timed:
    """One finished process: wall seconds, CPU seconds, peak RSS (wait4's ru_maxrss) and its exit status."""

    wall: float
    cpu: float
    max_rss: int
    code: int


def run_timed(
    command: Sequence[str], stdout: int | None = subprocess.DEVNULL, sampler_path: Path | None = None
) -> tuple[Timed, Sampler]:
    """Run `command` to its end; returns (Timed, Sampler) with RSS samples taken meanwhile."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE)
    sampler = Sampler(proc.pid, sampler_path).start()
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    sampler.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}: {err.decode(errors='replace')[-2000:]}")
    timed = Timed(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, proc.returncode)
    return timed, sampler


# -- a live sidecar -------------------------------------------------------------------------------------------------


class Sidecar:
    """`luigi-exporter watch GLOBS... --listen 127.0.0.1:0 --state-dir none ARGS`, its URL read from its log."""

    def __init__(self, globs: Sequence[str], *args: str, log: Path, timeout: float = 30) -> None:
        self.log = log
        command = [*EXPORTER, "watch", *globs, "--listen", "127.0.0.1:0", "--state-dir", "none", *args]
        with open(log, "wb") as err:
            self.proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + timeout
        while True:
            if m := re.search(r"serving (http://[\d.]+:\d+)/", log.read_text(errors="replace")):
                self.url = m[1]
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"sidecar did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.01)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return response.read()

    def metric(self, name: str) -> float | None:
        """The value of an unlabelled sample on /metrics (e.g. luigi_exporter_lines_total)."""
        m = re.search(rf"^{re.escape(name)} (\S+)$", self.get("/metrics").decode(), re.MULTILINE)
        return float(m[1]) if m else None

    def wait_lines(self, lines: int, timeout: float = 600) -> float:
        """Block until the sidecar has read `lines` lines; returns the seconds it took from now."""
        start = time.monotonic()
        while (self.metric("luigi_exporter_lines_total") or 0) < lines:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sidecar exited: {self.log.read_text(errors='replace')[-2000:]}")
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"sidecar read fewer than {lines} lines in {timeout} s")
            time.sleep(0.05)
        return time.monotonic() - start

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Sidecar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the machine -----------------------------------------------------------------------------------------------------


def machine() -> str:
    """One line naming what the figures were measured on (they mean nothing without it)."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )
