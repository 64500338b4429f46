"""The store's SQLite file: its tables, how a connection to it is set up, and what makes it corrupt."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

__all__ = ["SCHEMA", "connect", "damage", "is_corrupt", "move_aside"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, source TEXT NOT NULL, pipeline TEXT, status TEXT NOT NULL,
    started_at REAL, ended_at REAL, tasks_total INTEGER, tasks_completed INTEGER, tasks_failed INTEGER,
    document TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, pipeline, ended_at, started_at);
CREATE TABLE IF NOT EXISTS tasks (
    run_id TEXT NOT NULL, task_id TEXT NOT NULL, family TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER,
    started_at REAL, ended_at REAL, error TEXT, PRIMARY KEY (run_id, task_id)
);
CREATE TABLE IF NOT EXISTS task_events (
    id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, task_id TEXT NOT NULL, family TEXT NOT NULL, event TEXT NOT NULL,
    attempt INTEGER NOT NULL, time REAL, worker_pid INTEGER, error TEXT, UNIQUE (run_id, task_id, attempt, event)
);
CREATE TABLE IF NOT EXISTS sources (
    path TEXT PRIMARY KEY, identity TEXT NOT NULL, fingerprint TEXT NOT NULL, offset INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY, span_key TEXT NOT NULL UNIQUE, payload BLOB NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS family_stats (
    pipeline TEXT NOT NULL, family TEXT NOT NULL, result TEXT NOT NULL, attempts INTEGER NOT NULL,
    duration_sum REAL NOT NULL, buckets TEXT NOT NULL, exemplar TEXT, retries INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (pipeline, family, result)
);
"""


def connect(path: Path) -> sqlite3.Connection:
    """A new connection to the store, for a thread of its own (WAL: readers never wait for the writer)."""
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=10)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a killed process loses no committed transaction
    except BaseException:
        db.close()
        raise
    return db


def is_corrupt(err: sqlite3.DatabaseError) -> bool:
    """SQLite says the file is damaged (SQLITE_CORRUPT or SQLITE_NOTADB): exactly `sqlite3.DatabaseError`, not one
    of its subclasses, which are locks, I/O, permissions: problems to report, not reasons to start over."""
    return type(err) is sqlite3.DatabaseError


def damage(db: sqlite3.Connection) -> str | None:
    """What `PRAGMA quick_check` finds wrong with the open database (its first complaint), or None."""
    try:
        problems = [row[0] for row in db.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as err:
        if not is_corrupt(err):
            raise
        problems = [str(err)]
    return None if problems == ["ok"] else problems[0]


def move_aside(path: Path) -> Path:
    """Move a corrupt database with its WAL and index to `NAME.corrupt-<timestamp>`: kept for a post-mortem, and
    its WAL must not be applied to the new database of the same name. Returns where it went."""
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            source.rename(f"{aside}{suffix}")
    return aside
