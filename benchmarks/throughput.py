"""Replay throughput against mtail on the same big log, in one run, so both see the same machine and page cache.

mtail only counts lines (benchmarks/luigi.mtail); `replay --json` reconstructs every run and prints the contract.
Runs alternate (replay, mtail, replay, mtail...) so a noisy neighbour hurts both alike; min and median are reported.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import EXPORTER, Sampler, Timed, median, run_timed
from benchmarks.data import ROOT, Log

MTAIL_PROGRAM = ROOT / "benchmarks" / "luigi.mtail"  # counts lines too: checks that mtail read the whole file
PLAIN_PROGRAM = ROOT / "benchmarks" / "luigi_plain.mtail"


class MtailMissing(RuntimeError):
    """The baseline can't be measured without mtail; saying so beats a silent skip."""


def plain_mtail(log: Path) -> list[str]:
    """`mtail_command` with the plain two-rule program: the baseline every throughput figure is against."""
    command = mtail_command(log)
    command[command.index("--progs") + 1] = str(PLAIN_PROGRAM)
    return command


def mtail_command(log: Path) -> list[str]:
    """mtail 3.0.0-rc50 flags: one-shot mode reads the logs to EOF, prints the metrics and exits."""
    mtail = shutil.which("mtail")
    if mtail is None:
        raise MtailMissing("mtail is not installed: apt-get install -y mtail (Debian/Ubuntu package `mtail`)")
    return [
        mtail,
        "--one_shot",
        "--one_shot_format",
        "prometheus",
        "--progs",
        str(MTAIL_PROGRAM),
        "--logs",
        str(log),
        "--port",
        "0",  # one-shot mode still binds an HTTP port; 0 avoids clashing with another mtail
        "--logtostderr",  # else it writes glog files into /tmp
    ]


def replay_command(log: Path) -> list[str]:
    """replay as a user runs it: one process."""
    return [*EXPORTER, "replay", "--json", str(log)]


@dataclass
class Throughput:
    lines: int
    size: int
    replay: list[Timed]
    mtail: list[Timed]  # the plain two-rule program (benchmarks/luigi_plain.mtail)
    samplers: list[Sampler]  # RSS samples of each one-process replay, reused by the memory benchmark
    mtail_lines: int

    def lines_per_s(self, runs: list[Timed], best: bool = True) -> float:
        walls = [t.wall for t in runs]
        return self.lines / (min(walls) if best else median(walls))

    def ratio(self, runs: list[Timed], best: bool = True) -> float:
        """Best against best, or median against median (the machine's speed moves between runs)."""
        return self.lines_per_s(runs, best) / self.lines_per_s(self.mtail, best)

    def cpu_ratio(self, runs: list[Timed]) -> float:
        """The same ratio in CPU seconds (all processes'): fairer when a neighbour steals wall time from one run and
        not another, and a measure of the work done rather than of the cores used."""
        return min(t.cpu for t in self.mtail) / min(t.cpu for t in runs)


def mtail_count(log: Path) -> int:
    """mtail's own line count of `log`: checks that the program ran over the whole file."""
    out = subprocess.run(mtail_command(log), capture_output=True, text=True, check=True, timeout=3600).stdout
    m = re.search(r"^luigi_lines_total\{[^}]*\} (\S+)$", out, re.MULTILINE)
    if m is None:
        raise RuntimeError(f"mtail printed no luigi_lines_total: {out[:500]}")
    return int(float(m[1]))  # mtail writes 1.401531e+06


def measure(big: Log, repeats: int = 3) -> Throughput:
    log, lines = big.path, big.lines
    mtail_lines = mtail_count(log)  # also a warm-up: the file is in the page cache for both from here on
    if abs(mtail_lines - lines) > lines // 1_000_000:  # mtail prints 7 significant digits
        raise RuntimeError(f"mtail counted {mtail_lines} lines of {log}, which has {lines}: check {MTAIL_PROGRAM}")
    replay: list[Timed] = []
    mtail: list[Timed] = []
    samplers: list[Sampler] = []
    for _ in range(repeats):
        timed, sampler = run_timed(replay_command(log), sampler_path=log)
        replay.append(timed)
        samplers.append(sampler)
        mtail.append(run_timed(plain_mtail(log))[0])
    return Throughput(lines, log.stat().st_size, replay, mtail, samplers, mtail_lines)


def rows(t: Throughput) -> list[list[str]]:
    """Table rows: tool, best and median wall time, lines/s, CPU, peak RSS."""
    out = []
    for name, runs in (
        ("luigi-exporter replay --json", t.replay),
        ("mtail --one_shot (luigi_plain.mtail)", t.mtail),
    ):
        walls = [r.wall for r in runs]
        out.append(
            [
                name,
                f"{min(walls):.2f} s / {median(walls):.2f} s",
                f"{t.lines_per_s(runs):,.0f} / {t.lines_per_s(runs, best=False):,.0f}",
                f"{min(r.cpu for r in runs):.2f} s",
                f"{max(r.max_rss for r in runs) / (1 << 20):.0f} MiB",
            ]
        )
    return out
