"""`Liveness`: a build is over when its worker's process on this host is gone, once it was seen alive (a sidecar in
its own PID namespace sees none), or when it was silent longer than `stale_after`."""

from __future__ import annotations

import socket
import subprocess
import time

from exporter.liveness import Liveness
from exporter.model import Run


def _run(pid: int, host: str | None = None, last: float | None = None) -> Run:
    worker = f"Worker(salt=1, workers=2, host={host or socket.gethostname()}, username=u, pid={pid})"
    return Run("r", "s", worker=worker, last_event_at=last)


def test_a_worker_process_seen_alive_then_gone_is_dead() -> None:
    child = subprocess.Popen(["sleep", "30"])
    liveness = Liveness(stale_after=None)
    run = _run(child.pid)
    assert not liveness.dead(run, time.time())
    child.kill()
    child.wait()
    assert liveness.dead(run, time.time())


def test_a_process_never_seen_alive_is_not_judged() -> None:
    child = subprocess.Popen(["true"])
    child.wait()  # gone before the first look: another PID namespace would look the same
    assert not Liveness(stale_after=None).dead(_run(child.pid), time.time())


def test_another_hosts_build_is_judged_by_its_silence() -> None:
    liveness = Liveness(stale_after=60)
    now = time.time()
    assert not liveness.dead(_run(1, host="elsewhere", last=now - 59), now)
    assert liveness.dead(_run(1, host="elsewhere", last=now - 61), now)
