"""Several clients of one real `luigid` building at the same time into one log file: one run per build, each equal
to what Luigi's own handlers recorded in that client.

The clients start up together, then build all at once, each after the one before it has announced itself (`logging
disabled in settings`): two builds that announce themselves in the same millisecond read as one record written by two
handlers, and the second build's first lines join the first (the parser's known limit, stated in the README)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PIPELINES, ROOT, replay
from truth import assert_run_matches, load


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def luigid(tmp_path: Path) -> Iterator[int]:
    """A real central scheduler on a loopback port of its own."""
    port = _free_port()
    luigid = Path(sys.executable).parent / "luigid"
    proc = subprocess.Popen(
        [str(luigid), "--address", "127.0.0.1", "--port", str(port), "--state-path", str(tmp_path / "state.pickle")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None, "luigid did not start"
            time.sleep(0.05)
    yield port
    proc.terminate()
    proc.wait(timeout=10)


@pytest.mark.parametrize("clients", [2, 8, 32])
def test_concurrent_clients_of_one_luigid_give_one_run_each(
    tmp_path: Path, luigid: int, capsys: pytest.CaptureFixture[str], clients: int
) -> None:
    log = tmp_path / "all.log"
    names = [f"c{k}" for k in range(1, clients + 1)]
    env = {**os.environ, "PIPELINE_OUT": str(tmp_path / "out"), "PYTHONPATH": str(ROOT)}
    go = tmp_path / "go"
    env |= {"LUIGI_SCHEDULER_PORT": str(luigid), "CENTRAL_FAIL": "c2", "CENTRAL_GO": str(go)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(PIPELINES / "central.py"), str(log), str(tmp_path / f"{name}.truth")],
            env={**env, "CENTRAL_CLIENT": name, "CENTRAL_AFTER": str(k)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for k, name in enumerate(names)
    ]
    deadline = time.monotonic() + 60
    while not all(Path(f"{go}.{name}").exists() for name in names):
        assert time.monotonic() < deadline and all(proc.poll() is None for proc in procs), "clients not ready"
        time.sleep(0.05)
    go.touch()
    codes = [proc.wait(timeout=120) for proc in procs]
    assert codes == [1 if name == "c2" else 0 for name in names]
    runs = replay(capsys, log)["runs"]
    assert len(runs) == clients
    by_client = {run["tasks"][0]["params"]["client"]: run for run in runs}
    assert sorted(by_client) == sorted(names)
    for name, run in by_client.items():
        assert {t["params"].get("client") for t in run["tasks"]} == {name}, name
        assert_run_matches(run, load(str(tmp_path / f"{name}.truth")), 0.001)
