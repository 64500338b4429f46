"""Where plain HTTP connections wait, without a thread, until their request has come.

A thread per connection is what `http.server` does; a client that connects and says nothing (or half a request)
would hold a thread and its stack for as long as it likes. Here the sidecar's hundreds of idle or slow clients cost a
socket and the bytes they sent, in one thread for all, and a handler thread starts only for a request that has come.
"""

from __future__ import annotations

import contextlib
import io
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_HEAD", "Lobby", "Prefixed"]

MAX_HEAD = 64 << 10  # a request line and headers longer than this are the handler's to refuse (431)


class Lobby:
    """Where plain connections wait, in one thread for all, until their request's head has come (a blank line, or
    MAX_HEAD bytes): hundreds of idle or slow clients then cost a socket each, not a thread and its stack, and
    memory comes back when they go. A head not complete `timeout` seconds after the connection opened is dropped."""

    def __init__(
        self,
        timeout: float,
        admit: Callable[[socket.socket, Any, bytes], None],
        drop: Callable[[socket.socket], None],
    ) -> None:
        self._timeout, self._admit, self._drop = timeout, admit, drop
        self._selector = selectors.DefaultSelector()
        self._wake, self._waker = socket.socketpair()
        self._wake.setblocking(False)
        self._waker.setblocking(False)
        self._selector.register(self._wake, selectors.EVENT_READ)
        self._lock = threading.Lock()
        self._arrived: list[tuple[socket.socket, Any]] = []  # entered, not yet watched (by the lobby's thread)
        self._waiting: dict[socket.socket, tuple[Any, float, bytearray]] = {}  # address, deadline, head so far
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="http-lobby", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def enter(self, sock: socket.socket, address: Any) -> None:
        with self._lock:
            self._arrived.append((sock, address))
        self._ring()

    def close(self) -> None:
        self._closed = True
        self._ring()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for sock in list(self._waiting):
            self._leave(sock)
            self._drop(sock)
        self._selector.close()
        self._wake.close()
        self._waker.close()

    def _ring(self) -> None:
        with contextlib.suppress(OSError):  # its buffer is full: the lobby has been rung already
            self._waker.send(b"\0")

    def _run(self) -> None:
        while not self._closed:
            now = time.monotonic()
            wait = min((deadline for _, deadline, _ in self._waiting.values()), default=now + 1) - now
            for key, _ in self._selector.select(max(wait, 0)):
                if key.fileobj is self._wake:
                    self._take_arrivals()
                else:
                    self._read(key.fileobj)  # type: ignore[arg-type]
            now = time.monotonic()
            for sock in [s for s, (_, deadline, _) in self._waiting.items() if deadline <= now]:
                self._leave(sock)
                self._drop(sock)

    def _take_arrivals(self) -> None:
        try:
            while self._wake.recv(4096):
                pass
        except BlockingIOError:
            pass
        with self._lock:
            arrived, self._arrived = self._arrived, []
        deadline = time.monotonic() + self._timeout
        for sock, address in arrived:
            sock.setblocking(False)
            self._waiting[sock] = (address, deadline, bytearray())
            self._selector.register(sock, selectors.EVENT_READ)

    def _read(self, sock: socket.socket) -> None:
        address, _, head = self._waiting[sock]
        try:
            chunk = sock.recv(MAX_HEAD - len(head))
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client went away
            self._leave(sock)
            self._drop(sock)
            return
        head += chunk
        if b"\r\n\r\n" in head or b"\n\n" in head or len(head) >= MAX_HEAD:
            self._leave(sock)
            sock.setblocking(True)
            self._admit(sock, address, bytes(head))

    def _leave(self, sock: socket.socket) -> None:
        del self._waiting[sock]
        self._selector.unregister(sock)


class Prefixed(io.RawIOBase):
    """A connection's bytes with the head the lobby read of it first, as if nothing had been read."""

    def __init__(self, head: bytes, raw: io.RawIOBase) -> None:
        self._head, self._raw = memoryview(head), raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n], self._head = self._head[:n], self._head[n:]
            return n
        return self._raw.readinto(buffer)
