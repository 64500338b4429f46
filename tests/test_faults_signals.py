"""Signals to a real `watch`: SIGTERM flushes and exits 0 within 5 s; SIGHUP reopens the files, reads nothing twice."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from conftest import ENDED, replay
from sidecar import Sidecar, assert_store_equals_replay, live_run

DB = "luigi-exporter.sqlite"


def test_sigterm_mid_burst_exits_0_within_5_s(
    tmp_path: Path, failing_demo_log: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGTERM while lines pour in: exit 0 within 5 s with what it read committed; the next start goes on from there
    and ends equal to replay."""
    state, logs = tmp_path / "state", tmp_path / "logs"
    logs.mkdir()
    log = logs / "luigi.log"
    log.touch()
    watch = ("watch", str(logs / "*.log"), "--state-dir", str(state))
    err = tmp_path / "sidecar.log"
    sidecar = Sidecar(*watch, log=err)
    done = threading.Event()

    def write() -> None:  # the build's lines, a few KB every 10 ms
        with open(log, "ab", buffering=0) as f:
            for start in range(0, len(failing_demo_log), 4096):
                f.write(failing_demo_log[start : start + 4096])
                time.sleep(0.01)
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        sidecar.wait_for(lambda d: d["lines_read"] > 100, timeout=20)
        assert not done.is_set(), "the burst ended before the signal"
        start = time.monotonic()
        sidecar.proc.send_signal(signal.SIGTERM)
        code = sidecar.proc.wait(timeout=10)
        elapsed = time.monotonic() - start
    finally:
        writer.join(timeout=30)
        sidecar.close()
    assert code == 0 and elapsed < 5.0, (code, elapsed)
    with capsys.disabled():
        print(f"\nSIGTERM mid-burst: exit {code} in {elapsed:.2f} s")
    db = sqlite3.connect(state / DB)
    (offset,) = db.execute("SELECT offset FROM sources").fetchone()
    db.close()
    assert (
        0 < offset < len(failing_demo_log) and failing_demo_log[offset - 1 : offset] == b"\n"
    )  # a whole-line prefix committed

    sidecar = Sidecar(*watch, log=err)
    try:
        doc = sidecar.wait_for(lambda d: d["lines_read"] == failing_demo_log.count(b"\n"), timeout=20)
        start = time.monotonic()
        assert sidecar.stop() == 0
        assert time.monotonic() - start < 5.0
    finally:
        sidecar.close()
    (replayed,) = replay(capsys, log)["runs"]
    assert live_run(doc) == replayed
    assert_store_equals_replay(state / DB, replayed, log)
    assert "Traceback" not in err.read_text()


def _fds_on(pid: int, path: Path) -> list[str]:
    fds = Path(f"/proc/{pid}/fd")
    return [fd.name for fd in fds.iterdir() if os.path.realpath(fd) == str(path)]


def test_sighup_reopens_and_reads_nothing_twice(
    tmp_path: Path, failing_demo_log: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGHUP while the last line is half written: the sidecar lets go of its descriptors and opens the file again,
    goes on following it, and every line is read once (lines_read equals the file's lines, the run equals replay)."""
    state, logs = tmp_path / "state", tmp_path / "logs"
    logs.mkdir()
    log = logs / "luigi.log"
    half = failing_demo_log.index(b"\n", len(failing_demo_log) // 2) + 40  # 40 bytes into a line
    log.write_bytes(failing_demo_log[:half])
    err = tmp_path / "sidecar.log"
    sidecar = Sidecar("watch", str(logs / "*.log"), "--state-dir", str(state), log=err)
    try:
        whole = failing_demo_log[:half].count(b"\n")
        sidecar.wait_for(lambda d: d["lines_read"] == whole, timeout=20)
        assert len(_fds_on(sidecar.proc.pid, log)) == 1
        for n in (1, 2):  # twice: a second SIGHUP is as harmless as the first
            sidecar.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 5
            while len(re.findall(r"SIGHUP: reopened", err.read_text())) < n:
                assert time.monotonic() < deadline and sidecar.proc.poll() is None, "no reopen after SIGHUP"
                time.sleep(0.05)
        assert len(_fds_on(sidecar.proc.pid, log)) == 1  # reopened, not leaked
        with open(log, "ab") as f:
            f.write(failing_demo_log[half:])
        doc = sidecar.wait_for(lambda d: bool(d["runs"]) and d["runs"][0]["status"] in ENDED, timeout=20)
        assert doc["lines_read"] == failing_demo_log.count(b"\n")
        assert sidecar.stop() == 0
    finally:
        sidecar.close()
    (replayed,) = replay(capsys, log)["runs"]
    assert live_run(doc) == replayed
    assert_store_equals_replay(state / DB, replayed, log)
