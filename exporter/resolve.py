"""Which task of a run a line names: scheduler lines name it by Luigi's id, worker lines by its repr; a name not
seen yet makes the task, with its family and params (credentials redacted in them and in the id shown)."""

from __future__ import annotations

from exporter.model import Run, Task
from exporter.redact import Redactor
from exporter.routing import Router
from exporter.taskid import family_of_id, task_id_str

__all__ = ["TaskResolver"]


class TaskResolver:
    """The tasks of the runs of one source, found or made from the names lines give them (`Book` asks)."""

    def __init__(self, redactor: Redactor, router: Router) -> None:
        self.redactor = redactor
        self.router = router  # told of each new task: its holders index

    def by_id(self, run: Run, task_id: str) -> Task:
        """The task of an id from a scheduler-side line; a new id takes family and params from a Checking repr."""
        task = run.tasks.get(task_id)
        if task is None:
            family, params = run.index.describe(task_id) or (family_of_id(task_id, run.index.families()), {})
            task = self._add(run, task_id, family, params)
        return task

    def _add(self, run: Run, key: str, family: str, params: dict[str, str]) -> Task:
        task = run.tasks[key] = Task(key, family)
        run.family_tasks.setdefault(family, []).append(task)
        self._describe(task, family, params)
        run.index.add_id(key)
        self.router.holds(run, key)
        return task

    def _describe(self, task: Task, family: str, params: dict[str, str]) -> None:
        """Family and params of a task, credentials redacted in them and in the id shown."""
        task.params, task.task_id = self.redactor.task(task.key, family, params)

    def by_repr(self, run: Run, repr_text: str) -> Task:
        """The task a worker line's repr names: by Luigi's id recomputed, else the one task of its family."""
        found = run.index.find(repr_text, run.tasks)
        if found is not None:
            task = run.tasks[found[0]]
            if not task.params:
                family = run.index.parse(repr_text).family
                if family != task.family:
                    run.family_tasks[task.family].remove(task)
                    run.family_tasks.setdefault(family, []).append(task)
                    task.family = family
                self._describe(task, family, found[1])
            return task
        parsed = run.index.parse(repr_text)
        if not parsed.params:  # not read: its task shows none of it, and nothing else may show its secrets
            self.redactor.learn_repr(repr_text)
        same_family = run.family_tasks.get(parsed.family, ())
        if len(same_family) == 1:
            return same_family[0]
        # A batch of pending tasks (Luigi never schedules it), or not scheduled in this log (its start was not
        # captured): a task of its own, under the computed id.
        task_id = task_id_str(parsed.family, parsed.params)
        task = run.tasks.get(task_id)
        if task is None:
            members = _batch_members(run, parsed.family, parsed.params)
            task = self._add(run, task_id, parsed.family, parsed.params)
            task.members = members
        return task


# How a `batch_method` joins its members' values (",".join, the documented one, first).
_BATCH_SEPARATORS = (",", ", ", ";", " ", "|", "+", ":", "\n", "-", "_")


def _batch_members(run: Run, family: str, params: dict[str, str]) -> list[Task]:
    """The pending tasks a repr of no known task runs as a batch: Luigi logs no member ids, so they are the tasks
    whose params equal the batch's but in one, whose value the batch's joins (`batch_method=",".join`). A batch method
    that does not join (max, min) names one member's value: that member is the task, and the others stay pending."""
    if len(run.family_tasks.get(family, ())) < 2:
        return []
    for name, value in params.items():
        for separator in _BATCH_SEPARATORS:
            parts = value.split(separator)
            if len(parts) < 2:
                continue
            members = [run.tasks.get(run.index.id_for(family, {**params, name: part})) for part in parts]
            if all(m is not None and not m.attempts and not m.members for m in members):
                return members  # type: ignore[return-value]
    return []
