"""Run a command, pass its stdout and stderr through byte for byte, and hand its lines on as one source."""

from __future__ import annotations

import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO

from exporter.lines import Line, decode_line
from exporter.sources.files import MAX_LINE_BYTES

__all__ = ["Wrapped"]

_CHUNK = 1 << 16


class Wrapped:
    """The command's two pipes merged into one line stream, in arrival order (Luigi logs to stderr, apps often to
    stdout). Output is copied to our own stdout/stderr as it arrives, before any parsing, so a slow consumer can
    never hold the command's output back."""

    def __init__(
        self,
        argv: Sequence[str],
        source: str,
        stdout: BinaryIO,
        stderr: BinaryIO,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self._clock = clock
        self._lines: queue.Queue[Line | None] = queue.Queue()
        self._offset = 0
        self._offset_lock = threading.Lock()
        self._closed = 0  # pipes at end of file
        self.process = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [
            threading.Thread(target=self._pump, args=(self.process.stdout, stdout), daemon=True, name="stdout"),
            threading.Thread(target=self._pump, args=(self.process.stderr, stderr), daemon=True, name="stderr"),
        ]
        for reader in self._readers:
            reader.start()

    def lines(self, timeout: float) -> Iterator[Line]:
        """Lines that arrived, waiting up to `timeout` for the first; ends when both pipes are closed."""
        try:
            item = self._lines.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            if item is None:
                self._closed += 1
            else:
                yield item
            try:
                item = self._lines.get_nowait()
            except queue.Empty:
                return

    @property
    def finished(self) -> bool:
        return self._closed == len(self._readers) and self._lines.empty()

    def wait(self) -> int:
        for reader in self._readers:
            reader.join()
        return self.process.wait()

    def _pump(self, pipe: BinaryIO, out: BinaryIO) -> None:
        partial = bytearray()
        fd = pipe.fileno()
        while chunk := os.read(fd, _CHUNK):
            out.write(chunk)
            out.flush()
            partial += chunk
            *complete, rest = partial.split(b"\n")
            for raw in complete:
                self._put(raw[:MAX_LINE_BYTES], len(raw) + 1)
            partial = bytearray(rest[: MAX_LINE_BYTES + 1]) if len(rest) > MAX_LINE_BYTES else bytearray(rest)
        if partial:
            self._put(partial[:MAX_LINE_BYTES], len(partial))
        self._lines.put(None)

    def _put(self, raw: bytes | bytearray, size: int) -> None:
        with self._offset_lock:
            self._offset += size
            offset = self._offset
        self._lines.put(Line(self.source, offset, decode_line(raw), self._clock()))
