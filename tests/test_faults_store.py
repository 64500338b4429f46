"""The store's faults under a real `watch`: its disk full, its files read-only, its database corrupt.

Throughout, the sidecar keeps serving the figures from the logs, says what happened in one line, counts
`luigi_exporter_sink_errors_total{sink="store"}`, and once the store can be written again it catches up until it
equals the replay of the logs. Needs root for the small tmpfs (mount) and `chattr +i`, as CI has.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import random
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ENDED, replay
from sidecar import Sidecar, assert_store_equals_replay, live_run

DB = "luigi-exporter.sqlite"


def _parts(data: bytes, *fractions: float) -> list[bytes]:
    """`data` cut at whole lines near these fractions of its length."""
    cuts = [0] + [data.index(b"\n", int(len(data) * f)) + 1 for f in fractions] + [len(data)]
    return [data[a:b] for a, b in itertools.pairwise(cuts)]


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


def _metric(sidecar: Sidecar, name: str) -> float:
    text = sidecar.get("/metrics").decode()
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert m is not None, name
    return float(m[1])


def _run_metric(sidecar: Sidecar, name: str) -> float:
    """The value of a per-run gauge (one run followed)."""
    (value,) = re.findall(rf"^{re.escape(name)}{{[^}}]*}} (\S+)$", sidecar.get("/metrics").decode(), re.MULTILINE)
    return float(value)


def _store_errors(sidecar: Sidecar) -> float:
    return _metric(sidecar, 'luigi_exporter_sink_errors_total{sink="store"}')


def _stderr_lines(path: Path, pattern: str) -> list[str]:
    return [line for line in path.read_text(errors="replace").splitlines() if re.search(pattern, line)]


def _appended(sidecar: Sidecar, log: Path, part: bytes) -> dict[str, Any]:
    """Append `part` to the followed log and wait until the sidecar has read all of it."""
    with open(log, "ab") as f:
        f.write(part)
    total = log.read_bytes().count(b"\n")
    return sidecar.wait_for(lambda d: d["lines_read"] == total, timeout=20)


# -- disk full -----------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[None]:
    path.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    assert proc.returncode == 0, f"this test needs root to mount a tmpfs: {proc.stderr.decode().strip()}"
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(path: Path) -> Path:
    """Take every free byte of the filesystem under `path` (the store's next write gets ENOSPC)."""
    filler = path / "filler"
    block = b"\0" * (64 << 10)
    with open(filler, "wb", buffering=0) as f:
        while True:
            try:
                f.write(block)
            except OSError as err:
                assert err.errno == errno.ENOSPC
                break
        with contextlib.suppress(OSError):  # the last few bytes
            while f.write(b"\0" * 512):
                pass
    return filler


def test_disk_full_then_space_back(tmp_path: Path, failing_demo_log: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    """The store's filesystem fills up mid-build: one clear line, figures still advancing, errors counted; the build
    ends while the disk is still full; space comes back with no line left to read: the store catches up anyway."""
    fs, logs = tmp_path / "fs", tmp_path / "logs"
    logs.mkdir()
    log = logs / "luigi.log"
    log.touch()
    with _tmpfs(fs, "16m"):
        err = tmp_path / "sidecar.log"
        sidecar = Sidecar("watch", str(logs / "*.log"), "--state-dir", str(fs / "state"), log=err)
        try:
            first, second, rest = _parts(failing_demo_log, 0.3, 0.6)
            before = live_run(_appended(sidecar, log, first))
            assert _store_errors(sidecar) == 0
            filler = _fill(fs)

            during = live_run(_appended(sidecar, log, second))
            assert during["tasks_completed"] > before["tasks_completed"], "figures stopped advancing"
            _wait(lambda: _store_errors(sidecar) > 0, 10, "store error counted")
            assert _run_metric(sidecar, "luigi_pipeline_last_run_tasks_completed") == during["tasks_completed"]
            ended = live_run(_appended(sidecar, log, rest))
            assert ended["status"] in ENDED
            assert sidecar.get("/healthz") == b"ok\n"
            (line,) = _stderr_lines(err, r"store: ")  # one line for the whole outage, however many writes failed
            assert "full" in line, line
            errors = _store_errors(sidecar)

            filler.unlink()  # space comes back; nothing new is written to the log
            _wait(lambda: bool(_stderr_lines(err, r"store: caught up")), 10, "store caught up")
            assert _store_errors(sidecar) >= errors  # idle retries before the space came back count too
            assert len(_stderr_lines(err, r"store: ")) == 2  # the outage, and its end
            assert sidecar.stop() == 0
        finally:
            sidecar.close()
        (replayed,) = replay(capsys, log)["runs"]
        assert ended == replayed
        assert_store_equals_replay(fs / "state" / DB, replayed, log, ignore=("run_id", "source"))
        assert "Traceback" not in err.read_text()


# -- read-only -----------------------------------------------------------------------------------------------------


def _chattr(flag: str, *paths: Path) -> None:
    proc = subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True)
    assert proc.returncode == 0, f"this test needs root and chattr: {proc.stderr.decode().strip()}"


def test_read_only_store_then_writable(
    tmp_path: Path, failing_demo_log: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    """The store's files turn read-only under a running sidecar, then writable again.

    A read-only remount is refused (EBUSY) while the sidecar has the store open for writing, so its files are made
    immutable instead (`chattr +i`, database and WAL; not the `-shm` index, whose mapped pages would SIGBUS): every
    write then fails with EPERM, as on a read-only filesystem, and works again after `chattr -i`.
    """
    state, logs = tmp_path / "state", tmp_path / "logs"
    logs.mkdir()
    log = logs / "luigi.log"
    log.touch()
    err = tmp_path / "sidecar.log"
    sidecar = Sidecar("watch", str(logs / "*.log"), "--state-dir", str(state), log=err)
    files = [state / DB, state / f"{DB}-wal"]
    try:
        first, second, rest = _parts(failing_demo_log, 0.3, 0.6)
        before = live_run(_appended(sidecar, log, first))
        _chattr("+i", *files)
        try:
            during = live_run(_appended(sidecar, log, second))
            assert during["tasks_completed"] > before["tasks_completed"], "figures stopped advancing"
            _wait(lambda: _store_errors(sidecar) > 0, 10, "store error counted")
            (line,) = _stderr_lines(err, r"store: ")
            assert re.search(r"I/O|read-?only|permission", line), line
        finally:
            _chattr("-i", *files)
        ended = live_run(_appended(sidecar, log, rest))  # writable again: the next batch writes everything
        _wait(lambda: bool(_stderr_lines(err, r"store: caught up")), 10, "store caught up")
        assert sidecar.stop() == 0
    finally:
        with contextlib.suppress(AssertionError):
            _chattr("-i", *files)
        sidecar.close()
    (replayed,) = replay(capsys, log)["runs"]
    assert ended == replayed
    assert_store_equals_replay(state / DB, replayed, log, ignore=("run_id", "source"))


def test_read_only_state_dir_at_start(tmp_path: Path) -> None:
    """A store that cannot be written at all when the sidecar starts: exit 78 and one line saying what to do."""
    state = tmp_path / "state"
    state.mkdir()
    sqlite3.connect(state / DB).close()
    _chattr("+i", state)
    try:
        proc = subprocess.run(
            [*_cli(), "watch", str(tmp_path / "*.log"), "--state-dir", str(state), "--listen", "127.0.0.1:0"],
            capture_output=True,
            timeout=30,
            cwd=Path(__file__).parent.parent,
        )
    finally:
        _chattr("-i", state)
    err = proc.stderr.decode()
    assert proc.returncode == 78 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def _cli() -> list[str]:
    return [sys.executable, "-m", "exporter"]


# -- corrupt -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["header", "pages"])
def test_corrupt_store_is_moved_aside_and_rebuilt(
    tmp_path: Path, failing_demo_log: bytes, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    """Garbage over the store's header or its pages while the sidecar is stopped: on start it says so in one line,
    moves the file aside as `luigi-exporter.sqlite.corrupt-<timestamp>`, reads the logs again from byte 0, and ends
    equal to the replay."""
    state, logs = tmp_path / "state", tmp_path / "logs"
    logs.mkdir()
    log = logs / "luigi.log"
    first, rest = _parts(failing_demo_log, 0.5)
    log.write_bytes(first)
    err = tmp_path / "sidecar.log"
    watch = ("watch", str(logs / "*.log"), "--state-dir", str(state))
    sidecar = Sidecar(*watch, log=err)
    try:
        total = first.count(b"\n")
        sidecar.wait_for(lambda d: d["lines_read"] == total, timeout=20)
        assert sidecar.stop() == 0
    finally:
        sidecar.close()

    db = state / DB
    size = db.stat().st_size
    garbage = random.Random(7).randbytes(size)
    with open(db, "r+b") as f:
        if damage == "header":
            f.write(garbage[:4096])
        else:  # every page but the first (the header and schema) overwritten
            f.seek(4096)
            f.write(garbage[4096:])
    corrupt = db.read_bytes()
    with open(log, "ab") as f:  # the build went on while the sidecar was down
        f.write(rest)

    sidecar = Sidecar(*watch, log=err)
    try:
        doc = sidecar.wait_for(lambda d: bool(d["runs"]) and d["runs"][0]["status"] in ENDED, timeout=30)
        assert sidecar.stop() == 0
    finally:
        sidecar.close()
    (aside,) = state.glob(f"{DB}.corrupt-*")
    assert re.fullmatch(rf"{re.escape(DB)}\.corrupt-\d{{8}}-\d{{6}}", aside.name), aside.name
    assert aside.read_bytes() == corrupt
    (line,) = _stderr_lines(err, r"corrupt")
    assert str(aside) in line, line
    assert "Traceback" not in err.read_text()
    (replayed,) = replay(capsys, log)["runs"]
    assert live_run(doc) == replayed
    assert_store_equals_replay(db, replayed, log, ignore=("run_id", "source"))
