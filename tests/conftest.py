"""Shared fixtures: the real-log corpus (outside the repository), real Luigi builds, and replay through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from exporter.cli import main

PIPELINES = Path(__file__).parent / "pipelines"
ENDED = ("succeeded", "failed", "blocked")  # run statuses of a build that wrote its summary
ROOT = Path(__file__).parent.parent


CORPUS = Path(os.environ.get("LUIGI_EXPORTER_CORPUS", ROOT.parent / "shared" / "corpus"))
_IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _corpus_missing() -> str | None:
    if (CORPUS / "expected.json").is_file():
        return None
    return f"corpus not found at {CORPUS} (set LUIGI_EXPORTER_CORPUS)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The corpus is not openly licensed, so a fresh clone has none: outside CI its tests are left out, and
    `pytest_terminal_summary` says so in one line (pytest would list every skipped test on a line of its own)."""
    if _IN_CI or _corpus_missing() is None:
        return
    left_out = [item for item in items if "corpus" in item.fixturenames]
    if left_out:
        config.stash[_LEFT_OUT] = len(left_out)
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if "corpus" not in item.fixturenames]


_LEFT_OUT = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if count := config.stash.get(_LEFT_OUT, 0):
        terminalreporter.write_line(f"SKIPPED {count} corpus tests: {_corpus_missing()}; CI=true fails instead")


@pytest.fixture(scope="session")
def corpus() -> Path:
    """`../shared/corpus`, or LUIGI_EXPORTER_CORPUS; in CI (`CI=true`) a missing corpus fails its tests."""
    if (reason := _corpus_missing()) is not None:
        pytest.fail(f"{reason}; CI needs it", pytrace=False)
    return CORPUS


def run_pipeline(name: str, tmp_path: Path, *args: str, timeout: float = 120) -> tuple[Path, Path, int]:
    """Run tests/pipelines/<name>.py as a real Luigi build; returns (log, truth, exit code)."""
    log, truth = tmp_path / f"{name}.log", tmp_path / f"{name}.truth"
    env = {**os.environ, "PIPELINE_OUT": str(tmp_path / "out"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(PIPELINES / f"{name}.py"), str(log), str(truth), *args],
        env=env,
        capture_output=True,
        timeout=timeout,
    )
    return log, truth, proc.returncode


def start_demo(run_dir: Path, *args: str) -> subprocess.Popen[bytes]:
    """The bundled 61-task demo pipeline as a real Luigi build in the background; truth in RUN_DIR/truth.jsonl
    (a later `--truth FILE` in `args` wins)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter.demo",
            "--run-dir",
            str(run_dir),
            "--quiet",
            "--truth",
            str(run_dir / "truth.jsonl"),
            *args,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def run_demo(run_dir: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[bytes]:
    """`start_demo` to the end."""
    proc = start_demo(run_dir, *args)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def replay(capsys: pytest.CaptureFixture[str], *paths: Path | str, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """`luigi-exporter replay --json` in this process; returns the parsed document."""
    capsys.readouterr()
    assert main(["replay", "--json", *extra, *map(str, paths)]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="session")
def failing_demo_log(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real 2-worker demo build with a failing task, for tests that append a log to a followed file in parts."""
    run_dir = tmp_path_factory.mktemp("failing-demo") / "PlanExe_faults"
    run_demo(run_dir, "--workers", "2", "--speed", "0", "--ms", "--fail", "SWOTAnalysisTask")
    return (run_dir / "log.txt").read_bytes()
