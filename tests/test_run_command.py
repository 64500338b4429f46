"""`luigi-exporter run -- COMMAND`: output passed through byte for byte, the command's exit code kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import PIPELINES, ROOT, replay

from exporter.demo.copies import unique_workers

# Bytes no decoder should touch: invalid UTF-8, a bare CR, NUL, an unterminated last line, on both streams.
NOISE = (
    "import sys, time\n"
    "sys.stdout.buffer.write(b'out \\xff\\xfe\\r progress\\x00\\n'); sys.stdout.flush()\n"
    "sys.stderr.buffer.write(b'INFO: Done scheduling tasks\\nerr without newline'); sys.stderr.flush()\n"
    "sys.exit(7)\n"
)


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "exporter", "run", "--state-dir", "none", "--listen", "127.0.0.1:0", *args],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_output_passes_through_byte_for_byte_and_exit_code_is_kept() -> None:
    direct = subprocess.run([sys.executable, "-c", NOISE], capture_output=True, timeout=30)
    wrapped = _run("--", sys.executable, "-c", NOISE)
    assert direct.returncode == wrapped.returncode == 7
    assert wrapped.stdout == direct.stdout
    # Our own stderr carries one line of ours first ("serving http://..."), then the command's bytes unchanged.
    ours, _, theirs = wrapped.stderr.partition(b"\n")
    assert ours.startswith(b"luigi-exporter: serving http://127.0.0.1:")
    assert theirs == direct.stderr


def test_failed_luigi_build_exits_like_luigi_unless_asked(tmp_path: Path) -> None:
    command = ["--", sys.executable, "-m", "luigi", "--module", "failing", "Report", "--local-scheduler"]
    env = {"PYTHONPATH": str(PIPELINES)}
    plain = _run(*command, env=env)
    assert plain.returncode == 0  # luigi itself says 0 although a task failed
    assert b"ERROR: [pid" in plain.stderr and b"failed    Extract()" in plain.stderr
    strict = _run("--fail-on-task-failure", *command, env=env)
    assert strict.returncode == 1


def test_run_sees_the_build_it_wraps(tmp_path: Path) -> None:
    """With --linger, the final figures stay served; /api/runs then shows the wrapped build, read live."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            "run",
            "--state-dir",
            "none",
            "--listen",
            "127.0.0.1:0",
            "--linger",
            "30",
            "--",
            sys.executable,
            "-m",
            "luigi",
            "--module",
            "failing",
            "Report",
            "--local-scheduler",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(PIPELINES)},
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline().decode()
        url = first.split("serving ", 1)[1].split("/ ", 1)[0].rstrip("/")
        deadline = time.monotonic() + 60
        while True:
            with urllib.request.urlopen(url + "/api/runs", timeout=5) as response:
                doc = json.loads(response.read())
            if (doc["runs"] and doc["runs"][0]["status"] == "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        (run,) = doc["runs"]
        assert (run["pipeline"], run["tasks_total"], run["tasks_failed"], run["tasks_upstream_failed"]) == (
            "Report",
            2,
            1,
            1,
        )
        assert run["started_at"] is not None  # no timestamps in luigi's own format: arrival times are used
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_runs_past_retention_still_count_for_the_exit_code_and_the_report(
    tmp_path: Path, failing_demo_log: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    """--retain-runs 0: each build leaves memory once stored, and the report and --fail-on-task-failure read it back
    from the store, in the order of the output."""
    log = tmp_path / "builds.log"
    log.write_bytes(b"".join(unique_workers(failing_demo_log, i) for i in range(3)))
    command = ["--", sys.executable, "-c", f"import sys; sys.stderr.buffer.write(open({str(log)!r}, 'rb').read())"]
    report = tmp_path / "report.html"
    options = ("--retain-runs", "0", "--fail-on-task-failure", "--run-id", "wrapped", "--report", str(report))
    proc = _run(*options, *command)
    assert proc.returncode == 1, proc.stderr[-2000:]
    runs = _report_data(report)["runs"]
    assert [r["run_id"] for r in runs] == ["wrapped", "wrapped#2", "wrapped#3"]
    assert _unnamed(runs) == _unnamed(replay(capsys, log)["runs"])


def test_a_wrapped_line_over_1_mib_is_cut_and_counted_as_in_a_file(
    tmp_path: Path, failing_demo_log: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 3 MiB line in the middle of a real build on the command's stderr: passed through whole, cut and counted as
    unparsed exactly as replay of the same bytes in a file counts it, and the build around it read as without it."""
    lines = failing_demo_log.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if b" running   " in line)  # between two lines of the build
    log, clean = tmp_path / "long-line.log", tmp_path / "clean.log"
    log.write_bytes(b"".join([*lines[:at], b"progress " + b"#" * (3 << 20) + b"\n", *lines[at:]]))
    clean.write_bytes(failing_demo_log)
    command = ["--", sys.executable, "-c", f"import sys; sys.stderr.buffer.write(open({str(log)!r}, 'rb').read())"]
    report = tmp_path / "report.html"
    proc = _run("--report", str(report), *command)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert log.read_bytes() in proc.stderr
    wrapped, in_file, without = _report_data(report), replay(capsys, log), replay(capsys, clean)
    assert wrapped["lines_unparsed"] == in_file["lines_unparsed"] == without["lines_unparsed"] + 1
    assert wrapped["lines_read"] == in_file["lines_read"] == without["lines_read"] + 1
    assert _unnamed(wrapped["runs"]) == _unnamed(without["runs"])


def _report_data(report: Path) -> dict:
    """The document an HTML report embeds."""
    data = report.read_text().split('<script type="application/json" id="data">', 1)[1].split("</script>", 1)[0]
    return json.loads(data)


def _unnamed(runs: list[dict]) -> list[dict]:
    """Runs without what names them (a wrapped command's run ids and source are not a file's)."""
    return [{k: v for k, v in r.items() if k not in ("run_id", "source")} for r in runs]
