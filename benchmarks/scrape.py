"""Scrape cost: wall time of GET /metrics with 1, 100 and 1,000 runs retained, as Prometheus would see it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import Sidecar, median, percentile
from benchmarks.data import Log


@dataclass
class Scrape:
    runs: int
    times: list[float]
    size: int
    series: int

    def row(self) -> list[str]:
        ms = [t * 1000 for t in self.times]
        return [
            f"{self.runs:,}",
            f"{self.series:,}",
            f"{self.size / 1024:,.0f} KiB",
            f"{median(ms):.1f}",
            f"{percentile(ms, 99):.1f}",
            f"{min(ms):.1f}",
        ]


def measure(sidecar: Sidecar, runs: int, repeats: int) -> Scrape:
    """`repeats` scrapes back to back (after one warm-up), each timed from request to last byte."""
    body = sidecar.get("/metrics")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        body = sidecar.get("/metrics")
        times.append(time.perf_counter() - start)
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    return Scrape(runs, times, len(body), series)


def measure_log(log: Log, repeats: int, work: Path) -> Scrape:
    """A sidecar retaining every run of the log on /metrics, once it has read the whole log."""
    with Sidecar([str(log.path)], "--retain-runs", str(log.runs), log=work / f"scrape-{log.runs}.log") as sidecar:
        sidecar.wait_lines(log.lines, timeout=3600)
        return measure(sidecar, log.runs, repeats)
