"""The span outbox: encoded spans queued in the store, and the thread that delivers them exactly once.

The pipeline thread queues each span in the store's `outbox` table inside the transaction that also stores the
events and the log offset that produced it. After `kill -9`, a span is queued iff its lines are committed; lines
after the offset are read again and make the span again. The delivery thread, with its own connection, sends the
oldest rows and deletes them only once the collector acknowledged them. The one window left: a crash between the
collector's acknowledgement and the DELETE re-sends that batch after the restart, with the same ids (a tracing
backend dedupes them).

The outbox is bounded: when full, the oldest spans go first (the store counts them), since a collector down for
long must not fill the disk.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from typing import Protocol

from exporter.sinks.store import Store

__all__ = ["Outbox", "Sender"]

log = logging.getLogger("luigi_exporter")

_BATCH_SPANS = 512  # rows per export request
_BATCH_BYTES = 1 << 20  # and at most about this many bytes (a collector's gRPC limit is 4 MiB)
_IDLE_S = 0.25  # how often an idle delivery thread looks for committed rows
_BACKOFF_S = (0.5, 10.0)  # first and longest wait after a failed export


class Sender(Protocol):
    """Where payloads go (`exporter.sinks.otlp.sender`)."""

    endpoint: str  # for messages

    def send(self, payloads: Sequence[bytes]) -> str | None:
        """None once the collector acknowledged the payloads, else why not."""

    def shutdown(self) -> None:
        """Stop, aborting a wait between retries."""


class Outbox:
    """The store's span queue and its delivery thread: `add` on the pipeline thread, `start` the delivery, `close`
    sends what is left for at most `timeout` s.

    Metrics (any thread): `spans_queued`, `spans_dropped_total` (read from the store), `spans_sent_total`,
    `export_errors_total`.
    """

    def __init__(self, store: Store, sender: Sender, limit: int) -> None:
        self._store = store
        self._sender = sender
        self._limit = limit
        self.endpoint = sender.endpoint
        self._dropping = False
        self.spans_sent_total = 0
        self.export_errors_total = 0
        self._stop = threading.Event()
        self._deadline = float("inf")
        self._thread: threading.Thread | None = None
        self._db: sqlite3.Connection | None = None  # the delivery thread's
        self._stats_db = store.connect()  # scrapes', under the lock
        self._stats_lock = threading.Lock()
        self._queued_at_close: int | None = None
        self._failure = "not sent before closing"  # the last reason the collector did not take spans

    # -- pipeline thread -------------------------------------------------------------------------------------

    def add(self, key: str, payload: bytes) -> None:
        """Queue a span in the store's open transaction; a key already queued is kept as it is."""
        dropped = self._store.outbox_add([(key, payload, time.time())], self._limit)
        if dropped and not self._dropping:
            log.warning("traces: outbox full (%d spans), dropping the oldest", self._limit)
        self._dropping = bool(dropped)

    # -- delivery thread ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start delivering (once)."""
        self._db = self._store.connect()
        self._thread = threading.Thread(target=self._deliver, args=(self._db,), name="span-delivery", daemon=True)
        self._thread.start()

    def _deliver(self, db: sqlite3.Connection) -> None:
        backoff = 0.0
        while not (self._stop.is_set() and time.monotonic() >= self._deadline):
            try:
                rows = _oldest(db)
            except sqlite3.Error as err:  # the store's disk: try again later rather than stop delivering
                log.error("traces: reading the outbox: %s", err)
                self._stop.wait(_BACKOFF_S[1])
                continue
            if not rows:
                if self._stop.is_set():
                    return
                self._stop.wait(_IDLE_S)
                continue
            failure = self._sender.send([payload for _, _, payload in rows])
            if failure is None:
                self._forget(db, rows)
                self.spans_sent_total += len(rows)
                if backoff:
                    log.info("traces: %s reachable again, sending the queued spans", self.endpoint)
                backoff = 0.0
                continue
            self.export_errors_total += 1
            self._failure = failure
            if not backoff and not self._stop.is_set():  # closing says it once, in close()
                log.warning("traces: %s unreachable (%s); spans wait in the outbox", self.endpoint, failure)
            if self._stop.is_set():
                return  # closing: one try, the rest waits in the store for the next start
            backoff = min(_BACKOFF_S[1], max(_BACKOFF_S[0], backoff * 2))
            self._stop.wait(backoff)

    def _forget(self, db: sqlite3.Connection, rows: list[tuple[int, str, bytes]]) -> None:
        """Delete what the collector acknowledged; the key guards against a row id reused after a drop."""
        while True:
            try:
                db.execute("BEGIN IMMEDIATE")
                db.executemany("DELETE FROM outbox WHERE id = ? AND span_key = ?", [r[:2] for r in rows])
                db.execute("COMMIT")
                return
            except sqlite3.OperationalError as err:  # the pipeline holds the write lock longer than the timeout
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if self._stop.is_set() and time.monotonic() >= self._deadline:
                    log.error("traces: %d delivered spans stay queued and will be sent again: %s", len(rows), err)
                    return

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued for at most `timeout` seconds; what is left stays in the store for the next start."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._deadline = time.monotonic() + timeout
            self._stop.set()
            thread.join(timeout)
        self._sender.shutdown()  # aborts the exporter's own retry wait if the thread is still in it
        if thread is not None and thread.is_alive():
            thread.join(1.0)
        self._queued_at_close = self.spans_queued
        if self._queued_at_close:
            log.warning(
                "traces: %d spans not delivered to %s (%s)", self._queued_at_close, self.endpoint, self._failure
            )
        if self._db is not None and not (thread is not None and thread.is_alive()):
            self._db.close()
        with self._stats_lock:
            self._stats_db.close()

    # -- metrics (any thread) ------------------------------------------------------------------------------------

    @property
    def spans_queued(self) -> int:
        if self._queued_at_close is not None:
            return self._queued_at_close
        return self._stat("SELECT count(*) FROM outbox")

    @property
    def spans_dropped_total(self) -> int:
        return self._stat("SELECT coalesce(max(value), 0) FROM counters WHERE name = 'spans_dropped'")

    def _stat(self, sql: str) -> int:
        with self._stats_lock:
            return int(self._stats_db.execute(sql).fetchone()[0])


def _oldest(db: sqlite3.Connection) -> list[tuple[int, str, bytes]]:
    """The oldest queued rows, at most _BATCH_SPANS of them and about _BATCH_BYTES: one request a collector takes."""
    rows, size = [], 0
    cursor = db.execute("SELECT id, span_key, payload FROM outbox ORDER BY id LIMIT ?", (_BATCH_SPANS,))
    try:
        for row in cursor:
            rows.append(row)
            size += len(row[2])
            if size >= _BATCH_BYTES:
                break
    finally:
        cursor.close()  # ends the read transaction now, not when the cursor is collected
    return rows
