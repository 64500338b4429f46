"""A log read by several processes gives byte for byte what one process reading it whole gives (exporter.segments):
real builds one after another, builds interleaved in one file, a killed build, cuts anywhere, a process killed."""

from __future__ import annotations

import io
import logging
import os
import signal
from pathlib import Path

import pytest
from conftest import replay, run_demo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.demo.copies import unique_workers
from exporter.pipeline import Pipeline
from exporter.replay import JsonRuns, replay_into
from exporter.segments import cuts, replay_json


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory, failing_demo_log: bytes, corpus: Path) -> dict[str, bytes]:
    """A failing build, a clean one written by two handlers (the summary twice), and builds interleaved in one file."""
    run_dir = tmp_path_factory.mktemp("segments") / "PlanExe_dual"
    run_demo(run_dir, "--workers", "3", "--speed", "0", "--ms", "--dual-handlers")
    return {
        "failing": failing_demo_log,
        "dual": (run_dir / "log.txt").read_bytes(),
        "concurrent": (corpus / "oscar_etl_concurrent_central.log").read_bytes(),
    }


def _log(path: Path, parts: list[bytes]) -> str:
    path.write_bytes(b"".join(unique_workers(part, i) for i, part in enumerate(parts)))  # a worker salt per build
    return str(path)


def _one_process(path: str) -> str:
    out = io.StringIO()
    pipeline, document = Pipeline(), JsonRuns(out)
    replay_into(pipeline, path, document.write)
    document.end(pipeline.lines_read, pipeline.lines_unparsed)
    return out.getvalue()


def _cut(path: str, starts: list[int], out: io.StringIO | None = None) -> tuple[str, int]:
    out = out or io.StringIO()
    pipeline, document = Pipeline(), JsonRuns(out)
    took_over = replay_json(pipeline, path, document, starts)
    document.end(pipeline.lines_read, pipeline.lines_unparsed)
    return out.getvalue(), took_over


def test_builds_one_after_another_read_in_segments_as_in_one(tmp_path: Path, builds: dict[str, bytes]) -> None:
    """Cut at builds' starts: the processes after the first take over where the one before is at rest (between two
    builds), and not after a killed build, which stays open to the end of the file (nor inside interleaved builds)."""
    failing, dual, concurrent = builds["failing"], builds["dual"], builds["concurrent"]
    killed = failing[: failing.index(b"\n", len(failing) // 2) + 1]
    path = _log(tmp_path / "builds.log", [dual, failing, concurrent] * 3 + [dual, failing] * 3 + [killed, failing])
    whole = _one_process(path)
    assert '"status":"incomplete"' in whole and whole.count('"run_id"') > 20
    for jobs in (2, 3, 8):
        starts = cuts(path, jobs, min_segment=1)
        assert len(starts) == jobs - 1
        text, took_over = _cut(path, starts)
        assert text == whole
        assert 1 <= took_over <= jobs - 1
    # Every line start after the killed build's first line: none is at rest, so this process reads on alone.
    data = Path(path).read_bytes()
    after_kill = data.rindex(killed[:200])
    starts = [i + 1 for i in range(after_kill, len(data) - 1) if data[i] == ord("\n")][::50]
    assert _cut(path, starts) == (whole, 0)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.floats(0, 1), min_size=1, max_size=4), order=st.permutations(range(4)))
def test_cuts_at_any_line_read_as_one_process(
    tmp_path: Path, builds: dict[str, bytes], picks: list[float], order: list[int]
) -> None:
    """Cuts at arbitrary line starts (most inside a build: not at rest there, so never taken over)."""
    parts = [builds["failing"], builds["dual"], b"app chatter\n" * 3 + builds["failing"], builds["concurrent"][:60_000]]
    path = _log(tmp_path / "any.log", [parts[i] for i in order])
    data = Path(path).read_bytes()
    lines = [0] + [i + 1 for i, byte in enumerate(data[:-1]) if byte == ord("\n")]
    starts = sorted({lines[int(p * (len(lines) - 1))] for p in picks} - {0})
    assert _cut(path, starts)[0] == _one_process(path)


def test_a_process_killed_is_read_past_by_the_one_before(
    tmp_path: Path, builds: dict[str, bytes], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each forked process is SIGKILLed as soon as it exists: this one reads on past each cut, losing nothing."""
    path = _log(tmp_path / "killed.log", [builds["failing"], builds["dual"]] * 4)
    starts = cuts(path, 3, min_segment=1)
    whole, (text, took_over) = _one_process(path), _cut(path, starts)
    assert text == whole and took_over == 2
    fork = os.fork

    def fork_and_kill() -> int:
        pid = fork()
        if pid:
            os.kill(pid, signal.SIGKILL)
        return pid

    monkeypatch.setattr(os, "fork", fork_and_kill)
    with caplog.at_level(logging.WARNING, logger="luigi_exporter"):
        assert _cut(path, starts) == (whole, 0)
    assert caplog.text.count("a replay process failed (exit status -9): reading on in one") == 2


def test_files_one_after_another_each_cut(tmp_path: Path, builds: dict[str, bytes]) -> None:
    """Several files into one pipeline (as `replay a b` reads them), each cut: the processes forked for the second
    hold the first one's readers too, and number the second's runs from its own first."""
    parts = [builds["failing"], builds["dual"]] * 3
    first, second = _log(tmp_path / "first.log", parts), _log(tmp_path / "second.log", parts[::-1])
    out, cut_out = io.StringIO(), io.StringIO()
    pipeline, document = Pipeline(), JsonRuns(out)
    for path in (first, second):
        replay_into(pipeline, path, document.write)
    document.end(pipeline.lines_read, pipeline.lines_unparsed)
    pipeline, document = Pipeline(), JsonRuns(cut_out)
    took_over = sum(replay_json(pipeline, path, document, cuts(path, 3, min_segment=1)) for path in (first, second))
    document.end(pipeline.lines_read, pipeline.lines_unparsed)
    assert cut_out.getvalue() == out.getvalue() and took_over == 4
    assert '"run_id":"second.log#2"' in out.getvalue()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.integers(2, 9), long_line=st.integers(0, 3))
def test_cuts_are_build_starts(tmp_path: Path, builds: dict[str, bytes], parts: int, long_line: int) -> None:
    """Every cut starts a `Checking if` line that follows a summary, also with lines over 1 MiB around; a file that
    shrank since its size was taken (rotated, truncated) ends the search without a fault."""
    chunks = [builds["failing"], b"x" * (1 << 20) * long_line + b"\n", builds["dual"], builds["failing"]]
    path = _log(tmp_path / "cuts.log", chunks)
    data = Path(path).read_bytes()
    for cut in cuts(path, parts, min_segment=1):
        line = data[cut : data.index(b"\n", cut)]
        assert data[cut - 1 : cut] == b"\n" and b"Checking if " in line
        assert b"===== Luigi Execution Summary =====" in data[:cut]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os.path, "getsize", lambda _path: 10 * len(data))
        assert all(cut < len(data) for cut in cuts(path, parts, min_segment=1))


def test_replay_jobs_on_a_big_log(tmp_path: Path, builds: dict[str, bytes], capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI cuts a log big enough for two segments of 8 MiB, and writes what one process writes."""
    copies = 16 * 2**20 // len(builds["failing"]) + 1
    path = _log(tmp_path / "big.log", [builds["failing"]] * copies)
    assert len(cuts(path, 2)) == 1
    assert replay(capsys, path, extra=("--jobs", "2")) == replay(capsys, path, extra=("--jobs", "1"))
