"""The store alone, fed the changes of hand-made events (`handmade`) through a real book: the exact rows of runs,
tasks and task events, the per-family counters, positions committed with them, and a rolled-back batch."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from handmade import T, ends, fails, runs, scheduled, worker_starts

from exporter.book import Book
from exporter.contract import run_dict
from exporter.events import Event
from exporter.ids import trace_id
from exporter.lines import Position
from exporter.sinks.family_stats import DURATION_BUCKETS, FamilyStats
from exporter.sinks.store import Store

ROOT = T("Root")
EXTRACT = T("Extract", {"day": "2024-01-01", "source": "db"})
BUILD: list[Event] = [
    *scheduled(ROOT, EXTRACT, at=1.0),
    *worker_starts(1.5),
    *fails(EXTRACT, 2.0, 3.0, "RuntimeError: db down"),
    *runs(EXTRACT, 5.0, 6.0, pid=102),
    *runs(ROOT, 6.0, 7.5, pid=103),
    *ends(8.0, 2, completed=2),
]
POSITION = Position("/logs/build.log", "2049:77", "da39a3ee", 4096)
TRACE = f"{trace_id('/logs/build.log', 'build.log'):032x}"


def _rows(path: Path, query: str) -> list[tuple]:
    db = sqlite3.connect(path)
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()


def _buckets(duration: float) -> list[int]:
    return [1 if le == next(b for b in DURATION_BUCKETS if duration <= b) else 0 for le in DURATION_BUCKETS]


def test_a_build_s_rows_and_counters_are_committed_with_the_offset_they_were_read_to(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    book, store = Book("/logs/build.log", "build.log"), Store(path)
    store.apply(book.apply_all(BUILD))
    store.commit([POSITION])
    run = book.runs[0]

    runs_rows = _rows(
        path,
        "SELECT run_id, source, pipeline, status, started_at, ended_at, tasks_total,"
        " tasks_completed, tasks_failed, document FROM runs",
    )
    assert [row[:9] for row in runs_rows] == [("build.log", "/logs/build.log", "Root", "succeeded", 1.0, 8.0, 2, 2, 0)]
    assert json.loads(runs_rows[0][9]) == run_dict(run) == store.document("build.log")
    assert _rows(path, "SELECT task_id, family, state, attempts, started_at, ended_at, error FROM tasks") == [
        (ROOT.id, "Root", "done", 1, 6.0, 7.5, None),
        (EXTRACT.id, "Extract", "done", 2, 5.0, 6.0, None),  # done in the end: its error is none, as on the API
    ]
    assert _rows(path, "SELECT task_id, event, attempt, time, worker_pid, error FROM task_events ORDER BY id") == [
        (ROOT.id, "scheduled", 0, 1.0, None, None),
        (EXTRACT.id, "scheduled", 0, 1.0, None, None),
        (EXTRACT.id, "started", 1, 2.0, 101, None),
        (EXTRACT.id, "failure", 1, 3.0, 101, "RuntimeError: db down"),
        (EXTRACT.id, "started", 2, 5.0, 102, None),
        (EXTRACT.id, "success", 2, 6.0, 102, None),
        (ROOT.id, "started", 1, 6.0, 103, None),
        (ROOT.id, "success", 1, 7.5, 103, None),
    ]
    assert store.stats() == {
        ("Root", "Extract", "failure"): FamilyStats(1, 1.0, _buckets(1.0), (TRACE, 1.0, 3.0)),
        ("Root", "Extract", ""): FamilyStats(retries=1),  # attempt 2 retried a failure
        ("Root", "Extract", "success"): FamilyStats(1, 1.0, _buckets(1.0), (TRACE, 1.0, 6.0)),
        ("Root", "Root", "success"): FamilyStats(1, 1.5, _buckets(1.5), (TRACE, 1.5, 7.5)),
    }
    assert store.usual_durations("Root") == {"Extract": 1.0, "Root": 1.5}
    assert store.positions() == {"/logs/build.log": POSITION}
    store.close()

    again = Store(path)  # what a restart finds
    assert again.positions() == {"/logs/build.log": POSITION}
    assert again.stats() == store.stats()
    again.close()


def test_changes_applied_twice_write_each_row_once(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    book, store = Book("/logs/build.log", "build.log"), Store(path)
    changes = book.apply_all(BUILD)
    store.apply(changes)
    store.commit()
    version = store.stats_version
    store.apply(changes)
    store.commit()
    assert _rows(path, "SELECT count(*) FROM task_events") == [(8,)]
    assert store.stats_version == version and store.stats()[("Root", "Extract", "failure")].attempts == 1
    store.close()


def test_a_rolled_back_batch_leaves_neither_rows_nor_counts(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    book, store = Book("/logs/build.log", "build.log"), Store(path)
    store.apply(book.apply_all(BUILD[:4]))  # scheduled: one transaction, committed
    store.commit([Position("/logs/build.log", "2049:77", "", 100)])
    store.apply(book.apply_all(BUILD[4:]))
    assert store.stats() != {}
    store.rollback()
    assert store.stats() == {}
    assert _rows(path, "SELECT event FROM task_events") == [("scheduled",), ("scheduled",)]
    assert store.positions()["/logs/build.log"].offset == 100
    store.close()


def test_a_store_in_memory_behaves_the_same_and_leaves_nothing(tmp_path: Path) -> None:
    book, store = Book("/logs/build.log", "build.log"), Store(None)
    store.apply(book.apply_all(BUILD))
    store.commit()
    assert [d["status"] for d in store.documents()] == ["succeeded"]
    scratch = store.path
    store.close()
    assert not scratch.exists()
