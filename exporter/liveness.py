"""Whether a build can still write: its worker's process on this host, and how long it has been silent.

A killed build writes no summary, so only the sidecar can tell it is over: by looking for its worker's process
(`Worker(..., host=H, ..., pid=P)`: the build's main process) when the build ran on this host, and by a silence
longer than `stale_after` when it did not. The model is told (`Book.conclude`); it never looks itself.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from exporter.model import Run
from exporter.records import worker_process

__all__ = ["Liveness", "process_exists"]


def process_exists(pid: int) -> bool:
    """Whether a process of that id exists (signal 0: nothing is sent); a process of another user exists too."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Liveness:
    """Judges open runs dead: their worker's process is gone (same host), or nothing came for `stale_after` s.

    A process is judged gone only once it was seen alive: a sidecar in a container of its own (a Kubernetes pod
    without `shareProcessNamespace`) shares the host name but sees none of the pipeline's processes.
    """

    stale_after: float | None = 1800.0
    host: str = field(default_factory=socket.gethostname)
    exists: Callable[[int], bool] = process_exists
    _seen_alive: set[int] = field(default_factory=set, repr=False)

    def dead(self, run: Run, now: float) -> bool:
        stale = self.stale_after is not None and run.last_event_at is not None
        if stale and now - run.last_event_at > self.stale_after:  # type: ignore[operator]
            return True
        process = worker_process(run.worker) if run.worker is not None else None
        if process is None or process[0] != self.host:
            return False
        pid = process[1]
        if self.exists(pid):
            self._seen_alive.add(pid)
            return False
        if pid in self._seen_alive:
            self._seen_alive.discard(pid)
            return True
        return False
