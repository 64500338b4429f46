"""Span building alone, from hand-built runs: which spans a batch of changes finishes, with their exact ids,
attributes, times, links and errors (the OTLP round trip through real builds is `test_traces.py`'s)."""

from __future__ import annotations

from exporter import ids
from exporter.events import Summary
from exporter.model import Attempt, AttemptResult, Change, Retry, Run, Task
from exporter.sinks.spans import Failure, Kind, Link, Span, SpanBuilder, attempt_span, run_spans

SOURCE, RUN_ID = "/logs/nightly/log.txt", "nightly"
URL = "http://exporter.test:9588"
TRACE = ids.trace_id(SOURCE, RUN_ID)
ROOT = ids.span_id(SOURCE, RUN_ID, "run")
S = 1_000_000_000  # nanoseconds a second
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "etl.py", line 9, in run\n'
    "    raise ValueError('bad row 7')\n"
    "ValueError: bad row 7\n"
)


def _task(task_id: str, family: str, *attempts: Attempt, **params: str) -> Task:
    return Task(task_id, family, params=dict(params), statuses={"PENDING"}, attempts=list(attempts))


def _run(*tasks: Task, **fields: object) -> Run:
    run = Run(RUN_ID, SOURCE, tasks={t.task_id: t for t in tasks}, started_at=100.0, last_event_at=130.0)
    for name, value in fields.items():
        setattr(run, name, value)
    return run


def _failed(number: int = 1, error: str | None = TRACEBACK) -> Attempt:
    return Attempt(number, 41, 110.0, 112.5, AttemptResult.FAILURE, error)


def test_a_successful_attempt_is_a_child_of_the_run_with_ci_cd_attributes() -> None:
    task = _task("Load_2024_abc", "Load", Attempt(1, 4242, 101.5, 104.25, AttemptResult.SUCCESS), day="2024-01-02")
    run = _run(task)
    assert attempt_span(run, task, task.attempts[0], URL) == Span(
        trace_id=TRACE,
        span_id=ids.span_id(SOURCE, RUN_ID, "Load_2024_abc", 1),
        parent_id=ROOT,
        name="Load",
        kind=Kind.INTERNAL,
        start=101_500_000_000,
        end=104_250_000_000,
        attributes={
            "cicd.pipeline.name": "Load",
            "cicd.pipeline.run.id": "nightly",
            "cicd.pipeline.task.name": "Load",
            "cicd.pipeline.task.run.id": "Load_2024_abc#1",
            "luigi.task_id": "Load_2024_abc",
            "luigi.task.attempt": 1,
            "luigi.task.attempt.result": "success",
            "cicd.pipeline.task.run.result": "success",
            "luigi.worker.pid": 4242,
            "cicd.pipeline.task.run.url.full": f"{URL}/api/runs/nightly#Load_2024_abc",
            "luigi.param.day": "2024-01-02",
        },
    )


def test_ids_are_the_same_in_every_version() -> None:
    """A tracing backend dedupes a span sent again after an upgrade only if its ids did not change."""
    task = _task("Load_2024_abc", "Load", Attempt(1, None, 101.0, 102.0, AttemptResult.SUCCESS))
    span = attempt_span(_run(task), task, task.attempts[0])
    assert span is not None
    assert (f"{span.trace_id:032x}", f"{span.span_id:016x}") == ("54fcfc6f013020e296bd3073d7793b27", "03650c9f42f37837")
    assert span.key == "54fcfc6f013020e296bd3073d7793b2703650c9f42f37837"


def test_a_failed_attempt_carries_the_tracebacks_exception_and_links_the_attempt_before() -> None:
    task = _task("Load_x", "Load", _failed(1), _failed(2))
    span = attempt_span(_run(task), task, task.attempts[1])
    assert span is not None
    assert span.attributes["error.type"] == "ValueError"
    assert span.attributes["cicd.pipeline.task.run.result"] == "failure"
    assert span.failure == Failure(
        "ValueError: bad row 7",
        {"exception.type": "ValueError", "exception.message": "bad row 7", "exception.stacktrace": TRACEBACK},
    )
    assert span.links == (Link(TRACE, ids.span_id(SOURCE, RUN_ID, "Load_x", 1)),)
    assert list(span.attributes)[-1] == "error.type"  # after the params, where the SDK span had it set


def test_an_attempt_that_died_without_a_traceback_names_its_result() -> None:
    task = _task("Load_x", "Load", Attempt(1, 7, 110.0, 111.0, AttemptResult.DIED))
    span = attempt_span(_run(task), task, task.attempts[0])
    assert span is not None
    assert span.attributes["error.type"] == "died"
    assert span.attributes["cicd.pipeline.task.run.result"] == "error"
    assert span.failure == Failure("Load attempt 1: died", {"exception.message": "Load attempt 1: died"})


def test_an_attempt_without_an_end_ends_at_the_runs_latest_time_and_one_without_any_time_has_no_span() -> None:
    running = Attempt(1, 7, 120.0)
    task = _task("Load_x", "Load", running)
    span = attempt_span(_run(task), task, running)
    assert span is not None and (span.start, span.end) == (120 * S, 130 * S)
    assert "cicd.pipeline.task.run.result" not in span.attributes and span.failure is None
    timeless = Attempt(1, 7, None)
    assert attempt_span(_run(task, last_event_at=None), task, timeless) is None


def test_the_first_attempt_of_a_retried_build_links_the_failed_attempt_it_repeats() -> None:
    task = _task("Load_x", "Load", Attempt(1, 7, 110.0, 111.0, AttemptResult.SUCCESS))
    run = _run(task, retry=Retry("nightly-0", 1, {"Load_x": 3}))
    span = attempt_span(run, task, task.attempts[0])
    assert span is not None
    assert span.links == (Link(ids.trace_id(SOURCE, "nightly-0"), ids.span_id(SOURCE, "nightly-0", "Load_x", 3)),)


def test_a_run_gives_its_scheduling_span_then_its_root() -> None:
    load = _task("Load_x", "Load", Attempt(1, 7, 104.0, 110.0, AttemptResult.SUCCESS))
    report = _task("Report_x", "Report", Attempt(1, 8, 111.0, 119.0, AttemptResult.SUCCESS))
    run = _run(report, load, ended_at=120.0, summary=Summary(scheduled=2, smiley=":)"))
    scheduling, root = run_spans(run, URL)
    scheduling_id = ids.span_id(SOURCE, RUN_ID, "scheduling")
    common = {"cicd.pipeline.name": "Report", "cicd.pipeline.run.id": "nightly"}
    assert scheduling == Span(TRACE, scheduling_id, ROOT, "scheduling", Kind.INTERNAL, 100 * S, 104 * S, common)
    assert root == Span(
        TRACE,
        ROOT,
        None,
        "RUN Report",
        Kind.SERVER,
        100 * S,
        120 * S,
        {
            **common,
            "luigi.run.status": "succeeded",
            "luigi.tasks.scheduled": 2,
            "luigi.tasks.completed": 2,
            "luigi.tasks.failed": 0,
            "cicd.pipeline.result": "success",
            "cicd.pipeline.run.url.full": f"{URL}/api/runs/nightly",
        },
    )


def test_a_failed_retry_run_is_an_error_linking_the_build_it_retries() -> None:
    task = _task("Load_x", "Load", _failed(1))
    summary = Summary(scheduled=1, counts=(("failed", 1),), smiley=":(", reason="because there were failed tasks")
    run = _run(task, ended_at=125.0, summary=summary, retry=Retry("nightly-0", 2, {"Load_x": 1}))
    _, root = run_spans(run)
    assert root.failure == Failure("run failed: because there were failed tasks")
    assert root.attributes["error.type"] == "failed"
    assert root.attributes["cicd.pipeline.result"] == "failure"
    assert root.attributes["luigi.tasks.failed"] == 1
    assert (root.attributes["luigi.run.retry_of"], root.attributes["luigi.run.retry"]) == ("nightly-0", 2)
    assert root.links == (Link(ids.trace_id(SOURCE, "nightly-0"), ids.span_id(SOURCE, "nightly-0", "run")),)
    assert "cicd.pipeline.run.url.full" not in root.attributes


def test_a_run_killed_before_any_attempt_schedules_until_its_end() -> None:
    run = _run(finished=True)
    scheduling, root = run_spans(run)
    assert (scheduling.start, scheduling.end, root.end) == (100 * S, 130 * S, 130 * S)
    assert root.name == "RUN luigi" and root.attributes["cicd.pipeline.result"] == "error"
    assert run_spans(_run(started_at=None)) == []


def test_a_failure_waits_for_its_traceback_in_the_next_change() -> None:
    attempt = _failed(error=None)
    task = _task("Load_x", "Load", attempt)
    run = _run(task)
    builder = SpanBuilder()
    assert builder.apply([Change(run, task, attempt, ended=True)]) == []
    assert builder.apply([Change(run, task, attempt, ended=True)]) == []  # a second handler's copy of the line
    attempt.error = TRACEBACK  # the traceback's lines came
    (span,) = builder.apply([Change(run, task, attempt, ended=True)])
    assert span.failure is not None and span.failure.message == "ValueError: bad row 7"


def test_a_failure_without_a_traceback_goes_out_at_the_sources_next_other_change() -> None:
    attempt = _failed(error=None)
    task = _task("Load_x", "Load", attempt)
    other = _task("Report_x", "Report", Attempt(1, 8, 113.0))
    run = _run(task, other)
    builder = SpanBuilder()
    assert builder.apply([Change(run, task, attempt, ended=True)]) == []
    (span,) = builder.apply([Change(run, other, other.attempts[0])])
    assert span.span_id == ids.span_id(SOURCE, RUN_ID, "Load_x", 1)
    assert span.failure == Failure("Load attempt 1: failure", {"exception.message": "Load attempt 1: failure"})


def test_an_end_without_a_time_waits_for_the_run_and_a_summary_without_one_for_its_copy() -> None:
    attempt = Attempt(1, 7, 110.0, None, AttemptResult.SUCCESS)
    task = _task("Load_x", "Load", attempt)
    run = _run(task, summary=Summary(scheduled=1, smiley=":)"))
    builder = SpanBuilder()
    assert builder.apply([Change(run, task, attempt, ended=True)]) == []
    (untimed,) = builder.apply([Change(run, ended=True)])  # the summary, without a time: the attempt goes now
    assert (untimed.span_id, untimed.end) == (ids.span_id(SOURCE, RUN_ID, "Load_x", 1), 130 * S)
    run.ended_at = 131.0  # the summary's copy from a second handler
    assert [s.name for s in builder.apply([Change(run, ended=True)])] == ["scheduling", "RUN Load"]


def test_a_batch_makes_each_span_once_from_the_state_at_its_end() -> None:
    attempt = Attempt(1, 7, 110.0, 111.0, AttemptResult.SUCCESS)
    task = _task("Load_x", "Load", attempt)
    run = _run(task, ended_at=112.0, summary=Summary(scheduled=1, smiley=":)"))
    end = Change(run, task, attempt, ended=True)
    spans = SpanBuilder(URL + "/").apply([end, end, Change(run, ended=True), Change(run, ended=True)])
    assert [s.name for s in spans] == ["Load", "scheduling", "RUN Load"]
    assert len({s.key for s in spans}) == 3
    assert spans[-1].attributes["cicd.pipeline.run.url.full"] == f"{URL}/api/runs/nightly"  # one slash


def test_a_summary_whose_timed_copy_never_comes_goes_out_at_the_runs_next_end() -> None:
    run = _run(summary=Summary(scheduled=0, smiley=":)"))
    builder = SpanBuilder()
    assert builder.apply([Change(run, ended=True)]) == []
    _, root = builder.apply([Change(run, ended=True)])  # the input's end
    assert (root.start, root.end) == (100 * S, 130 * S)


def test_an_end_whose_time_came_later_is_not_made_again_at_the_runs_end() -> None:
    attempt = Attempt(1, 7, 110.0, None, AttemptResult.SUCCESS)
    task = _task("Load_x", "Load", attempt)
    run = _run(task)
    builder = SpanBuilder()
    assert builder.apply([Change(run, task, attempt, ended=True)]) == []
    attempt.ended_at = 111.0  # the second handler's copy, with the time
    (span,) = builder.apply([Change(run, task, attempt, ended=True)])
    assert span.end == 111 * S
    run.ended_at, run.summary = 112.0, Summary(scheduled=1, smiley=":)")
    assert [s.name for s in builder.apply([Change(run, ended=True)])] == ["scheduling", "RUN Load"]
