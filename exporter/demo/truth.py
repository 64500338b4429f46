"""Ground truth for the exporter: one JSON line per Luigi task event, as Luigi itself reports it.

Install it in any Luigi script before ``luigi.build``. Handlers run in whichever process fires the event (forked
workers included), so each event is one ``O_APPEND`` write of one line, which concurrent processes cannot interleave.
"""

import json
import os
import time
from collections.abc import Callable
from typing import Any

import luigi
import luigi.worker
from luigi.event import Event
from luigi.execution_summary import _summary_dict

EVENTS = (
    "START",
    "SUCCESS",
    "FAILURE",
    "PROCESS_FAILURE",
    "TIMEOUT",
    "DEPENDENCY_MISSING",
    "DEPENDENCY_PRESENT",
    "BROKEN_TASK",
)

_installed: set[str] = set()


def install(path: str) -> None:
    """Record every task event to ``path`` (JSON lines); installing the same path twice records once."""
    path = os.path.abspath(path)
    if path in _installed:
        return
    _installed.add(path)
    for name in EVENTS:
        luigi.Task.event_handler(getattr(Event, name))(_recorder(path, name))


def record_summary(path: str, worker: luigi.worker.Worker) -> None:
    """Append Luigi's own per-task partition of the finished build (what its Execution Summary counts, unabridged).

    `execution_summary._summary_dict` is private, but it is exactly the computation the summary text is made from,
    including the `upstream_failure` tasks that Luigi never logs one by one.
    """
    categories = {name: sorted(t.task_id for t in tasks) for name, tasks in _summary_dict(worker).items() if tasks}
    _append(path, {"event": "SUMMARY", "categories": categories, "pid": os.getpid(), "time": time.time()})


def load(path: str) -> list[dict[str, Any]]:
    """Read the events back, in the order they were written."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _recorder(path: str, event: str) -> Callable[..., None]:
    def record(task: luigi.Task, error: object = None) -> None:
        entry = {
            "event": event,
            "task_id": task.task_id,
            "family": task.task_family,
            "params": task.to_str_params(),
            "pid": os.getpid(),
            "time": time.time(),
        }
        if error is not None:
            entry["error"] = str(error)
        _append(path, entry)

    return record


def _append(path: str, entry: dict[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(entry) + "\n").encode())
    finally:
        os.close(fd)
