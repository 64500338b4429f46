"""Following live logs: a `Tailer` makes one pathname look like one perpetual source of lines, whatever happens to
the file objects behind it (rotation, truncation, deletion), like mtail's logstream or the OTel filelog receiver.

Every `poll()` expands the globs again (new run directories appear) and keeps one open descriptor per matched path.
Only complete lines are handed on: an unterminated last line is held until its newline, a line longer than
MAX_LINE_BYTES is cut to that length while the rest is read and discarded. The hard cases:

- Rotation, delete+recreate (`_follow`): the path names another inode. The old object is still readable through our
  descriptor, so its remaining lines (and its unterminated tail: nothing will follow it) are drained first, then the
  new file is read from 0 (`restarted`). If the globs also match the old object under its new name
  (`app.log` -> `app.log.1`), it continues at its offset, found by identity, so no line is read twice.
- Truncation, copytruncate (`_read`): same inode, but smaller than what we read or its first bytes changed; read
  again from 0 (`restarted`). As mtail says, potentially lossy: lines written between our last read and the
  truncation are gone, and a rewrite that keeps the fingerprinted bytes and grows past our offset goes unnoticed.
- Restart (`_open`): a stored Position resumes only if the inode and the fingerprint of the bytes before its offset
  both still match; otherwise the file is read again from 0. An inode reused by a new file is caught by the
  fingerprint, unless the new file starts with the same bytes.
- Errors (`_fail`): a path that vanishes, cannot be opened or is not a regular file is reported once per distinct
  reason as an error Batch, then retried silently on every poll; nothing is raised.
- SIGHUP (`reopen`): at the next poll, after reading what each object has, every descriptor is closed and its
  path opened again as after a restart: the same object continues at its offset (a held partial line is read again
  from there, once), another one is a rotation.
- Latency (`wait`): a `Watcher` (`exporter.sources.watch`, inotify) wakes it when a pattern's directory changes;
  with no watch (network filesystems, inotify exhausted) `wait` simply sleeps its timeout.
- Idle cost (`poll`): while every pattern is watched, a poll no event asked for does nothing, except every
  _UNPROMPTED_POLL_S, as a safety net for changes inotify cannot see; without watches every poll reads, globs and
  stats everything, a cost that grows with the idle run directories followed.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import itertools
import os
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from exporter.lines import Block, Line, Position
from exporter.sources.files import LineSplitter
from exporter.sources.watch import Watcher

__all__ = ["FINGERPRINT_BYTES", "Batch", "Tailer", "still_same"]

FINGERPRINT_BYTES = 1024
_CHUNK = 1 << 16
# At most this much of one file per poll, bounding a catch-up batch; wait() returns at once while more is left.
# A batch's lines, changes and store transaction are held until its commit, and the model's lock while it is
# applied: the bound keeps a catch-up's memory small and a scrape's wait short.
_POLL_BYTES = 1 << 20
_UNPROMPTED_POLL_S = 5.0


@dataclass(frozen=True)
class Batch:
    """New complete lines of one path, or (`error` set, no lines) why it could not be read."""

    path: str
    blocks: list[Block]
    position: Position
    restarted: bool = False
    error: str | None = None

    @property
    def lines(self) -> list[Line]:
        return [line for block in self.blocks for line in block.lines(self.path)]


@dataclass(eq=False)
class _File:
    """One followed path: the file object open under it (if any) and how far it has been read."""

    path: str
    prev: Position | None = None  # the previous object at this path (or a stored position) while none is open
    fd: int | None = None
    identity: str = ""
    prefix: bytes = b""  # the first min(FINGERPRINT_BYTES, offset) bytes, compared to notice a rewrite
    offset: int = 0  # just past the last complete line handed on
    read_pos: int = 0  # just past the last byte read: offset + the held unterminated line
    split: LineSplitter = field(default_factory=LineSplitter)  # holds the line read so far without its newline
    seen: tuple[int, int] = (-1, -1)  # (size, mtime) when last checked for truncation
    error: str | None = None  # the last error reported, so each is reported once
    deleted: bool = False  # the object was seen deleted: a new file reusing its inode is still a rotation

    def position(self) -> Position:
        return Position(self.path, self.identity, _fingerprint(self.prefix), self.offset)


class Tailer:
    """Follows every file matching `patterns`, from one thread: `poll()` never blocks, `wait()` is the only sleep."""

    def __init__(
        self,
        patterns: list[str],
        positions: Mapping[str, Position] | None = None,
        *,
        use_inotify: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._patterns = list(patterns)
        self._clock = clock
        stored = [p for p in (positions or {}).values() if p.identity]
        self._files = {p.path: _File(p.path, prev=p) for p in stored}
        # Positions of file objects no longer open under their path, by identity: a rotated file the globs match
        # under its new name continues where it was (and a stored position follows its file across a rename).
        self._known = {p.identity: p for p in stored}
        self._counts = dict.fromkeys(("truncations", "rotations", "read_errors", "lines_cut"), 0)
        self._reopen = False  # set by `reopen()`, perhaps in a signal handler; done by the next `poll()`
        self.reopened = 0  # how many times every descriptor was let go of and opened again
        self._watcher = Watcher(self._patterns, use_inotify)
        self._wake = self._watcher.wake
        self._woken = True  # an event (or unread data) since the last full poll: the next one must look
        self._polled_at = 0.0  # monotonic time of the last full poll
        self._watch()

    def poll(self) -> list[Batch]:
        """One step: new lines of every followed file, then of newly matched ones; errors come back as batches."""
        self._watch()
        now = time.monotonic()
        prompted = self._woken or self._wake.is_set() or self._reopen
        if self._watcher.watching_all and not prompted and now - self._polled_at < _UNPROMPTED_POLL_S:
            return []
        self._woken, self._polled_at = False, now
        batches: list[Batch] = []
        for f in list(self._files.values()):
            if f.fd is not None:
                batches += self._follow(f)
        if self._reopen:  # after reading what each object had: a held partial line is read again from `offset`
            self._reopen = False
            self.reopened += 1
            for f in self._files.values():
                self._close(f)
        for path in self._expand():
            f = self._files.setdefault(path, _File(path))
            if f.fd is None:
                batches += self._open(f)
        return batches

    def reopen(self) -> None:
        """Let go of every descriptor and open each path again, at the next `poll()` (SIGHUP).

        Each file continues at its offset when the path still names the same object, else starts at 0 as after a
        rotation; nothing is read twice or skipped. Only sets a flag, so a signal handler may call it.
        """
        self._reopen = True

    def wait(self, timeout: float) -> bool:
        """Block until a watched directory changes, or unread data is left from the last poll, or `timeout` passes.

        True when woken early. Clearing before the caller polls loses nothing: a change after the clear sets it again.
        """
        woke = self._wake.wait(timeout)
        self._wake.clear()
        self._woken = self._woken or woke
        return woke

    def counters(self) -> dict[str, int]:
        """Totals since start; read_errors counts reported errors (each distinct one once), not failed retries."""
        return dict(self._counts)

    def lag_bytes(self) -> dict[str, int]:
        """Unread bytes per followed path (size minus the offset handed on)."""
        lag: dict[str, int] = {}
        for f in self._files.values():
            if f.fd is not None:
                with contextlib.suppress(OSError):
                    lag[f.path] = max(0, os.fstat(f.fd).st_size - f.offset)
        return lag

    def close(self) -> None:
        """Release every descriptor and stop watchdog's threads."""
        for f in self._files.values():
            self._close(f)
        self._watcher.close()

    def _expand(self) -> list[str]:
        """Matched paths in order; a literal pattern is kept even when missing, so it gets reported."""
        found = (sorted(glob.glob(p, recursive=True)) if glob.has_magic(p) else [p] for p in self._patterns)
        return list(dict.fromkeys(itertools.chain.from_iterable(found)))

    def _watch(self) -> None:
        if self._watcher.update():
            self._woken = True  # what changed before a new watch was set is found by the next poll

    def _follow(self, f: _File) -> list[Batch]:
        """Read what is new in f's object; if the path now names another object (or none), finish ours off."""
        gone: OSError | None = None
        try:
            if _identity(os.stat(f.path)) == f.identity:
                return self._read(f)
        except OSError as e:
            gone = e
        batches = self._read(f, final=True)
        self._close(f)
        f.deleted = isinstance(gone, FileNotFoundError)
        return batches + self._fail(f, gone) if gone else batches

    def _open(self, f: _File) -> list[Batch]:
        """Open the object now at f.path and start where a matching known position says, else at 0."""
        try:
            fd = os.open(f.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO must not block us
        except OSError as e:
            return self._fail(f, e)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                os.close(fd)
                return self._fail(f, "is a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file")
            identity, prev = _identity(st), f.prev
            known = self._known.pop(identity, None)
            resume = prev if prev is not None and prev.identity == identity else known
            start = resume.offset if resume is not None and _matches(fd, st.st_size, resume) else 0
            os.lseek(fd, start, os.SEEK_SET)
            prefix = os.pread(fd, min(FINGERPRINT_BYTES, start), 0)
        except OSError as e:
            os.close(fd)
            return self._fail(f, e)
        restarted = prev is not None and start == 0 and (prev.identity != identity or prev.offset > 0)
        if prev is not None and (prev.identity != identity or (restarted and f.deleted)):
            self._counts["rotations"] += 1
        elif restarted:
            self._counts["truncations"] += 1
        f.fd, f.identity, f.prefix, f.offset, f.read_pos = fd, identity, prefix, start, start
        f.split, f.seen, f.prev, f.error, f.deleted = LineSplitter(), (-1, -1), None, None, False
        return self._read(f, restarted=restarted)

    def _read(self, f: _File, *, restarted: bool = False, final: bool = False) -> list[Batch]:
        """Hand on f's new complete lines, first restarting at 0 if the file was truncated or rewritten.

        `final`: the object will not be read again, so read it to the end and hand on its unterminated tail too.
        """
        assert f.fd is not None
        try:
            st = os.fstat(f.fd)
            if (st.st_size, st.st_mtime_ns) != f.seen:
                f.seen = (st.st_size, st.st_mtime_ns)
                if st.st_size < f.read_pos or os.pread(f.fd, len(f.prefix), 0) != f.prefix:
                    self._counts["truncations"] += 1
                    os.lseek(f.fd, 0, os.SEEK_SET)
                    f.prefix, f.offset, f.read_pos, f.split = b"", 0, 0, LineSplitter()
                    restarted = True
            blocks = self._blocks(f, st.st_size + _CHUNK if final else _POLL_BYTES)
            if final and f.split.length:
                blocks.append(f.split.flush(f.read_pos, self._clock()))
            if blocks:
                f.offset = blocks[-1].end
                self._counts["lines_cut"] += sum(block.cut for block in blocks)
            if len(f.prefix) < min(FINGERPRINT_BYTES, f.offset):
                f.prefix = os.pread(f.fd, min(FINGERPRINT_BYTES, f.offset), 0)
        except OSError as e:
            self._close(f)
            return self._fail(f, e)
        return [Batch(f.path, blocks, f.position(), restarted)] if blocks or restarted else []

    def _blocks(self, f: _File, budget: int) -> list[Block]:
        """Complete lines from f's read position, reading at most `budget` bytes; the rest of a line stays held."""
        assert f.fd is not None
        blocks: list[Block] = []
        now = self._clock()
        left = budget
        while chunk := os.read(f.fd, min(_CHUNK, left)):
            blocks += f.split.push(chunk, f.read_pos, now)
            f.read_pos += len(chunk)
            left -= len(chunk)
        if left == 0:
            self._wake.set()  # there may be more: the caller should poll again without waiting
        return blocks

    def _close(self, f: _File) -> None:
        """Let go of f's object, remembering its position for a reopen or for the path it was renamed to."""
        if f.fd is None:
            return
        with contextlib.suppress(OSError):
            os.close(f.fd)
        f.fd, f.split = None, LineSplitter()
        f.prev = self._known[f.identity] = f.position()

    def _fail(self, f: _File, reason: OSError | str) -> list[Batch]:
        """An error Batch the first time this reason is seen for f, nothing on the retries that follow."""
        why = reason if isinstance(reason, str) else (reason.strerror or str(reason)).lower()
        error = f"{f.path}: {why}"
        if error == f.error:
            return []
        f.error = error
        self._counts["read_errors"] += 1
        return [Batch(f.path, [], f.prev or f.position(), error=error)]


def _identity(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}"


def _fingerprint(prefix: bytes) -> str:
    return hashlib.sha1(prefix, usedforsecurity=False).hexdigest() if prefix else ""


def still_same(position: Position) -> bool:
    """Is the file at `position.path` still the one the position was taken in (same inode, same first bytes)?

    The pipeline asks before rebuilding its model from the file's prefix after a restart.
    """
    try:
        fd = os.open(position.path, os.O_RDONLY)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        return _identity(st) == position.identity and _matches(fd, st.st_size, position)
    finally:
        os.close(fd)


def _matches(fd: int, size: int, position: Position) -> bool:
    """Is the object open at `fd` the one `position` was taken in: long enough, with the same first bytes?"""
    head = os.pread(fd, min(FINGERPRINT_BYTES, position.offset), 0)
    return position.offset <= size and _fingerprint(head) == position.fingerprint
