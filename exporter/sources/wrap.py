"""Run a command, pass its stdout and stderr through byte for byte, and hand its lines on as one source."""

from __future__ import annotations

import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO

from exporter.lines import Block
from exporter.sources.files import LineSplitter

__all__ = ["Wrapped"]

_CHUNK = 1 << 16


class Wrapped:
    """The command's two pipes merged into one stream of Blocks, in arrival order (Luigi logs to stderr, apps often
    to stdout). Output is copied to our own stdout/stderr as it arrives, before any parsing, so a slow consumer can
    never hold the command's output back. Each pipe is split into lines as a file is (`LineSplitter`: a line over
    MAX_LINE_BYTES comes alone, cut), and offsets count the bytes of both pipes' lines in the order they completed."""

    def __init__(
        self,
        argv: Sequence[str],
        source: str,
        stdout: BinaryIO,
        stderr: BinaryIO,
        clock: Callable[[], float] = time.time,
        offset: int = 0,
    ) -> None:
        """`offset`: where the source's offsets start (a command run again goes on from where the last one ended)."""
        self.source = source
        self._clock = clock
        self._blocks: queue.Queue[Block | None] = queue.Queue()
        self._offset = offset
        self._offset_lock = threading.Lock()
        self._closed = 0  # pipes at end of file
        self._argv, self._out, self._err = list(argv), stdout, stderr
        self._readers: list[threading.Thread] = []

    def start(self) -> None:
        """Start the command and a reader thread for each of its pipes; raises OSError when it can't be run."""
        self.process = subprocess.Popen(self._argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [
            threading.Thread(target=self._pump, args=(self.process.stdout, self._out), daemon=True, name="stdout"),
            threading.Thread(target=self._pump, args=(self.process.stderr, self._err), daemon=True, name="stderr"),
        ]
        for reader in self._readers:
            reader.start()

    def blocks(self, timeout: float) -> Iterator[Block]:
        """Blocks of lines that arrived, waiting up to `timeout` for the first; ends when both pipes are closed."""
        try:
            item = self._blocks.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            if item is None:
                self._closed += 1
            else:
                yield item
            try:
                item = self._blocks.get_nowait()
            except queue.Empty:
                return

    @property
    def finished(self) -> bool:
        return self._closed == 2 and self._blocks.empty()  # both pipes at end of file, all handed on

    @property
    def offset(self) -> int:
        """The offset past the last line handed on."""
        return self._offset

    def wait(self) -> int:
        for reader in self._readers:
            reader.join()
        return self.process.wait()

    def _pump(self, pipe: BinaryIO, out: BinaryIO) -> None:
        split = LineSplitter()
        read = handed = 0  # bytes of this pipe read, and how many of them are in blocks handed on
        fd = pipe.fileno()
        while chunk := os.read(fd, _CHUNK):
            out.write(chunk)
            out.flush()
            handed = self._put(split.push(chunk, read), handed)
            read += len(chunk)
        if split.length:
            self._put([split.flush(read)], handed)
        self._blocks.put(None)

    def _put(self, blocks: list[Block], handed: int) -> int:
        """Hand on one pipe's blocks (ending at offsets of that pipe, the first past `handed`) at offsets of the
        merged stream; returns the pipe's offset now handed on. Queued under the lock, so that offsets rise in the
        order the blocks are read."""
        with self._offset_lock:
            now = self._clock()
            for block in blocks:
                self._offset += block.end - handed
                handed = block.end
                self._blocks.put(block._replace(end=self._offset, arrival=now))
        return handed
