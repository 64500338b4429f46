"""Memory: RSS against bytes read, for `replay` and `watch`, on the big log and on a control log of one run.

Replay writes each run once it has ended and drops it; watch keeps the runs retention keeps (`--retain-runs`). So
RSS may grow only with the runs kept (watch retaining every run of the log, for the scrape benchmark), never with
lines: the control log (one build whose middle is a long stretch of application chatter) shows per-line buffering,
same bytes, one run, so its RSS must stay flat.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import EXPORTER, Sampler, Sidecar, run_timed
from benchmarks.data import Log


@dataclass
class Profile:
    """RSS at a tenth, half and all of one log, read by one process."""

    label: str
    log: Log
    marks: list[tuple[int, int | None]]  # (bytes read, RSS then)
    peak: int
    seconds: float

    @property
    def runs(self) -> int:
        return self.log.runs

    def row(self) -> list[str]:
        cells = [f"{rss / (1 << 20):.0f}" if rss else "n/a" for _, rss in self.marks]
        size = self.log.size
        where = f"{size / 1e6:.0f} MB" if size >= 10e6 else f"{size / 1e6:.2f} MB"
        return [
            self.label,
            f"{where}, {self.log.lines:,} lines",
            f"{self.runs:,}",
            *cells,
            f"{self.peak / (1 << 20):.0f}",
            f"{self.seconds:.1f} s",
        ]

    @property
    def growth_per_run(self) -> float | None:
        """Bytes of RSS per run read, between the first and the last mark (None for a single run)."""
        (first, rss0), (last, rss1) = self.marks[0], self.marks[-1]
        if self.runs <= 1 or rss0 is None or rss1 is None or last <= first:
            return None
        return (rss1 - rss0) / (self.runs * (last - first) / self.log.size)


def marks_for(size: int) -> list[int]:
    """A tenth, half and all of the log: 100 MB, 500 MB and 1 GB for a 1 GB log."""
    return [size // 10, size // 2, size]


def profile(label: str, log: Log, sampler: Sampler, seconds: float) -> Profile:
    marks = [(m, sampler.rss_at(m)) for m in marks_for(log.size)]
    # the last sample may come after the file is closed (offset unknown): the peak stands for "all of it"
    marks[-1] = (log.size, marks[-1][1] or sampler.peak)
    return Profile(label, log, marks, sampler.peak, seconds)


def replay(label: str, log: Log) -> Profile:
    """RSS against the offset replay has read to in the file."""
    timed, sampler = run_timed([*EXPORTER, "replay", "--json", str(log.path)], sampler_path=log.path)
    return profile(label, log, sampler, timed.wall)


def watch(label: str, log: Log, work: Path, retain: int) -> tuple[Profile, Sidecar]:
    """Follow a log from its start until every line is read; the sidecar is left running (for the scrape benchmark)."""
    per_run = ("--run-metrics", str(min(retain, 1000)))  # the scrape benchmark reads every retained run's series
    sidecar = Sidecar(
        [str(log.path)], "--retain-runs", str(retain), *per_run, log=work / f"watch-{log.path.stem}-{retain}.log"
    )
    try:
        sampler = Sampler(sidecar.pid, log.path).start()
        seconds = sidecar.wait_lines(log.lines, timeout=3600)
        sampler.stop()
    except BaseException:
        sidecar.close()
        raise
    return profile(label, log, sampler, seconds), sidecar
