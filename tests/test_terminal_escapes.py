"""Escape sequences from a log never reach a terminal: `status` and `run --view` under a real pty, the console sink
on a terminal and off one, `replay`'s lines. The build (tests/pipelines/secrets.py) puts OSC title, clipboard and
hyperlink sequences, a full reset, a DCS, CSI, C1 controls, BEL and BS in a task's error and params."""

from __future__ import annotations

import io
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, run_pipeline
from rich.console import Console
from sidecar import Sidecar

from exporter.controls import printable
from exporter.sinks.console import LiveView, plain_lines

# What rich itself writes on a terminal: SGR colours, cursor moves, erase line, cursor shown and hidden.
_RICH = re.compile(rb"\x1b\[[0-9;?]*[mABCDGHKlh]")
_PAYLOAD = ("pwned-title", "cHduZWQ=", "evil.example", "c1-title")


def _assert_inert(output: bytes) -> None:
    """No byte of the payload's sequences: only rich's own CSI, no other ESC, no C1, no BEL or BS, none of what the
    sequences carried."""
    assert b"\x1b[2J" not in output and b"\x1b]" not in output and b"\x1bP" not in output and b"\x1bc" not in output
    rest = _RICH.sub(b"", output).decode("utf-8")
    assert not re.search(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f]", rest), repr(rest)
    for text in _PAYLOAD:
        assert text not in rest


def _under_pty(args: list[str], timeout: float = 60) -> tuple[int, bytes]:
    """Run `luigi-exporter ARGS` with a pty as its terminal (stdin, stdout, stderr); its exit code and output."""
    main, child = os.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "40"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", *args], cwd=ROOT, stdin=child, stdout=child, stderr=child, env=env
    )
    os.close(child)
    output, deadline = bytearray(), time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(main, 65536)
                except OSError:  # EIO: every writer closed its end
                    break
                if not chunk:
                    break
                output += chunk
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=10), bytes(output)
    finally:
        proc.kill()
        os.close(main)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The build's log, and a store the sidecar filled from it."""
    tmp = tmp_path_factory.mktemp("hostile")
    log, _, code = run_pipeline("secrets", tmp)
    assert code == 1 and b"\x1b]52;c;" in log.read_bytes() and b"\xc2\x9b" in log.read_bytes()
    sidecar = Sidecar("watch", str(log), "--state-dir", str(tmp / "state"), log=tmp / "sidecar.log")
    try:
        sidecar.wait_for(lambda d: bool(d["runs"]) and d["runs"][0]["status"] == "failed")
        assert sidecar.stop() == 0
    finally:
        sidecar.close()
    return log, tmp / "state"


def test_status_under_a_pty_shows_no_escape_of_the_log(hostile: tuple[Path, Path]) -> None:
    code, output = _under_pty(["status", "--state-dir", str(hostile[1])])
    assert code == 0
    assert b"Leak" in output and b"1/5 done" in output
    assert b"\\x07\\x08 end" in output  # the bell and backspace after the sequences, shown escaped
    _assert_inert(output)


def test_run_view_under_a_pty_shows_no_escape_of_the_log(hostile: tuple[Path, Path], tmp_path: Path) -> None:
    output_file = tmp_path / "output.log"
    args = ["run", "--view", "--state-dir", "none", "--output", str(output_file), "--", "cat", str(hostile[0])]
    code, output = _under_pty(args)
    assert code == 0
    assert output_file.read_bytes() == hostile[0].read_bytes()  # the command's output itself: byte for byte
    assert b"Leak" in output
    _assert_inert(output)


def test_replay_lines_show_no_escape_of_the_log(hostile: tuple[Path, Path]) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "exporter", "replay", str(hostile[0])], cwd=ROOT, capture_output=True, timeout=60
    ).stdout
    assert b"failed  Leak: " in out
    _assert_inert(out)


def test_the_console_sink_on_a_terminal_and_off_one(hostile: tuple[Path, Path]) -> None:
    """The sink as `watch --view` and `run --view` drive it: rich's live display, and plain lines for a CI log."""
    documents = _documents(hostile[1])
    for terminal in (True, False):
        out = io.StringIO()
        view = LiveView(Console(file=out, force_terminal=terminal, width=160))
        view.update(documents, time.time())
        view.close()
        assert "Leak" in out.getvalue()
        _assert_inert(out.getvalue().encode())
    assert all(line == printable(line) for line in plain_lines(documents, None))


def test_printable_removes_every_kind_of_sequence_and_escapes_the_rest() -> None:
    assert printable("plain text, ünïcödé ✓") == "plain text, ünïcödé ✓"
    assert printable("a\x1b]0;title\x07b\x1b]8;;http://x/\x1b\\link\x1b]8;;\x1b\\c") == "ablinkc"
    assert printable("\x1bc\x1b7\x1b(B\x1bP1$qm\x1b\\\x1b[2J\x1b[31mred\x9b0m\x9d0;t\x9cz") == "redz"
    assert printable("bell\x07 bs\x08 nul\x00 del\x7f c1\x85 nl\n tab\t") == (
        "bell\\x07 bs\\x08 nul\\x00 del\\x7f c1\\x85 nl\\x0a tab\\x09"
    )
    assert printable("cut \x1b]52;c;cHduZWQ=") == "cut "  # an OSC never ended: all of it goes
    assert printable("lone \x1b") == "lone \\x1b"


def _documents(state: Path) -> list[dict]:
    from exporter.sinks.store import Store

    store = Store(state / "luigi-exporter.sqlite")
    try:
        return store.documents()
    finally:
        store.close()


def test_the_sidecars_own_messages_show_no_escape(tmp_path: Path) -> None:
    """A path from a glob or a log is quoted in errors and warnings: those go to the terminal too."""
    name = "x\x1b]0;pwned-title\x07\x9b2J\x07"
    runs = {
        "replay": ["replay", str(tmp_path / name)],
        "watch": ["watch", str(tmp_path / "*.log"), "--state-dir", f"/proc/{name}", "--listen", "127.0.0.1:0"],
    }
    for command, args in runs.items():
        proc = subprocess.run([sys.executable, "-m", "exporter", *args], cwd=ROOT, capture_output=True, timeout=60)
        assert proc.returncode in (2, 78) and b"x\\x07" in proc.stderr, (command, proc.stderr)
        _assert_inert(proc.stderr + proc.stdout)
