"""Test logs made of real demo builds, generated once and cached under `benchmarks/.data/` (gitignored).

Synthetic lines would flatter the parser: a real build has Luigi's own lines, tracebacks, summaries and the app's
chatter in the proportions a pipeline writes them, so the big logs are real builds concatenated and repeated whole.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from exporter.demo.copies import BuildCopies

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("LUIGI_EXPORTER_BENCH_DATA", ROOT / "benchmarks" / ".data"))
_STAMP = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
# What a copy of a build is (exporter.demo.copies), noted in each `.counts`: a log cached with other copies is made
# again (until this was noted, copies kept their template's run directory and task ids).
_COPIES = "distinct-run-dirs"


@dataclass(frozen=True)
class Build:
    """One demo invocation; builds sharing `run_dir` append to one log, so the second resumes the first."""

    run_dir: str
    options: tuple[str, ...]


# A handful of real builds: failures, retries, another worker count, ms timestamps, an echoing second handler and a
# resumed build (tasks already done), so every path of the parser and the model is in the mix.
BUILDS = (
    Build("fail", ("--workers", "4", "--seed", "1", "--fail", "SWOTAnalysisTask")),
    Build("clean", ("--workers", "2", "--seed", "2")),
    Build("retry", ("--workers", "4", "--seed", "3", "--flaky", "PlanTypeTask", "--retry-count", "2")),
    Build("ms", ("--workers", "3", "--seed", "4", "--ms", "--fail", "IdentifyRisksTask")),
    Build("dual", ("--workers", "4", "--seed", "5", "--dual-handlers")),
    Build("resume", ("--workers", "4", "--seed", "6", "--fail", "ProjectPlanTask")),
    Build("resume", ("--workers", "4", "--seed", "6")),
)
SMOKE_BUILDS = BUILDS[:1]  # one build, about 2 s: enough to exercise every benchmark


def demo_builds(directory: Path, builds: tuple[Build, ...] = BUILDS) -> list[Path]:
    """The builds' logs (sorted by name), running the demo only when they are not cached (about 2 s a build)."""
    done = directory / ".complete"
    logs = sorted({directory / b.run_dir / "log.txt" for b in builds})
    if done.exists():
        return logs
    directory.mkdir(parents=True, exist_ok=True)
    for log in logs:
        log.unlink(missing_ok=True)
    for build in builds:
        command = [sys.executable, "-m", "exporter.demo", "--run-dir", str(directory / build.run_dir)]
        command += ["--speed", "0.01", "--quiet", *build.options]
        # exit 1 is a build with a failed task: that is the point of some of them
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
        if result.returncode not in (0, 1):
            raise RuntimeError(f"demo {build} exited {result.returncode}: {result.stderr[-2000:]}")
    done.touch()
    return logs


def runs_in(path: Path) -> int:
    """How many runs the exporter finds in one build log (a resumed build's log holds two)."""
    from exporter.replay import replay_file

    return len(replay_file(str(path)).runs())


def count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


@dataclass(frozen=True)
class Log:
    """A generated log and what it holds, so no benchmark has to count its runs by replaying it."""

    path: Path
    lines: int
    runs: int

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def _concatenate(path: Path, logs: list[Path], enough: tuple[int, int]) -> Log:
    """Whole build logs in turn, round and round, until (lines, runs) reaches `enough` in either, each copy a build
    of its own (run directory, task ids, worker salt); cached with its counts in a sidecar file `PATH.counts`."""
    counts = path.with_name(path.name + ".counts")
    if path.exists() and counts.exists():
        lines, runs, *copies = counts.read_text().split()
        if copies == [_COPIES]:
            return Log(path, int(lines), int(runs))
    sources = [(BuildCopies.of_log(p), count_lines(p)) for p in logs]
    partial = path.with_name(path.name + ".partial")
    lines = runs = copy = 0
    with open(partial, "wb") as f:
        while lines < enough[0] and runs < enough[1]:
            for build, n in sources:
                copy += 1
                f.write(build.copy(copy))
                lines, runs = lines + n, runs + build.runs
                if lines >= enough[0] or runs >= enough[1]:
                    break
    partial.rename(path)
    counts.write_text(f"{lines} {runs} {_COPIES}\n")
    return Log(path, lines, runs)


def big_log(lines: int, logs: list[Path], directory: Path) -> Log:
    """At least `lines` lines of whole builds (1,400,000 lines is about 170 MB and 1,000 runs)."""
    return _concatenate(directory / f"big-{lines}.log", logs, (lines, 1 << 62))


def runs_log(runs: int, logs: list[Path], directory: Path) -> Log:
    """At least `runs` runs of whole builds (exactly `runs` unless a resumed build's pair crosses the count)."""
    name = logs[0].parent.name if len(logs) == 1 else "mix"
    return _concatenate(directory / f"runs-{runs}-{name}.log", logs, (1 << 62, runs))


def chatter_log(lines: int, build: Path, directory: Path) -> Log:
    """One build with its middle stretched to `lines` lines by the application's own one-line records (HTTP calls,
    LLM timings): a single run, so a sidecar's memory must not grow with it."""
    path = directory / f"chatter-{lines}.log"
    counts = path.with_name(path.name + ".counts")
    if path.exists() and counts.exists():
        return Log(path, int(counts.read_text().split()[0]), 1)
    records = build.read_bytes().splitlines(keepends=True)
    chatter = [r for r in records if _STAMP.match(r) and not re.search(rb" - luigi[-.\w]* - ", r)]
    half = len(records) // 2
    partial = path.with_name(path.name + ".partial")
    written = len(records)
    with open(partial, "wb") as f:
        f.writelines(records[:half])
        block = b"".join(chatter)
        while written < lines:
            f.write(block)
            written += len(chatter)
        f.writelines(records[half:])
    partial.rename(path)
    counts.write_text(f"{written} 1\n")
    return Log(path, written, 1)


if __name__ == "__main__":
    for log in demo_builds(DATA / "builds"):
        print(f"{log}: {count_lines(log)} lines, {log.stat().st_size} bytes, {runs_in(log)} run(s)")
