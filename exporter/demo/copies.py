"""Copies of a recorded build as further builds would write them, for logs of many builds (tests, benchmarks)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from exporter.model import Task
from exporter.replay import replay_file
from exporter.taskid import task_id_str

__all__ = ["RUN_DIR_PARAM", "BuildCopies", "NotCopyable", "unique_workers"]

_SALT = re.compile(rb"Worker\(salt=\d+")
RUN_DIR_PARAM = "run_id_dir"  # PlanExe's run directory, every task's param (graph.PlanTask)


def unique_workers(blob: bytes, copy: int) -> bytes:
    """A copy of a build as another build would write it: Luigi draws a new worker salt per build, and the model
    routes worker lines by worker id, so copies sharing ids would be one build's worker running in all of them."""
    return _SALT.sub(lambda m: _salted(m[0], copy), blob)


def _salted(salt: bytes, copy: int) -> bytes:
    return b"%s%06d" % (salt, copy)


class NotCopyable(ValueError):
    """A build whose run directory or task ids could not be rewritten: its copies would share them."""

    def __init__(self, reason: str, task_ids: tuple[str, ...] = ()) -> None:
        super().__init__(f"{reason}: {', '.join(task_ids)}" if task_ids else reason)
        self.task_ids = task_ids


class BuildCopies:
    """Copies of one recorded build, each as a new plan would write it: its own run directory (`DIR-NNNNNN` for
    copy NNNNNN) wherever the build shows it, each task id recomputed from the params with that directory, and a new
    worker salt (`unique_workers`).

    PlanExe gives each plan a run directory, which every task takes as a param, so real builds share neither reprs
    nor ids; copies that did would let the exporter's per-process caches of both hit across builds and flatter
    replay. The build is cut once at every directory, id and salt it shows: a copy is a join of those pieces.
    """

    def __init__(self, blob: bytes, tasks: Iterable[Task], runs: int) -> None:
        self.runs = runs  # the runs the exporter finds in one copy (a resumed build's log holds two)
        by_key = {t.key: t for t in tasks}  # a resumed build's two runs name the same tasks
        # The model keeps as a task's params those its id was found to be made of (repr params less the private
        # and insignificant ones Luigi leaves out), so recomputing the id from them is checked, not searched.
        unmatched = tuple(k for k, t in by_key.items() if task_id_str(t.family, t.params) != k)
        if unmatched:
            raise NotCopyable("ids that their params do not give", unmatched)
        dirs = {t.params.get(RUN_DIR_PARAM) for t in by_key.values()}
        if len(dirs) != 1 or None in dirs:
            raise NotCopyable(f"not one {RUN_DIR_PARAM} in the build: {sorted(map(str, dirs))}")
        (self._run_dir,) = dirs
        self._tasks = list(by_key.values())
        ids = b"|".join(re.escape(k.encode()) for k in by_key)
        # Ids only whole (no `\w` either side): one family's id may end another's (`Plan_x_h` in `ReviewPlan_x_h`).
        cut = re.compile(rb"((?<!\w)(?:%s)(?!\w)|%s|%s)" % (ids, re.escape(self._run_dir.encode()), _SALT.pattern))
        self._pieces = cut.split(blob)  # text, token, text, ..., text
        self._salts = {t for t in self._pieces[1::2] if _SALT.fullmatch(t)}

    @classmethod
    def of_log(cls, path: Path) -> BuildCopies:
        """The copies of the build (or builds, resumed in one run directory) that one log holds, as replayed."""
        runs = replay_file(str(path)).runs()
        return cls(path.read_bytes(), (t for run in runs for t in run.tasks.values()), len(runs))

    def copy(self, n: int) -> bytes:
        """Copy `n`: run directory `DIR-{n:06d}` and the ids its tasks have there; the same `n`, the same bytes."""
        run_dir = f"{self._run_dir}-{n:06d}"
        new = {self._run_dir.encode(): run_dir.encode()}
        new.update((salt, _salted(salt, n)) for salt in self._salts)
        for task in self._tasks:
            params = {k: v.replace(self._run_dir, run_dir) for k, v in task.params.items()}
            new[task.key.encode()] = task_id_str(task.family, params).encode()
        pieces = self._pieces.copy()
        pieces[1::2] = [new[token] for token in pieces[1::2]]
        return b"".join(pieces)
