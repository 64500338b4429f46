"""The HTTP server holds against its clients: idle connections by the hundred while /metrics answers (and memory
given back after), a cap answered 503, an idle timeout, HEAD for probes, and a status line for any HTTP version."""

from __future__ import annotations

import select
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_pipeline
from sidecar import Sidecar

IDLE = 500
HALF_REQUEST = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # the blank line that ends it never comes


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    log, _, code = run_pipeline("secrets", tmp_path_factory.mktemp("http"))
    assert code == 1
    return log


def _sidecar(log: Path, tmp_path: Path, *args: str) -> Sidecar:
    return Sidecar("watch", str(log), "--state-dir", "none", *args, log=tmp_path / "sidecar.log")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _threads(pid: int) -> int:
    """The process's threads, from /proc (its own count would need the process's cooperation)."""
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def _raw(address: tuple[str, int], request: bytes) -> bytes:
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _address(sidecar: Sidecar) -> tuple[str, int]:
    host, port = sidecar.url.removeprefix("http://").split(":")
    return host, int(port)


def _open_idle(address: tuple[str, int], n: int) -> Iterator[socket.socket]:
    for _ in range(n):
        sock = socket.create_connection(address, timeout=10)
        sock.sendall(HALF_REQUEST)
        yield sock


def test_500_idle_connections_held_while_metrics_answers_and_memory_comes_back(log: Path, tmp_path: Path) -> None:
    """Half-sent requests (what a slowloris sends) wait without a thread each: /metrics answers meanwhile, and the
    memory they took is given back once they go."""
    sidecar = _sidecar(log, tmp_path)
    pid, address = sidecar.proc.pid, _address(sidecar)
    try:
        sidecar.wait_for(lambda d: bool(d["runs"]) and d["runs"][0]["status"] == "failed")
        sidecar.get("/metrics")
        start, threads = _rss_mb(pid), _threads(pid)
        idle = list(_open_idle(address, IDLE))
        time.sleep(1)
        began = time.monotonic()
        assert b"luigi_pipeline_last_run_tasks_scheduled" in sidecar.get("/metrics")
        answered = time.monotonic() - began
        during, threads_during = _rss_mb(pid), _threads(pid)
        readable, _, _ = select.select(idle, [], [], 0)
        assert readable == []  # every one still open: the server neither answered nor closed them
        for sock in idle:
            sock.close()
        time.sleep(1.5)
        after = _rss_mb(pid)
        print(
            f"\n{IDLE} idle connections: threads {threads} -> {threads_during}, /metrics in {answered * 1000:.0f} ms;"
            f" RSS {start:.1f} -> {during:.1f} -> {after:.1f} MB"
        )
        assert threads_during <= threads + 2
        assert after - start < 3, (start, during, after)
    finally:
        sidecar.close()


def test_beyond_the_cap_a_connection_is_answered_503(log: Path, tmp_path: Path) -> None:
    sidecar = _sidecar(log, tmp_path, "--http.max-connections", "20")
    address = _address(sidecar)
    try:
        idle = list(_open_idle(address, 20))
        time.sleep(0.5)
        assert _raw(address, b"GET /metrics HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.0 503 Service Unavailable\r\n")
        for sock in idle:
            sock.close()
        deadline = time.monotonic() + 10
        while True:  # the slots come back as their threads see the connections closed
            reply = _raw(address, b"GET /healthz HTTP/1.0\r\n\r\n")
            if reply.startswith(b"HTTP/1.0 200") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert reply.startswith(b"HTTP/1.0 200 OK\r\n")
    finally:
        sidecar.close()


def test_an_idle_connection_is_closed_after_the_timeout(log: Path, tmp_path: Path) -> None:
    sidecar = _sidecar(log, tmp_path, "--http.idle-timeout", "1")
    try:
        (sock,) = _open_idle(_address(sidecar), 1)
        began = time.monotonic()
        with sock:
            assert sock.recv(1024) == b""  # closed by the server, with nothing to say to half a request
        assert 0.9 < time.monotonic() - began < 5
    finally:
        sidecar.close()
    assert "Traceback" not in (tmp_path / "sidecar.log").read_text()


def test_head_and_a_status_line_for_any_version(log: Path, tmp_path: Path) -> None:
    sidecar = _sidecar(log, tmp_path)
    address = _address(sidecar)
    try:
        for path in ("/healthz", "/metrics", "/"):
            with urllib.request.urlopen(urllib.request.Request(sidecar.url + path, method="HEAD"), timeout=10) as r:
                assert r.status == 200 and int(r.headers["Content-Length"]) > 0 and r.read() == b""
        assert _raw(address, b"GET / HTTP/9.9\r\n\r\n").startswith(b"HTTP/1.0 505 ")
        assert _raw(address, b"GET / HTTP/2.0\r\n\r\n").startswith(b"HTTP/1.0 505 ")
        assert _raw(address, b"GET / HTTP/x\r\n\r\n").startswith(b"HTTP/1.0 400 ")
        assert _raw(address, b"BREW /pot HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.0 501 ")
        assert _raw(address, b"GET /healthz\r\n\r\n").startswith(b"HTTP/1.0 200 ")  # no version: one with a status line
        assert sidecar.get("/healthz") == b"ok\n"  # still serving
    finally:
        sidecar.close()
