"""Spans from the model: one trace per run, one span per task attempt, as plain values (no I/O, no threads, no clock).

A run's trace holds its root span (`RUN {pipeline}`, SERVER), its `scheduling` child (from the run's start to its
first attempt's) and a child per attempt. Ids are deterministic (`exporter.ids`), so children may go out before
their root and a replayed log gives the same trace again.

`SpanBuilder` decides when a span is final: an attempt's when it ended and no line to come may change it, the run's
when the run ended. Each span is made once; the caller encodes and queues it (`exporter.sinks.otlp`,
`exporter.sinks.outbox`).

Attributes follow the OTel CI/CD conventions: `cicd.pipeline.*`, `error.type` on what failed (the exception's
type when the traceback names one, else the attempt's result), and with an external URL (`--external-url`, the
sidecar as users reach it) `cicd.pipeline.run.url.full` and `cicd.pipeline.task.run.url.full`: the run's document
on `/api/runs/{run_id}`, with the task's id as the fragment. The URL is configured, never derived from the listen
address, so that a replay and the live sidecar make the same spans.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from exporter import ids
from exporter.contract import run_counts
from exporter.model import FAILED_RESULTS, Attempt, AttemptResult, Change, Run, RunStatus, Task

__all__ = ["Failure", "Kind", "Link", "Span", "SpanBuilder", "attempt_span", "run_spans"]

Value = str | int

# OTel CI/CD semantic conventions: cicd.pipeline.task.run.result and cicd.pipeline.result.
_TASK_RESULT = {
    AttemptResult.SUCCESS: "success",
    AttemptResult.FAILURE: "failure",
    AttemptResult.DIED: "error",  # the worker process died: the task did not finish
    AttemptResult.TIMEOUT: "timeout",
}  # running and new_requirements (the attempt yielded dynamic dependencies) have no result yet
_RUN_RESULT = {
    RunStatus.SUCCEEDED: "success",
    RunStatus.FAILED: "failure",
    RunStatus.BLOCKED: "failure",
    RunStatus.INCOMPLETE: "error",  # the log ended without Luigi's summary: killed
}
_EXCEPTION_LINE = re.compile(r"([A-Za-z_][\w.]*)(?::\s*(.*))?")


class Kind(Enum):
    """OTLP's span kinds that runs use: the root serves the build, everything else is inside it."""

    INTERNAL = "internal"
    SERVER = "server"


@dataclass(frozen=True)
class Link:
    """A span in another place: the attempt a retry repeats, or the build a retried build repeats."""

    trace_id: int
    span_id: int


@dataclass(frozen=True)
class Failure:
    """An error status with its description, and the `exception` event's attributes (a run's failure has none)."""

    message: str
    exception: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Span:
    """One finished span; times in nanoseconds since the epoch, as OTLP carries them."""

    trace_id: int
    span_id: int
    parent_id: int | None  # the run's root span; None for the root itself
    name: str
    kind: Kind
    start: int
    end: int
    attributes: Mapping[str, Value]
    links: tuple[Link, ...] = ()
    failure: Failure | None = None

    @property
    def key(self) -> str:
        """Unique per span of every run: what the outbox dedupes a span made again by."""
        return f"{self.trace_id:032x}{self.span_id:016x}"


class SpanBuilder:
    """Turns batches of model changes into the spans they finish, in the order they finished: each once per batch
    (a later batch that repeats an end makes the span again, with the same key, which the outbox keeps once).

    Spans wait for what lines to come may give them: per source, the failed attempt whose traceback is next; per
    run, attempts whose end has no time yet, and a run whose summary has none.
    """

    def __init__(self, external_url: str | None = None) -> None:
        self.external_url = external_url.rstrip("/") if external_url else None
        self._held: dict[str, tuple[Run, Task, Attempt]] = {}
        self._untimed: dict[tuple[str, str], dict[int, tuple[Task, Attempt]]] = {}
        self._untimed_runs: set[tuple[str, str]] = set()

    def apply(self, changes: Sequence[Change]) -> list[Span]:
        made: list[Span] = []
        done: set[int] = set()  # span ids made in this batch: the model already holds the batch's end state
        for change in changes:
            run, task, attempt = change.run, change.task, change.attempt
            held = self._held.pop(run.source, None)
            if held is not None and held[2] is not attempt:
                self._add(made, done, attempt_span(*held, self.external_url))
            if task is None:
                if change.ended:
                    self._run_ended(run, made, done)
            elif attempt is not None and change.ended:
                self._attempt_ended(run, task, attempt, made, done)
        return made

    def _attempt_ended(self, run: Run, task: Task, attempt: Attempt, made: list[Span], done: set[int]) -> None:
        """An attempt's span, once nothing to come may change it: a failure's traceback comes with the next lines
        (any other change of the source means it did not), and when the end has no time (Luigi's own `LEVEL: msg`
        handler writes none), a second handler's copy may bring it, after other processes' lines, before the run
        ends."""
        key = (run.source, run.run_id)
        if attempt.ended_at is None:
            self._untimed.setdefault(key, {})[id(attempt)] = (task, attempt)
            return
        if key in self._untimed:
            self._untimed[key].pop(id(attempt), None)
        if attempt.result is AttemptResult.FAILURE and attempt.error is None:
            self._held[run.source] = (run, task, attempt)
        else:
            self._add(made, done, attempt_span(run, task, attempt, self.external_url))

    def _run_ended(self, run: Run, made: list[Span], done: set[int]) -> None:
        """The run's spans, and those of its attempts still without an end time; a summary without a time waits for
        its copy (the run's next change: that copy, or the input's end)."""
        key = (run.source, run.run_id)
        for task, attempt in self._untimed.pop(key, {}).values():
            self._add(made, done, attempt_span(run, task, attempt, self.external_url))
        if run.ended_at is None and run.summary is not None and key not in self._untimed_runs:
            self._untimed_runs.add(key)
            return
        self._untimed_runs.discard(key)
        spans = run_spans(run, self.external_url)
        if spans and spans[-1].span_id not in done:  # the root, made last, stands for the run's spans
            done.add(spans[-1].span_id)
            made.extend(spans)

    @staticmethod
    def _add(made: list[Span], done: set[int], span: Span | None) -> None:
        if span is not None and span.span_id not in done:
            done.add(span.span_id)
            made.append(span)


def attempt_span(run: Run, task: Task, attempt: Attempt, external_url: str | None = None) -> Span | None:
    """The attempt's span, ending at the run's latest time while the attempt's end is unknown; None when the log
    gave it no time at all."""
    start = _first(attempt.started_at, attempt.ended_at, run.last_event_at)
    if start is None:
        return None
    end = max(start, _first(attempt.ended_at, run.last_event_at) or start)
    attributes: dict[str, Value] = {
        "cicd.pipeline.name": run.pipeline or "",
        "cicd.pipeline.run.id": run.run_id,
        "cicd.pipeline.task.name": task.family,
        "cicd.pipeline.task.run.id": f"{task.task_id}#{attempt.number}",
        "luigi.task_id": task.task_id,
        "luigi.task.attempt": attempt.number,
        "luigi.task.attempt.result": attempt.result.value,
    }
    if attempt.result in _TASK_RESULT:
        attributes["cicd.pipeline.task.run.result"] = _TASK_RESULT[attempt.result]
    if attempt.pid is not None:
        attributes["luigi.worker.pid"] = attempt.pid
    if external_url is not None:
        attributes["cicd.pipeline.task.run.url.full"] = f"{_run_url(run, external_url)}#{_quote(task.task_id)}"
    attributes.update({f"luigi.param.{name}": value for name, value in task.params.items()})
    links: tuple[Link, ...] = ()
    if attempt.number > 1:
        previous = ids.span_id(run.source, run.run_id, task.task_id, attempt.number - 1)
        links = (Link(ids.trace_id(run.source, run.run_id), previous),)
    elif run.retry is not None and task.task_id in run.retry.failed:  # the failed attempt this build retries
        before = ids.span_id(run.source, run.retry.of, task.task_id, run.retry.failed[task.task_id])
        links = (Link(ids.trace_id(run.source, run.retry.of), before),)
    failure = None
    if attempt.result in FAILED_RESULTS:
        text = attempt.error or f"{task.family} attempt {attempt.number}: {attempt.result.value}"
        last = next((line.strip() for line in reversed(text.splitlines()) if line.strip()), text)
        exception = _exception_attributes(text, last)
        attributes["error.type"] = exception.get("exception.type", attempt.result.value)
        failure = Failure(last, exception)
    span_id = ids.span_id(run.source, run.run_id, task.task_id, attempt.number)
    return _child(run, span_id, task.family, start, end, attributes, links, failure)


def run_spans(run: Run, external_url: str | None = None) -> list[Span]:
    """The run's `scheduling` span, then its root span (the newest, so a full outbox drops it last); none before
    the run has a start time."""
    start = run.started_at
    if start is None:
        return []
    end = max(start, _first(run.ended_at, run.last_event_at) or start)
    pipeline = run.pipeline or ""
    common: dict[str, Value] = {"cicd.pipeline.name": pipeline, "cicd.pipeline.run.id": run.run_id}
    starts = (a.started_at for t in run.tasks.values() for a in t.attempts if a.started_at is not None)
    scheduled = min(max(start, min(starts, default=end)), end)  # the first attempt's start
    scheduling_id = ids.span_id(run.source, run.run_id, "scheduling")
    scheduling = _child(run, scheduling_id, "scheduling", start, scheduled, common)
    counts = run_counts(run)
    attributes = {
        **common,
        "luigi.run.status": run.status.value,
        "luigi.tasks.scheduled": counts["tasks_total"],
        "luigi.tasks.completed": counts["tasks_completed"],
        "luigi.tasks.failed": counts["tasks_failed"],
    }
    if run.status in _RUN_RESULT:
        attributes["cicd.pipeline.result"] = _RUN_RESULT[run.status]
    if run.status is not RunStatus.SUCCEEDED:
        attributes["error.type"] = run.status.value
    if external_url is not None:
        attributes["cicd.pipeline.run.url.full"] = _run_url(run, external_url)
    links: tuple[Link, ...] = ()
    if run.retry is not None:  # the build this one retries, in its own trace
        attributes["luigi.run.retry_of"] = run.retry.of
        attributes["luigi.run.retry"] = run.retry.number
        links = (Link(ids.trace_id(run.source, run.retry.of), ids.span_id(run.source, run.retry.of, "run")),)
    failure = None
    if run.status is not RunStatus.SUCCEEDED:
        reason = run.summary.reason if run.summary is not None else ""
        failure = Failure(f"run {run.status.value}" + (f": {reason}" if reason else ""))
    root = Span(
        ids.trace_id(run.source, run.run_id),
        ids.span_id(run.source, run.run_id, "run"),
        None,
        f"RUN {pipeline or 'luigi'}",
        Kind.SERVER,
        _ns(start),
        _ns(end),
        attributes,
        links,
        failure,
    )
    return [scheduling, root]


def _child(
    run: Run,
    span_id: int,
    name: str,
    start: float,
    end: float,
    attributes: Mapping[str, Value],
    links: tuple[Link, ...] = (),
    failure: Failure | None = None,
) -> Span:
    """A span inside the run's root span (which may not have been made yet)."""
    trace_id, root_id = ids.trace_id(run.source, run.run_id), ids.span_id(run.source, run.run_id, "run")
    return Span(trace_id, span_id, root_id, name, Kind.INTERNAL, _ns(start), _ns(end), attributes, links, failure)


def _run_url(run: Run, external_url: str) -> str:
    return f"{external_url}/api/runs/{_quote(run.run_id)}"


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


def _exception_attributes(text: str, last: str) -> dict[str, str]:
    """OTel exception attributes from a Python traceback, whose last line is `Type: message`."""
    m = _EXCEPTION_LINE.fullmatch(last)
    attributes = {"exception.type": m[1], "exception.message": m[2] or ""} if m else {"exception.message": last}
    if text != last:
        attributes["exception.stacktrace"] = text
    return attributes
