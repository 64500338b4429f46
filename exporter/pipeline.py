"""Lines -> parser -> book (routing, model) -> store and sinks, for every source; and the loops that drive it.

`replay`, `watch` and `run` all go through `Pipeline.feed_blocks`, so the live model is the replay model. One
thread feeds it (the command's, in `exporter.app`), the only writer; HTTP threads read snapshots under `lock`.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from exporter.book import Book
from exporter.lines import Block, Line, Position
from exporter.model import AttemptResult, Change, Retry, Run
from exporter.parse import Parser
from exporter.redact import Redactor
from exporter.retention import Retention, retained
from exporter.sinks import Sink
from exporter.sources.files import read_blocks, run_base_id

if TYPE_CHECKING:  # the live parts (watchdog, SQLite rows): replay loads neither
    from exporter.liveness import Liveness
    from exporter.sinks.store import Store
    from exporter.sources.tail import Tailer

__all__ = ["Pipeline", "follow"]

log = logging.getLogger("luigi_exporter")


@dataclass
class _Stream:
    parser: Parser
    book: Book


class Pipeline:
    """All sources' parsers and books, the store and the sinks; `feed` is called from one thread only.

    With a store and a `retention` (the sidecar's), finished runs past it leave the model once their rows are
    committed: the model holds what /metrics shows, and memory stays flat however many builds a log holds.
    """

    def __init__(
        self,
        store: Store | None = None,
        sinks: Sequence[Sink] = (),
        tz: tzinfo | None = None,
        expected_tasks: int | None = None,
        redactor: Redactor | None = None,
        retention: Retention | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.redactor = redactor or Redactor()
        self.store = store
        self.sinks = list(sinks)
        self.tz = tz
        self.expected_tasks = expected_tasks
        self.retention = retention
        self._streams: dict[str, _Stream] = {}
        self._base_ids: set[str] = set()
        self._positions: dict[str, Position] = {}  # the latest offset read of every followed file
        self._store_behind = False  # a store write failed: the next batch writes the whole model again
        self.lines_cut = 0
        self.read_errors = 0
        self.sink_errors: Counter[str] = Counter()

    def _stream(self, source: str) -> _Stream:
        stream = self._streams.get(source)
        if stream is None:
            base = run_base_id(source)
            if base in self._base_ids:  # two files of one name (`a/luigi.log`, `b/luigi.log`): keep run ids apart
                base = f"{Path(source).parent.name}/{base}"
            self._base_ids.add(base)
            stream = self._streams[source] = _Stream(
                Parser(self.tz), Book(source, base, self.expected_tasks, self.redactor)
            )
        return stream

    def _listened(self) -> bool:
        """Whether anyone reads the changes events make (replay has no store and no sink): the books make none else."""
        return self.store is not None or bool(self.sinks)

    def feed(self, source: str, lines: Iterable[Line]) -> list[Change]:
        """Apply lines of one source, one by one (tests feed a build line by line; sources hand Blocks)."""
        stream = self._stream(source)
        stream.book.tells = self._listened()
        changes: list[Change] = []
        with self.lock:
            for line in lines:
                changes += stream.book.apply_all(stream.parser.feed(line))
        self._deliver(changes)
        return changes

    def feed_blocks(self, source: str, blocks: Iterable[Block], *, quiet: bool = False) -> list[Change]:
        """`feed` for lines still in bytes (files read or followed), most of them passed over unread; `quiet` rebuilds
        the model only (lines already stored before a restart)."""
        stream = self._stream(source)
        stream.book.tells = not quiet and self._listened()
        changes: list[Change] = []
        parse, apply = stream.parser.feed_block, stream.book.apply_all
        with self.lock:
            for block in blocks:
                self.lines_cut += block.cut
                changes += apply(parse(block, source))
        if not quiet:
            self._deliver(changes)
        return changes

    def forget(self, source: str) -> None:
        """Drop what was read of `source` (its runs, its parser), to read it again from its first byte."""
        with self.lock:
            stream = self._streams.pop(source, None)
            if stream is not None:
                self._base_ids.discard(stream.book.base_id)

    def retry(self, source: str, retry: Retry) -> None:
        """The next build of `source` is `retry` of an earlier one (a wrapped command started again)."""
        with self.lock:
            self._stream(source).book.router.retry = retry

    def finish(self, source: str) -> list[Change]:
        """The source is over (replay's end of file, a wrapped command's exit): close its open builds."""
        stream = self._stream(source)
        stream.book.tells = self._listened()
        with self.lock:
            changes = stream.book.apply_all(stream.parser.flush())
            changes.extend(stream.book.finish())
        self._deliver(changes)
        return changes

    def conclude(self, dead: Callable[[Run], bool]) -> list[Change]:
        """End, `incomplete`, the open builds `dead` says will never write again (`exporter.liveness`)."""
        with self.lock:
            changes = [change for stream in self._streams.values() for change in stream.book.conclude(dead)]
        self._deliver(changes)
        return changes

    def commit(self, positions: Iterable[Position] = ()) -> bool:
        """Make the batch durable with its offsets; False when the store could not (it catches up later)."""
        self._positions.update((p.path, p) for p in positions)
        if self.store is None:
            return True
        try:
            if self._store_behind:
                self._resync()
            else:
                self.store.commit(self._positions.values())
        except (sqlite3.Error, OSError) as err:
            self._store_failed(err)
            return False
        self.evict()
        return True

    def evict(self) -> None:
        """Drop the settled runs `retention` does not keep; only while every row is committed (after `commit`, or
        during `catch_up`, whose lines were), as `_resync` writes again only what the model holds."""
        if self.store is None or self.retention is None or self._store_behind:
            return
        with self.lock:
            keep = {id(run) for run in retained(self.runs(), self.retention, time.time())}
            for stream in self._streams.values():
                book = stream.book
                book.drop([run for run in book.runs if id(run) not in keep and book.settled(run)])

    def take_settled(self) -> list[Run]:
        """The runs at the front of `runs()`'s order that have ended for good, dropped from the model (replay writes
        them as it goes); none while the store is behind, as `_resync` must still write them. A source is passed over
        once it holds no run: replay reads one whole file after the other."""
        if self._store_behind:
            return []
        taken: list[Run] = []
        with self.lock:
            for stream in self._streams.values():
                taken += stream.book.take_settled()
                if stream.book.runs:
                    break
        return taken

    def _store_failed(self, err: Exception) -> None:
        """Disk full, read-only, locked: count it, say it in one line, keep serving what the model has.

        One line per outage, not per failed write: while the store is behind, every batch (and every idle retry,
        see `follow`) fails the same way until it can write again, and then says "caught up".
        """
        self.sink_errors["store"] += 1
        if not self._store_behind:
            log.error("store: %s (figures are still served; the store catches up when it can)", err)
        self._store_behind = True
        with contextlib.suppress(sqlite3.Error, OSError):
            self.store.rollback()  # type: ignore[union-attr]

    def _resync(self) -> None:
        """After a failed write, write the whole model again: rows have natural keys, so only what is missing
        lands, and the offsets are committed with it."""
        assert self.store is not None
        with self.lock:
            changes = [c for s in self._streams.values() for run in s.book.runs for c in _everything(run)]
        self.store.apply(changes)
        self._to_sinks(changes)  # the failed batch took their rows (the span outbox) with it
        self.store.commit(self._positions.values())
        self._store_behind = False
        log.info("store: caught up")

    def _deliver(self, changes: list[Change]) -> None:
        if not changes:
            return
        if self.store is not None and not self._store_behind:  # else `commit` writes the whole model again
            try:
                self.store.apply(changes)
            except (sqlite3.Error, OSError) as err:
                self._store_failed(err)
        self._to_sinks(changes)

    def _to_sinks(self, changes: list[Change]) -> None:
        for sink in self.sinks:
            try:
                sink.apply(changes)
            except Exception as err:  # a sink must not stop the others, nor the reading
                self.sink_errors[sink.name] += 1
                log.error("sink %s failed: %s", sink.name, err)

    # -- reading (any thread) --------------------------------------------------------------------------------

    def runs(self) -> list[Run]:
        with self.lock:
            return [run for stream in self._streams.values() for run in stream.book.runs]

    def books(self) -> list[Book]:
        """Every source's book, in the order sources were first read (hold `lock` while reading them)."""
        return [stream.book for stream in self._streams.values()]

    @property
    def lines_read(self) -> int:
        return sum(s.parser.lines_read for s in self._streams.values())

    @property
    def lines_unparsed(self) -> int:
        return sum(s.parser.lines_unparsed for s in self._streams.values()) + self.lines_cut

    @property
    def store_behind(self) -> bool:
        """A store write failed and has not been made good yet."""
        return self._store_behind

    def sources(self) -> list[str]:
        return list(self._streams)

    def sink_names(self) -> list[str]:
        return [sink.name for sink in self.sinks]


def _everything(run: Run) -> Iterator[Change]:
    """Changes that describe a whole run as it stands: every task, every attempt, and the run's end."""
    for task in run.tasks.values():
        yield Change(run, task)
        for attempt in task.attempts:
            yield Change(run, task, attempt)
            if attempt.result is not AttemptResult.RUNNING:
                yield Change(run, task, attempt, ended=True)
    if run.ended:
        yield Change(run, ended=True)


def catch_up(pipeline: Pipeline, positions: dict[str, Position]) -> dict[str, Position]:
    """Rebuild the model from each file's stored prefix, writing nothing (and dropping runs past retention as it
    goes, all stored); returns the positions still valid.

    A file whose first bytes or identity changed while we were down (rotated, rewritten) starts again from 0.
    """
    from exporter.sources.tail import still_same  # the live part: see TYPE_CHECKING above

    valid = {}
    for path, position in positions.items():
        if not still_same(position):
            continue
        # Fed block by block as read: holding a whole prefix's lines first cost ~1.8 x the log's size in memory on
        # every restart. A read error midway drops what was fed, so the file is read again from 0 into a fresh model.
        try:
            for block in read_blocks(path, 0, position.offset):
                pipeline.feed_blocks(path, [block], quiet=True)
                pipeline.evict()
        except OSError:
            pipeline.forget(path)
            continue
        valid[path] = position
    return valid


def follow(
    pipeline: Pipeline,
    tailer: Tailer,
    stop: threading.Event,
    idle_wait: float = 0.25,
    after_poll: Callable[[], None] | None = None,
    retry_every: float = 1.0,
    liveness: Liveness | None = None,
) -> None:
    """The live loop: read what is new, apply it, commit it with its offsets; sleep on inotify when idle.

    A store that fell behind is retried when idle too (every `retry_every` s): when the logs have gone quiet by the
    time space comes back (the build ended while the disk was full), no new line would otherwise ever catch it up.
    Every `retry_every` s too, builds `liveness` judges dead (killed: no summary will come) are concluded.
    """
    reported: set[str] = set()
    retried = checked = time.monotonic()
    while not stop.is_set():
        if liveness is not None and time.monotonic() - checked >= retry_every:
            checked = time.monotonic()
            if pipeline.conclude(lambda run: liveness.dead(run, time.time())):
                pipeline.commit()
        batches = tailer.poll()
        if after_poll is not None:
            after_poll()
        positions = []
        for batch in batches:
            if batch.error is not None:
                pipeline.read_errors += 1
                if batch.error not in reported:
                    reported.add(batch.error)
                    log.warning("%s", batch.error)
                continue
            pipeline.feed_blocks(batch.path, batch.blocks)
            positions.append(batch.position)
        if positions:
            pipeline.commit(positions)
        elif not batches:
            if pipeline.store_behind and time.monotonic() - retried >= retry_every:
                retried = time.monotonic()
                pipeline.commit()
            tailer.wait(idle_wait)
