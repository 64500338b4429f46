"""Every user-facing error through the real CLI: one line saying what to do, no traceback, an exit code per kind
(64 bad usage, 2 unreadable input, 69 port in use, 78 unusable state directory or store)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT


def _cli(*args: str) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "exporter", *args], cwd=ROOT, capture_output=True, timeout=60, stdin=subprocess.DEVNULL
    )
    return proc.returncode, proc.stderr.decode(errors="replace")


def _assert_one_line(err: str, *words: str) -> None:
    """One line of error; `run` may have said where it serves before its command failed to start."""
    lines = [line for line in err.strip().splitlines() if not line.startswith("luigi-exporter: serving ")]
    assert len(lines) == 1 and lines[0].startswith("luigi-exporter: ") and "Traceback" not in err, err
    assert all(word in lines[0] for word in words), err


@pytest.mark.parametrize(
    "args, words",
    [
        (("replay", "--tz", "Mars/Olympus", "x.log"), ("Mars/Olympus", "IANA")),
        (("run", "--listen", "127.0.0.1:0", "--state-dir", "none"), ("needs a command",)),
        (("watch", "x.log", "--listen", "nope"), ("HOST:PORT", "--help")),
        (("replay",), ("required", "--help")),
    ],
    ids=["unknown-zone", "run-without-command", "bad-listen-syntax", "missing-argument"],
)
def test_bad_usage_exits_64(args: tuple[str, ...], words: tuple[str, ...]) -> None:
    code, err = _cli(*args)
    assert code == 64, err
    _assert_one_line(err, *words)


def test_unreadable_input_exits_2(tmp_path: Path) -> None:
    for target, why in ((tmp_path / "missing.log", "no such file"), (tmp_path, "is a directory")):
        code, err = _cli("replay", str(target))
        assert code == 2, err
        _assert_one_line(err, str(target), why)
    code, err = _cli("run", "--listen", "127.0.0.1:0", "--state-dir", "none", "--", str(tmp_path / "no-such-command"))
    assert code == 2, err
    _assert_one_line(err, "no-such-command", "PATH")


def test_port_in_use_exits_69(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = _cli("watch", str(tmp_path / "*.log"), "--state-dir", "none", "--listen", f"127.0.0.1:{port}")
    assert code == 69, err
    _assert_one_line(err, str(port), "another port")


def test_unusable_state_dir_exits_78(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    code, err = _cli("watch", str(tmp_path / "*.log"), "--state-dir", str(not_a_dir / "sub"), "--listen", "127.0.0.1:0")
    assert code == 78, err
    _assert_one_line(err, "--state-dir", "writable")
    code, err = _cli("status", "--state-dir", str(tmp_path / "empty"))
    assert code == 78, err
    _assert_one_line(err, "no store")
