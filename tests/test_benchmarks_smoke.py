"""Every benchmark of `make bench` runs end to end on a tiny input: the benchmarks can't rot between releases.

The figures of a smoke run mean nothing (a 3,000-line log, one-second idle); only that each section completes,
and that the baseline tool is really there: without mtail the throughput comparison is not a benchmark.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_every_benchmark_runs_on_a_tiny_input(tmp_path: Path) -> None:
    if shutil.which("mtail") is None:
        pytest.fail("mtail is not installed: the throughput benchmark compares against it (apt-get install -y mtail)")
    out = tmp_path / "results.md"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "RATIO replay/mtail (lines/s): " in result.stdout
    text = out.read_text()
    for title in ("Replay throughput against mtail", "Live latency", "Memory", "Scrape cost", "Idle sidecar"):
        assert f"### {title}" in text, title
    assert "| Replay throughput vs mtail | " in text
    assert "never showed" not in result.stdout, "a task transition never reached the endpoint"

    # the stage breakdown (not part of `make bench`) still runs against the current internals
    data = Path(os.environ.get("LUIGI_EXPORTER_BENCH_DATA", ROOT / "benchmarks" / ".data"))
    stages = subprocess.run(
        [sys.executable, "-m", "benchmarks.stages", str(data / "smoke" / "big-3000.log")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert stages.returncode == 0, stages.stderr[-3000:]
    assert "| Parser.feed_block (blocks → events) |" in stages.stdout
