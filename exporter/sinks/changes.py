"""Which runs changed, and when: the sink that wakes the server's event streams (`/api/runs/{run_id}/events`)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from exporter.model import Change

__all__ = ["Changes"]


class Changes:
    """A sequence number per batch of changes, and each run's latest one: an event stream sends a run's document
    when its number passes the one the client has (`Last-Event-ID`), so a reconnecting client misses no change."""

    name = "changes"

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._seq = 0
        self._latest: dict[str, int] = {}  # run id -> the batch that last changed it

    def apply(self, changes: Sequence[Change]) -> None:
        if not changes:
            return
        with self._cond:
            self._seq += 1
            for change in changes:
                self._latest[change.run.run_id] = self._seq
            self._cond.notify_all()

    def latest(self, run_id: str) -> int:
        with self._cond:
            return self._latest.get(run_id, 0)

    def wait(self, run_id: str, after: int, timeout: float) -> int | None:
        """The run's latest batch once it is past `after`, waiting up to `timeout` seconds; None if it is not."""
        with self._cond:
            if self._cond.wait_for(lambda: self._latest.get(run_id, 0) > after, timeout):
                return self._latest[run_id]
        return None

    def close(self) -> None:
        pass
