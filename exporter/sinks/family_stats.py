"""The per-family counters: attempts, durations and retries of each (pipeline, family, result), kept in the store's
`family_stats` table so that they survive restarts, and in memory for scrapes and ETAs."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["DURATION_BUCKETS", "FamilyCounters", "FamilyStats"]

# Seconds; fit for tasks from 0.1 s to 30 min (PlanExe's LLM calls take from under a second to about a minute).
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0)

Key = tuple[str, str, str]  # (pipeline, family, result); result "" for the row that counts only retries


@dataclass
class FamilyStats:
    """Counters of one (pipeline, family, result)."""

    attempts: int = 0
    duration_sum: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS))  # not cumulative
    exemplar: tuple[str, float, float] | None = None  # (trace id, duration, time) of the latest attempt
    retries: int = 0


class FamilyCounters:
    """The counters as committed plus those of the open transaction; written by the pipeline thread (`count`,
    `reload`), read by any thread (`copy`, `usual_durations`, `version`) under one lock."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._lock = threading.Lock()
        self._stats = _load(db)
        self.version = 0  # changes whenever the counters do (a cache of what `copy` gives is valid while it holds)
        self._usual: dict[str, tuple[int, dict[str, float]]] = {}  # pipeline -> (version, durations)

    def copy(self) -> dict[Key, FamilyStats]:
        with self._lock:
            return {
                key: FamilyStats(s.attempts, s.duration_sum, list(s.buckets), s.exemplar, s.retries)
                for key, s in self._stats.items()
            }

    def usual_durations(self, pipeline: str) -> Mapping[str, float]:
        """Mean duration of each family's successful attempts in this pipeline, over every run stored (for ETAs).

        Asked for every run a scrape or a page shows: computed again only when the counters have changed since
        (a scan of every family's counters), and shared, so not to be changed by the caller."""
        with self._lock:
            cached = self._usual.get(pipeline)
            if cached is not None and cached[0] == self.version:
                return cached[1]
            usual = {
                family: s.duration_sum / s.attempts
                for (p, family, result), s in self._stats.items()
                if p == pipeline and result == "success" and s.attempts
            }
            self._usual[pipeline] = (self.version, usual)
            return usual

    def count(
        self,
        db: sqlite3.Connection,
        key: Key,
        duration: float | None,
        exemplar: tuple[str, float, float] | None,
        counted: bool = False,
    ) -> None:
        """One attempt that ended with `key`'s result, or a retry (result ""), and its duration, written in `db`'s
        open transaction. `counted`: the attempt was counted when its end had no time yet, so only the duration,
        known now, is added."""
        with self._lock:
            self.version += 1
            stats = self._stats.setdefault(key, FamilyStats())
            if key[2] == "":
                stats.retries += 1
            else:
                stats.attempts += 0 if counted else 1
                if duration is not None:
                    stats.duration_sum += duration
                    index = next((i for i, le in enumerate(DURATION_BUCKETS) if duration <= le), None)
                    if index is not None:
                        stats.buckets[index] += 1
                    stats.exemplar = exemplar
            row = (
                *key,
                stats.attempts,
                stats.duration_sum,
                json.dumps(stats.buckets),
                json.dumps(stats.exemplar) if stats.exemplar else None,
                stats.retries,
            )
        db.execute(
            "INSERT OR REPLACE INTO family_stats (pipeline, family, result, attempts, duration_sum, buckets, exemplar,"
            " retries) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )

    def reload(self, db: sqlite3.Connection) -> None:
        """Back to what is committed: the transaction that counted the rest was rolled back."""
        with self._lock:
            self._stats = _load(db)
            self.version += 1


def _load(db: sqlite3.Connection) -> dict[Key, FamilyStats]:
    stats = {}
    for row in db.execute(
        "SELECT pipeline, family, result, attempts, duration_sum, buckets, exemplar, retries FROM family_stats"
    ):
        exemplar = tuple(json.loads(row[6])) if row[6] else None
        stats[(row[0], row[1], row[2])] = FamilyStats(row[3], row[4], json.loads(row[5]), exemplar, row[7])
    return stats
