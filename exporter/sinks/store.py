"""The durable store: SQLite (WAL) with runs, tasks, task_events, sources and per-family counters.

Exactly once across `kill -9`: the pipeline writes the rows a batch of lines produced and the byte offset just past
those lines in ONE transaction (`apply` ... `commit(positions)`). After a restart the pipeline re-reads each file up to
its committed offset to rebuild the model without writing (nothing before the offset is new), then goes on from
there. Every event row also has a natural key (run, task, attempt, event), so a row can never be written twice
even if a batch were applied again.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from exporter.contract import run_counts, run_dict, to_json
from exporter.ids import trace_id
from exporter.lines import Position
from exporter.model import FAILED_RESULTS, Attempt, AttemptResult, Change, Run, Task, TaskState, task_error
from exporter.sinks import database
from exporter.sinks.family_stats import FamilyCounters, FamilyStats

__all__ = ["RunTotals", "Store"]

# A task's state that is news without an attempt: written once as an event of attempt 0.
_STATE_EVENTS = {
    TaskState.ALREADY_DONE: "already_done",
    TaskState.MISSING_INPUT: "missing_input",
    TaskState.UNKNOWN: "unknown",
    TaskState.DISABLED: "disabled",
    TaskState.UPSTREAM_FAILED: "upstream_failed",
}


class RunTotals(NamedTuple):
    """A pipeline's stored runs of one status: how many, their summed duration over those with both times, and
    the latest end."""

    runs: int
    duration_sum: float
    timed: int
    last_end: float | None


class Store:
    """One SQLite database; written by the pipeline thread only, its counters read by any thread via `stats()`.

    `path=None` keeps everything in memory (`--state-dir none`): same behaviour, nothing survives the process.
    """

    name = "store"

    def __init__(self, path: Path | None) -> None:
        # In memory (`--state-dir none`) is a file in a private temporary directory, removed on close: other threads
        # (span delivery) need connections of their own, which SQLite's :memory: cannot give.
        self._scratch = tempfile.TemporaryDirectory(prefix="luigi-exporter-") if path is None else None
        self.path = Path(self._scratch.name) / "store.sqlite" if self._scratch else path
        self._db = self.connect()
        try:
            self._db.executescript(database.SCHEMA)
            self._counters = FamilyCounters(self._db)
        except BaseException:
            self._db.close()  # closed now, not when the traceback goes: see `open_or_rebuild`
            raise
        self._in_txn = False
        # Rows that hold a run's or a task's latest figures are written once per batch, at commit: a burst of
        # lines touches each task several times.
        self._dirty_runs: dict[str, Run] = {}
        self._dirty_tasks: dict[tuple[str, str], tuple[Run, Task]] = {}
        # Event rows written in this batch as they were: every change of a task repeats its `scheduled` row.
        self._batch_events: set[tuple[str, str, int, str, float | None, str | None]] = set()

    @classmethod
    def open_or_rebuild(cls, path: Path | None) -> tuple[Store, str | None]:
        """The store at `path`; a corrupt one is moved aside and a new one started, which the logs then fill again
        from byte 0 (it has no positions). Returns the store and, when that happened, one line saying so.

        Corrupt means SQLite says so when it opens the file or `PRAGMA quick_check` finds damage
        (`exporter.sinks.database`); the file goes aside with its WAL.
        """
        try:
            store = cls(path)  # closes its connection before it raises
        except sqlite3.DatabaseError as err:
            if not database.is_corrupt(err) or path is None:
                raise
            why = str(err)
        else:
            try:
                why = database.damage(store._db)
            except BaseException:
                store.close()
                raise
            if why is None or path is None:
                return store, None
            store.close()
        aside = database.move_aside(path)
        return cls(path), f"{path} was corrupt ({' '.join(why.split())}): moved aside to {aside}"

    def connect(self) -> sqlite3.Connection:
        """A new connection to this store, for a thread of its own (WAL: readers never wait for the writer)."""
        return database.connect(self.path)

    # -- reading -------------------------------------------------------------------------------------------

    def positions(self) -> dict[str, Position]:
        rows = self._db.execute("SELECT path, identity, fingerprint, offset FROM sources").fetchall()
        return {row[0]: Position(*row) for row in rows}

    @property
    def stats_version(self) -> int:
        """Changes whenever the per-family counters do (a cache of what `stats` gives is valid while it holds)."""
        return self._counters.version

    def stats(self) -> dict[tuple[str, str, str], FamilyStats]:
        """A copy of the per-family counters, keyed by (pipeline, family, result)."""
        return self._counters.copy()

    def usual_durations(self, pipeline: str) -> Mapping[str, float]:
        """Mean duration of each family's successful attempts in this pipeline, over every run stored (for ETAs):
        shared, not to be changed by the caller."""
        return self._counters.usual_durations(pipeline)

    def documents(self) -> list[dict]:
        """Every stored run in the replay contract, oldest first (for `status` and `report` without a sidecar)."""
        rows = self._db.execute("SELECT document FROM runs ORDER BY started_at IS NULL, started_at, rowid")
        return [json.loads(row[0]) for row in rows]

    def run_totals(self) -> dict[tuple[str, str], RunTotals]:
        """The runs stored per (pipeline, status), from any thread (a scrape): a scan of an index that holds every
        column asked for, never of the runs' documents."""
        db = self.connect()
        try:
            rows = db.execute(
                "SELECT pipeline, status, count(*), total(ended_at - started_at), count(ended_at - started_at),"
                " max(ended_at) FROM runs GROUP BY status, pipeline"
            ).fetchall()
        finally:
            db.close()
        return {(pipeline or "", status): RunTotals(*figures) for pipeline, status, *figures in rows}

    def document(self, run_id: str) -> dict | None:
        """One stored run in the replay contract, from any thread: a connection of its own sees only committed rows
        (the pipeline's may be inside a batch's transaction)."""
        db = self.connect()
        try:
            row = db.execute("SELECT document FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        finally:
            db.close()
        return json.loads(row[0]) if row is not None else None

    # -- writing (pipeline thread) ---------------------------------------------------------------------------

    def apply(self, changes: Sequence[Change]) -> None:
        """Write what these changes mean, inside the transaction `commit` ends."""
        if not changes:
            return
        self._begin()
        for change in changes:
            run, task, attempt = change.run, change.task, change.attempt
            self._dirty_runs[run.run_id] = run
            if task is None:
                if change.ended:
                    self._dirty_tasks.update(((run.run_id, t.key), (run, t)) for t in run.tasks.values())
                continue
            self._event(run, task, 0, "scheduled", run.started_at, None, None)
            event = _STATE_EVENTS.get(task.state)
            if event is not None:
                self._event(run, task, 0, event, run.last_event_at, None, task.error)
            if attempt is not None:
                self._attempt(run, task, attempt, change.ended)
            self._dirty_tasks[run.run_id, task.key] = (run, task)

    def commit(self, positions: Iterable[Position] = ()) -> None:
        """End the transaction: the rows written since `apply` and the offsets they were read up to, together."""
        self._begin()
        for run, task in self._dirty_tasks.values():
            self._task_row(run, task)
        self._dirty_tasks.clear()
        for run in self._dirty_runs.values():
            self._run_row(run)
        self._dirty_runs.clear()
        self._batch_events.clear()
        self._db.executemany(
            "INSERT INTO sources (path, identity, fingerprint, offset) VALUES (?, ?, ?, ?) ON CONFLICT (path) "
            "DO UPDATE SET identity = excluded.identity, fingerprint = excluded.fingerprint, offset = excluded.offset",
            [(p.path, p.identity, p.fingerprint, p.offset) for p in positions],
        )
        self._db.execute("COMMIT")
        self._in_txn = False

    def outbox_add(self, spans: Iterable[tuple[str, bytes, float]], limit: int) -> int:
        """Queue encoded spans (key, payload, created) in this batch's transaction; keeps at most `limit` queued,
        dropping the oldest (and counting them in `counters`). Returns how many were dropped now."""
        self._begin()
        self._db.executemany("INSERT OR IGNORE INTO outbox (span_key, payload, created) VALUES (?, ?, ?)", spans)
        size = self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        if size <= limit:
            return 0
        dropped = size - limit
        self._db.execute("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)", (dropped,))
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES ('spans_dropped', ?) "
            "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            (dropped,),
        )
        return dropped

    def rollback(self) -> None:
        """Undo the open transaction, and the counters it bumped.

        A full disk or an I/O error may have ended the transaction already (SQLite rolls back by itself): then a
        ROLLBACK would raise. So `_in_txn` is cleared first and ROLLBACK sent only inside a transaction: a flag left
        set would run every later batch in autocommit, fail its COMMIT, and the store would never catch up (while
        the counters counted twice).
        """
        if not self._in_txn:
            return
        self._in_txn = False
        self._dirty_runs.clear()
        self._dirty_tasks.clear()
        self._batch_events.clear()
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        finally:
            self._counters.reload(self._db)

    def close(self) -> None:
        self.rollback()
        self._db.close()
        if self._scratch is not None:
            self._scratch.cleanup()

    def _begin(self) -> None:
        if not self._in_txn:
            self._db.execute("BEGIN IMMEDIATE")
            self._in_txn = True

    def _event(
        self, run: Run, task: Task, attempt: int, event: str, time: float | None, pid: int | None, error: str | None
    ) -> str | None:
        """Write one event row once: "new" when it is, "timed" when a repeat gave it the time it lacked (a second
        handler's copy in a later batch; a repeat may add only that and the error text), else None."""
        key = (run.run_id, task.task_id, attempt, event)
        written = (*key, time, error)
        if written in self._batch_events:
            return None
        self._batch_events.add(written)
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO task_events (run_id, task_id, attempt, event, family, time, worker_pid, error) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (*key, task.family, time, pid, error),
        )
        if cursor.rowcount == 1:
            return "new"
        where = "WHERE run_id = ? AND task_id = ? AND attempt = ? AND event = ?"
        if error is not None:
            self._db.execute(f"UPDATE task_events SET error = ? {where}", (error, *key))
        if time is not None:
            cursor = self._db.execute(f"UPDATE task_events SET time = ? {where} AND time IS NULL", (time, *key))
            if cursor.rowcount == 1:
                return "timed"
        return None

    def _attempt(self, run: Run, task: Task, attempt: Attempt, ended: bool) -> None:
        if not ended:
            written = self._event(run, task, attempt.number, "started", attempt.started_at, attempt.pid, None)
            if written == "new" and _retries(run, task, attempt):
                self._bump(run, task, "retries", attempt)
            return
        result = attempt.result.value
        written = self._event(run, task, attempt.number, result, attempt.ended_at, attempt.pid, attempt.error)
        if written is not None and attempt.result is not AttemptResult.NEW_REQUIREMENTS:
            self._bump(run, task, result, attempt, counted=written == "timed")

    def _bump(self, run: Run, task: Task, result: str, attempt: Attempt, counted: bool = False) -> None:
        """Count an attempt that ended with `result` (or a retry), and its duration; `counted`: it was counted when
        its end had no time yet, and only the duration, known now, is added."""
        key = (run.pipeline or "", task.family, "" if result == "retries" else result)
        duration = None if result == "retries" else attempt.duration_s
        exemplar = None
        if duration is not None:
            exemplar = (f"{trace_id(run.source, run.run_id):032x}", duration, attempt.ended_at or 0.0)
        self._counters.count(self._db, key, duration, exemplar, counted)

    def _task_row(self, run: Run, task: Task) -> None:
        last = task.last_attempt
        state = task.state
        self._db.execute(
            "INSERT OR REPLACE INTO tasks (run_id, task_id, family, state, attempts, started_at, ended_at, error) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run.run_id,
                task.task_id,
                task.family,
                state.value,
                len(task.attempts),
                last.started_at if last else None,
                last.ended_at if last else None,
                task_error(task, state),
            ),
        )
        if state is TaskState.UPSTREAM_FAILED:
            self._event(run, task, 0, "upstream_failed", run.ended_at, None, None)

    def _run_row(self, run: Run) -> None:
        counts = run_counts(run)
        self._db.execute(
            "INSERT OR REPLACE INTO runs (run_id, source, pipeline, status, started_at, ended_at, tasks_total,"
            " tasks_completed, tasks_failed, document) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run.run_id,
                run.source,
                run.pipeline,
                run.status.value,
                run.started_at,
                run.ended_at,
                counts["tasks_total"],
                counts["tasks_completed"],
                counts["tasks_failed"],
                to_json(run_dict(run)),
            ),
        )


def _retries(run: Run, task: Task, attempt: Attempt) -> bool:
    """Whether starting `attempt` retries a failure: Luigi's after a failed attempt (not a re-run after dynamic
    dependencies), or the first attempt in a retry build (`run --retries`) of a task that failed in the build before."""
    if attempt.number > 1:
        return task.attempts[attempt.number - 2].result in FAILED_RESULTS
    return run.retry is not None and task.task_id in run.retry.failed
