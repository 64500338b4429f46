"""CPU of an idle sidecar: `watch 'runs/*/log.txt'` over many finished run directories, nothing written.

Costs that idle loops hide (re-globbing, stat calls, wake-ups) add up over a day on every host that runs the sidecar.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import Sidecar, cpu_seconds, rss_bytes
from benchmarks.data import count_lines


@dataclass
class Idle:
    dirs: int
    seconds: float
    cpu: float
    rss: int

    def row(self) -> list[str]:
        return [
            f"{self.dirs}",
            f"{self.seconds:.0f} s",
            f"{self.cpu:.2f} s",
            f"{100 * self.cpu / self.seconds:.2f} %",
            f"{self.rss / (1 << 20):.0f} MiB",
        ]


def measure(build: Path, dirs: int, seconds: float, work: Path) -> Idle:
    """Each directory holds a copy of one finished build; measured once all of them are read and it settled."""
    root = work / "runs"
    blob = build.read_bytes()
    for i in range(dirs):
        (root / f"run{i:03d}").mkdir(parents=True, exist_ok=True)
        (root / f"run{i:03d}" / "log.txt").write_bytes(blob)
    with Sidecar([str(root / "*" / "log.txt")], log=work / "idle-sidecar.log") as sidecar:
        sidecar.wait_lines(dirs * count_lines(build), timeout=600)
        time.sleep(min(2.0, seconds))  # the catch-up's last commit and scrape are over
        before = cpu_seconds(sidecar.pid)
        time.sleep(seconds)
        used = cpu_seconds(sidecar.pid) - before
        return Idle(dirs, seconds, used, rss_bytes(sidecar.pid))
