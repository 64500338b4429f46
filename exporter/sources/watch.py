"""Wake-ups for the tailer: watchdog (inotify) watches the glob-free directory of each pattern, recursively when the
directory part has globs, or the nearest existing ancestor until that directory appears. Its thread only sets an
Event; with no watch (network filesystems, inotify exhausted) the tailer's `wait` simply sleeps its timeout."""

from __future__ import annotations

import contextlib
import glob
import os
import threading
from fnmatch import fnmatch
from pathlib import Path

from watchdog import events
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

__all__ = ["Watcher"]

# Our own reads (open, close-nowrite) must not wake us; directory modifications are covered by the file events.
_WAKE_EVENTS: list[type[events.FileSystemEvent]] = [
    events.FileCreatedEvent,
    events.FileModifiedEvent,
    events.FileAttribEvent,
    events.FileMovedEvent,
    events.FileDeletedEvent,
    events.DirCreatedEvent,
    events.DirMovedEvent,
    events.DirDeletedEvent,
]


class Watcher:
    """Sets `wake` when a followed pattern's directory changes; `watching_all` says whether every pattern is watched
    (else the tailer must look on every poll)."""

    def __init__(self, patterns: list[str], use_inotify: bool) -> None:
        self._patterns = patterns
        self.wake = threading.Event()
        self.watching_all = False
        self._handler = _Wake(patterns, self.wake)
        self._watches: dict[tuple[str, bool], tuple[ObservedWatch, tuple[int, int]]] = {}
        self._observer: BaseObserver | None = None
        if use_inotify:
            observer = Observer()
            with contextlib.suppress(OSError):
                observer.start()
                self._observer = observer

    def update(self) -> bool:
        """Keep a watch on each pattern's glob-free directory (or nearest existing ancestor); called every poll, so
        a watch that could not be set is tried again. True when a watch was set now: what changed before it was set
        is for the caller's next poll to find."""
        if self._observer is None:
            return False
        added = False
        wanted: dict[tuple[str, bool], tuple[int, int]] = {}
        unwatchable = False
        for pattern in self._patterns:
            root, recursive = _watch_root(pattern)
            while not os.path.isdir(root) and os.path.dirname(root) != root:
                root, recursive = os.path.dirname(root), False
            try:
                st = os.stat(root)
                wanted[root, recursive] = (st.st_dev, st.st_ino)
            except OSError:
                unwatchable = True
        for key, (watch, identity) in list(self._watches.items()):
            if wanted.get(key) != identity:  # gone, or deleted and recreated: the old watch sees nothing
                with contextlib.suppress(KeyError, OSError):
                    self._observer.unschedule(watch)
                del self._watches[key]
        for (root, recursive), identity in wanted.items():
            if (root, recursive) not in self._watches:
                with contextlib.suppress(OSError):  # e.g. out of inotify watches: wait() sleeps its timeout
                    watch = self._observer.schedule(self._handler, root, recursive=recursive, event_filter=_WAKE_EVENTS)
                    self._watches[root, recursive] = (watch, identity)
                    added = True
        self.watching_all = not unwatchable and wanted.keys() <= self._watches.keys()
        return added

    def close(self) -> None:
        """Stop watchdog's threads."""
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None


class _Wake(events.FileSystemEventHandler):
    """Runs on watchdog's thread: sets the Event for new directories and for paths a pattern may match."""

    def __init__(self, patterns: list[str], event: threading.Event) -> None:
        self._patterns = [os.path.abspath(p) for p in patterns]
        self._event = event

    def on_any_event(self, event: events.FileSystemEvent) -> None:
        paths = [os.fsdecode(p) for p in (event.src_path, event.dest_path) if p]
        if event.is_directory or any(fnmatch(p, pattern) for p in paths for pattern in self._patterns):
            self._event.set()


def _watch_root(pattern: str) -> tuple[str, bool]:
    """The deepest directory of `pattern` without glob characters, and whether matches may lie further below it."""
    parts = Path(os.path.abspath(pattern)).parent.parts
    fixed = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts))
    return str(Path(*parts[:fixed])), fixed < len(parts)
