"""`make bench`: every benchmark, a table on stdout and in benchmarks/results.md.

`python -m benchmarks` runs them at the sizes `make bench` uses (under 10 minutes on 2 CPUs); `--lines` scales the
big log (8,600,000 lines is about 1 GB); `--smoke` runs each on a tiny input (the test suite does, in seconds).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import idle, latency, memory, scrape, shapes, throughput
from benchmarks.common import Sampler, Sidecar, byte_compile, machine, median, percentile
from benchmarks.data import (
    BUILDS,
    DATA,
    ROOT,
    SMOKE_BUILDS,
    Log,
    big_log,
    chatter_log,
    count_lines,
    demo_builds,
    runs_in,
    runs_log,
)

SECTIONS = ("throughput", "shapes", "latency", "memory", "scrape", "idle")
README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"


@dataclass(frozen=True)
class Sizes:
    lines: int  # the big log: throughput, replay's memory
    repeats: int
    rate: float
    steady_builds: int
    burst_size: int
    bursts: int
    scrape_runs: tuple[int, ...]  # the last one is also the run count of watch's memory log
    scrape_repeats: int
    idle_dirs: int
    idle_seconds: float
    memory_lines: int  # the logs of the memory section (replay over many runs, both controls): about 1 GB
    watch_big: bool = False  # watch's memory over the big log instead of the N-run log


SMOKE = Sizes(3_000, 1, 2_000, 1, 1_000, 1, (1, 3), 5, 3, 1.0, 3_000)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny inputs: checks that every benchmark works")
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    p.add_argument("--lines", type=int, default=1_400_000, help="lines of the big log (default 1,400,000)")
    p.add_argument("--repeats", type=int, default=5, help="runs of each command for throughput (default 5)")
    p.add_argument(
        "--memory-lines", type=int, default=8_600_000, help="lines of the memory logs (default 8,600,000: about 1 GB)"
    )
    p.add_argument("--rate", type=float, default=200, help="steady writer's lines/s (default 200)")
    p.add_argument("--bursts", type=int, default=20, help="bursts of 5,000 lines per endpoint (default 20)")
    p.add_argument("--idle-dirs", type=int, default=100, help="run directories the idle sidecar watches")
    p.add_argument("--idle-seconds", type=float, default=30, help="how long idle CPU is measured")
    p.add_argument("--watch-big", action="store_true", help="measure watch's memory on the big log too (slow)")
    p.add_argument("--data", type=Path, default=DATA, help="cache of generated logs (default benchmarks/.data)")
    p.add_argument("--out", type=Path, help="where results.md goes (default benchmarks/results.md)")
    p.add_argument(
        "--readme",
        type=Path,
        action="append",
        default=[],
        help="also put the results between the bench markers of this file (repeatable)",
    )
    return p


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return out + ["| " + " | ".join(row) + " |" for row in rows]


@dataclass
class Context:
    """What the sections share: sizes, the generated logs, and the report being written."""

    sizes: Sizes
    data: Path
    work: Path
    builds: list[Path]
    single: list[Path]  # builds of one run each, the failing one first
    big: Log
    sections: list[str] = field(default_factory=list)
    summary: list[list[str]] = field(default_factory=list)
    replay_sampler: tuple[Sampler, float] | None = None  # RSS of a throughput replay, reused for memory
    sidecar: Sidecar | None = None  # the memory benchmark's watch, kept for scraping its runs

    def section(self, title: str, intro: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        text = "\n".join(["", f"### {title}", "", intro, "", *table(header, rows)])
        self.sections.append(text)
        print(text, flush=True)

    def headline(self, what: str, figure: str, goal: str = "", met: bool | None = None) -> None:
        self.summary.append([what, figure, goal, "" if met is None else ("yes" if met else "**no**")])

    @property
    def smallest(self) -> Path:
        """The shortest one-run build: N runs of it make the cheapest N-run log."""
        return min(self.single, key=lambda b: b.stat().st_size)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    if unknown := set(only) - set(SECTIONS):
        print(f"unknown section(s) {', '.join(sorted(unknown))}: choose from {', '.join(SECTIONS)}", file=sys.stderr)
        return 64
    if args.smoke:
        sizes, data, builds = SMOKE, args.data / "smoke", SMOKE_BUILDS
    else:
        sizes = Sizes(
            args.lines,
            args.repeats,
            args.rate,
            2,
            5_000,
            args.bursts,
            (1, 100, 1_000),
            30,
            args.idle_dirs,
            args.idle_seconds,
            args.memory_lines,
            args.watch_big,
        )
        data, builds = args.data, BUILDS
    command = os.environ.get("BENCH_COMMAND") or "python -m benchmarks " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    where, load = machine(), os.getloadavg()[0]
    print(f"# {where}, load average {load:.2f}", flush=True)
    started = time.monotonic()
    byte_compile()
    work = Path(tempfile.mkdtemp(prefix="luigi-exporter-bench-"))
    try:
        logs = demo_builds(data / "builds", builds)
        single = sorted((b for b in logs if runs_in(b) == 1), key=lambda b: b.parent.name != "fail")
        ctx = Context(sizes, data, work, logs, single, big_log(sizes.lines, logs, data))
        try:
            for name in SECTIONS:
                if name in only:
                    print(f"\n{name} ...", flush=True)
                    globals()[f"_{name}"](ctx)
        finally:
            if ctx.sidecar is not None:
                ctx.sidecar.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = time.monotonic() - started
    text = "\n".join(
        [
            "## Benchmarks",
            "",
            f"Measured by `{command.strip()}` ({seconds / 60:.1f} minutes) on {where}; load average {load:.2f} "
            f"at the start, {os.getloadavg()[0]:.2f} at the end. Reproduce with `make bench` (needs `mtail`: "
            "`apt-get install -y mtail`); one section: `python -m benchmarks --only throughput`. Generated logs are "
            "cached in `benchmarks/.data/`.",
            "",
            *table(["Benchmark", "Figure", "Goal", "Met"], ctx.summary),
            *ctx.sections,
        ]
    )
    out = args.out or (ROOT / "benchmarks" / "results.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    for readme in args.readme:
        _update_readme(readme, text)
    print("\n" + "\n".join(table(["Benchmark", "Figure", "Goal", "Met"], ctx.summary)))
    print(f"\nwritten {out} in {seconds:.0f} s")
    return 0


def _shapes(ctx: Context) -> None:
    measured = list(shapes.measure(ctx.single[0], ctx.work / "shapes", ctx.sizes.repeats, ctx.sizes is SMOKE))
    worst = max(float(row[8]) for row in shapes.rows(measured))
    slowest = min(m.mtail.wall / m.replay.wall for m in measured)
    ctx.section(
        "Replay on any log shape",
        f"{(shapes.__doc__ or '').strip()} Best of {ctx.sizes.repeats} alternating runs (wall, start-up included); "
        "replay in one process (`replay --json FILE`), mtail with `benchmarks/luigi_plain.mtail`; CPU/line is "
        "replay's CPU time over the log's lines; RSS is replay's peak.",
        shapes.HEADER,
        shapes.rows(measured),
    )
    ctx.headline("Shapes: replay/mtail lines/s, slowest shape", f"{slowest:.2f}x", ">= 1x", slowest >= 1)
    ctx.headline("Shapes: CPU per line at 8x over 1x, worst", f"{worst:.2f}", "<= 1.2", worst <= 1.2)


def _throughput(ctx: Context) -> None:
    big, repeats = ctx.big, ctx.sizes.repeats
    t = throughput.measure(big, repeats)
    ctx.replay_sampler = (t.samplers[0], t.replay[0].wall)
    ratio, median = t.ratio(t.replay), t.ratio(t.replay, best=False)
    ctx.section(
        "Replay throughput against mtail",
        f"One log of {big.lines:,} lines ({big.size / 1e6:.0f} MB, {big.runs:,} runs: the demo builds at DEBUG, each "
        f"copy a distinct build with its own run directory and task ids, concatenated), {repeats} alternating runs of "
        f"each command, best / median, wall time including start-up; CPU of all processes. mtail counted "
        f"{t.mtail_lines:,} lines. Replay, in one process, does **{ratio:.2f}x** the lines/s of mtail's plain "
        f"two-rule program ({t.cpu_ratio(t.replay):.2f}x in CPU time).",
        ["Command", "Wall (best / median)", "Lines/s (best / median)", "CPU (best)", "Peak RSS"],
        throughput.rows(t),
    )
    ctx.headline(
        "Replay throughput vs mtail",
        f"{t.lines_per_s(t.replay):,.0f} vs {t.lines_per_s(t.mtail):,.0f} lines/s: **{ratio:.2f}x** "
        f"(medians {median:.2f}x)",
        "≥ 1x",
        ratio >= 1,
    )
    print(
        f"\nRATIO replay/mtail (lines/s): {ratio:.2f}x (medians {median:.2f}x), goal 1x",
        flush=True,
    )


def _latency(ctx: Context) -> None:
    s = ctx.sizes
    results = latency.measure(ctx.single, ctx.work / "latency", s.rate, s.steady_builds, s.burst_size, s.bursts)
    ctx.section(
        "Live latency",
        "From a line's write to the change it makes showing on the endpoint (a task running, done or failed), ms; "
        "one client polls back to back and its round trip is the resolution (no Prometheus polls /metrics that "
        "hard). Steady: a sample per task transition of real builds written line by line. Burst: a sample per write "
        f"of {s.burst_size:,} lines (about four builds), until its last task done shows, on a fresh sidecar each.",
        ["Writer → endpoint", "Samples", "p50", "p99", "max", "Poll round trip (median)"],
        [r.row() for r in results],
    )
    for r in results:
        if r.missing:
            print(f"WARNING: {r.missing} changes never showed on {r.endpoint} ({r.mode})", flush=True)
        p99 = percentile(r.samples, 99) if r.samples else float("inf")
        ctx.headline(
            f"Latency p99, {r.mode} → `{r.endpoint}`", f"{p99 * 1000:.0f} ms", "< 50 ms", p99 < 0.05 and not r.missing
        )


def _memory(ctx: Context) -> None:
    s = ctx.sizes
    big = ctx.big if s.memory_lines == ctx.big.lines else big_log(s.memory_lines, ctx.builds, ctx.data)
    chatter = chatter_log(big.lines, ctx.single[0], ctx.data)
    many = big if s.watch_big else runs_log(s.scrape_runs[-1], [ctx.smallest], ctx.data)
    if ctx.replay_sampler is not None and big is ctx.big:
        sampler, wall = ctx.replay_sampler
        profiles = [memory.profile("replay --json", big, sampler, wall)]
    else:
        profiles = [memory.replay("replay --json", big)]
    profiles.append(memory.replay("replay --json, 1 run (control)", chatter))
    watched, ctx.sidecar = memory.watch("watch, every run retained", many, ctx.work, retain=many.runs)
    retaining, retaining_sidecar = memory.watch("watch, --retain-runs 20", many, ctx.work, retain=20)
    retaining_sidecar.close()
    control, control_sidecar = memory.watch("watch, 1 run (control)", chatter, ctx.work, retain=1)
    control_sidecar.close()
    profiles += [watched, retaining, control]
    growth = [f"{p.label} {g / 1024:.0f} KiB" for p in profiles if (g := p.growth_per_run) is not None]
    ctx.section(
        "Memory",
        "RSS as each log is read (the offset of the process's descriptor, from /proc), in MiB. The controls are one "
        "build stretched by application chatter to the big log's length: what grows there grows with lines "
        "(buffering); what grows only in the logs of many builds grows with the runs the model keeps (replay writes "
        "and drops each run as it ends; watch keeps those retained). RSS growth per run read: "
        f"{'; '.join(growth) or 'n/a'}. Watch's time is its catch-up from offset 0; watch over the 1 GB log of "
        "many runs too: `python -m benchmarks --only memory --watch-big` (slow: a new sidecar writes every event "
        "of the log to its store).",
        ["Process", "Log", "Runs", "RSS at 10%", "at 50%", "at 100%", "Peak", "Time"],
        [p.row() for p in profiles],
    )

    def flat(p: memory.Profile) -> bool:  # the last mark within 10% (+16 MiB of noise) of the first
        return (p.marks[-1][1] or 0) <= 1.1 * (p.marks[0][1] or 1) + (16 << 20)

    def span(p: memory.Profile) -> str:
        rss = f"{_mib(p.marks[0][1])} → {_mib(p.marks[-1][1])}"
        return f"{p.log.size / 1e9:.2f} GB, {p.runs:,} run{'s' * (p.runs > 1)}: {rss}"

    ones = [p for p in profiles if p.runs == 1]
    ctx.headline(
        "RSS over one run's log, 10% → 100% (replay / watch)", " / ".join(map(span, ones)), "flat", all(map(flat, ones))
    )
    kept = [profiles[0], retaining]  # replay holds the runs not written yet; watch, those retained
    ctx.headline(
        "RSS over many runs, 10% → 100% (replay / watch --retain-runs 20)",
        " / ".join(map(span, kept)),
        "flat",
        all(map(flat, kept)),
    )


def _scrape(ctx: Context) -> None:
    s = ctx.sizes
    scrapes = []
    for n in s.scrape_runs:
        if ctx.sidecar is not None and n == s.scrape_runs[-1]:
            scrapes.append(scrape.measure(ctx.sidecar, n, repeats=min(10, s.scrape_repeats)))
        else:
            log = runs_log(n, [ctx.smallest], ctx.data)
            scrapes.append(
                scrape.measure_log(log, min(s.scrape_repeats, 10) if n >= 1000 else s.scrape_repeats, ctx.work)
            )
    ctx.section(
        "Scrape cost",
        "GET /metrics with every run of the log retained (`--retain-runs N`; the runs are the "
        f"`{ctx.smallest.parent.name}` demo build, repeated), timed by the client, ms.",
        ["Runs retained", "Series", "Body", "Median", "p99", "Best"],
        [x.row() for x in scrapes],
    )
    ctx.headline(
        "Scrape `/metrics` at " + " / ".join(f"{x.runs:,}" for x in scrapes) + " runs",
        " / ".join(f"{median(x.times) * 1000:.0f} ms" for x in scrapes),
    )


def _idle(ctx: Context) -> None:
    s = ctx.sizes
    i = idle.measure(ctx.single[0], s.idle_dirs, s.idle_seconds, ctx.work / "idle")
    ctx.section(
        "Idle sidecar",
        f"`watch 'runs/*/log.txt'`, each directory holding one finished build ({count_lines(ctx.single[0]):,} "
        "lines), nothing written; CPU of all its threads from /proc/PID/stat, once it had read every file.",
        ["Directories", "Measured", "CPU", "Of one core", "RSS"],
        [i.row()],
    )
    ctx.headline(f"Idle CPU, {i.dirs} run directories", f"{i.cpu:.2f} s in {i.seconds:.0f} s")


def _mib(n: int | None) -> str:
    return f"{n / (1 << 20):.0f} MiB" if n else "n/a"


def _update_readme(path: Path, text: str) -> None:
    """Put the results between the markers, so the README's figures are always those of the last `make bench`."""
    readme = path.read_text()
    start, end = readme.index(README_START) + len(README_START), readme.index(README_END)
    path.write_text(readme[:start] + "\n" + text.strip("\n") + "\n" + readme[end:])


if __name__ == "__main__":
    sys.exit(main())
