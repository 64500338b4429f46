"""The public Python API of luigi-exporter: Luigi runs read from their logs, for an application to embed.

Every run is a dict of the replay contract (README, "The replay contract"): the same document `replay --json`
prints and `/api/runs/{run_id}` serves, `headline` included ("Task 38 of 63: SWOTAnalysisTask").

    import luigi_exporter

    for run in luigi_exporter.read("run/PlanExe_1/log.txt"):
        print(run["run_id"], run["status"], run["headline"])

    with luigi_exporter.follow("run/*/log.txt") as follower:
        for run in follower:  # each run's document again whenever a line changed it
            print(run["run_id"], run["headline"])

Nothing here starts a thread or a server; a follower reads when it is asked to.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import tzinfo
from typing import Any

from exporter import __version__
from exporter.contract import run_dict
from exporter.documents import Documents
from exporter.model import Change, Run
from exporter.options import document_of
from exporter.pipeline import Pipeline
from exporter.redact import DEFAULT_NAMES, Redactor
from exporter.replay import replay_into
from exporter.sources.files import expand, is_readable_file

__all__ = ["Follower", "__version__", "follow", "read", "read_document"]


def read_document(
    *paths: str, tz: tzinfo | None = None, expected_tasks: int | None = None, redact: Sequence[str] = ()
) -> dict[str, Any]:
    """Every build of whole log files (globs too), as `replay --json` prints them: `{"runs": [...], "lines_read",
    "lines_unparsed"}`. `tz`: the zone of timestamps written without one (default local time); `redact`: regular
    expressions of param names to redact besides the credential-like ones always redacted. Raises OSError naming
    the file that cannot be read, before reading any."""
    files = expand(list(paths))
    for path in files:
        if (reason := is_readable_file(path)) is not None:
            raise OSError(reason)
    pipeline = Pipeline(tz=tz, expected_tasks=expected_tasks, redactor=Redactor([*DEFAULT_NAMES, *redact]))
    for path in files:
        replay_into(pipeline, path)
    return document_of(pipeline, Documents(pipeline).all())


def read(*paths: str, tz: tzinfo | None = None, expected_tasks: int | None = None) -> list[dict[str, Any]]:
    """Every build of whole log files, one dict each in file order (`read_document`'s runs)."""
    return read_document(*paths, tz=tz, expected_tasks=expected_tasks)["runs"]


class _Changed:
    """The sink that notes which runs a batch of lines changed (the pipeline makes changes only for a sink)."""

    name = "follower"

    def __init__(self) -> None:
        self.runs: dict[int, Run] = {}

    def apply(self, changes: Sequence[Change]) -> None:
        for change in changes:
            self.runs.setdefault(id(change.run), change.run)

    def close(self) -> None:
        pass

    def take(self) -> list[Run]:
        runs, self.runs = list(self.runs.values()), {}
        return runs


class Follower:
    """Follows log files as Luigi writes them (globs: files that appear later are followed too, rotation and
    truncation handled as `watch` does) and hands on the document of each run a batch of lines changed.

    Iterating waits for changes for ever (until `close`); `changes(timeout)` returns what changed within a wait,
    for a caller with a loop of its own. Not thread-safe: one thread reads; `runs()` may be called between reads.
    """

    def __init__(
        self,
        *globs: str,
        poll: bool = False,
        tz: tzinfo | None = None,
        expected_tasks: int | None = None,
        wait: float = 0.25,
    ) -> None:
        from exporter.sources.tail import Tailer  # the live part (inotify): only for a follower

        self._changed = _Changed()
        self._pipeline = Pipeline(sinks=[self._changed], tz=tz, expected_tasks=expected_tasks)
        self._tailer = Tailer(list(globs), {}, use_inotify=not poll)
        self._wait = wait
        self._closed = False

    def changes(self, timeout: float = 0.0) -> list[dict[str, Any]]:
        """Read what was written since the last call, waiting up to `timeout` seconds for something when nothing
        was; returns the documents of the runs it changed, in the order they were first changed."""
        batches = self._tailer.poll()
        if not batches and timeout > 0 and self._tailer.wait(timeout):
            batches = self._tailer.poll()
        for batch in batches:
            if batch.error is None:
                self._pipeline.feed_blocks(batch.path, batch.blocks)
        return [run_dict(run) for run in self._changed.take()]

    def runs(self) -> list[dict[str, Any]]:
        """Every run read so far, as it stands."""
        return Documents(self._pipeline).all()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while not self._closed:
            yield from self.changes(self._wait)

    def close(self) -> None:
        self._closed = True
        self._tailer.close()

    def __enter__(self) -> Follower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def follow(*globs: str, poll: bool = False, tz: tzinfo | None = None) -> Follower:
    """A `Follower` of `globs` (`poll=True` for network filesystems, where inotify sees no change)."""
    return Follower(*globs, poll=poll, tz=tz)
