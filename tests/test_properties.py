"""Properties of the parser and the model on any input: nothing raises, and the run invariants hold at every step."""

from __future__ import annotations

import pytest
from conftest import run_demo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.book import Book
from exporter.contract import run_counts
from exporter.events import (
    Checking,
    CompleteError,
    Died,
    DoneScheduling,
    Event,
    FailureDetail,
    Informed,
    MissingData,
    RunningWorker,
    SchedulerDisabled,
    SchedulerRetry,
    SchedulingError,
    Summary,
    TaskDone,
    TaskFailed,
    TaskNewRequirements,
    TaskStarted,
    TimedOut,
    WorkerStopped,
)
from exporter.lines import Line, decode_line
from exporter.model import AttemptResult, TaskState
from exporter.parse import Parser
from exporter.taskid import task_id_str

# Each property stays within a few seconds on a 2-core machine; no deadline (a slow first example is not a bug).
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Small alphabets so that tasks, workers and runs collide: ids computed from the reprs (so both name one task), a
# few ids no repr explains, and workers of two builds plus a third.
_TASKS = [("A", {"x": "1"}), ("A", {"x": "2"}), ("B", {}), ("C", {"a": "1", "b": "k=v, z=1"})]
REPRS = [f"{family}({', '.join(f'{k}={v}' for k, v in params.items())})" for family, params in _TASKS] + ["A()", "?("]
IDS = [task_id_str(family, params) for family, params in _TASKS] + ["A_1_0000000000", "D", ""]
WORKERS = [f"Worker(salt={n}, workers=2, host=h, username=u, pid={n})" for n in (1, 2)] + ["Worker()"]
STATUSES = ["PENDING", "DONE", "FAILED", "UNKNOWN", "DISABLED", "RUNNING"]

times = st.one_of(st.none(), st.floats(0, 100, allow_nan=False))  # may go backwards
offsets = st.integers(0, 10**6)
reprs = st.sampled_from(REPRS)
ids = st.sampled_from(IDS)
workers = st.sampled_from(WORKERS)
pids = st.sampled_from([1, 2, 3])


def _worker_event(kind: type[Event]) -> st.SearchStrategy[Event]:
    return st.builds(kind, time=times, offset=offsets, pid=pids, worker=workers, repr=reprs)


# Summaries as the parser reads them from a block of text (it reads any block as a consistent one).
HUMAN = [
    "complete ones were encountered",
    "ran successfully",
    "failed",
    "failed scheduling",
    "were left pending, among these",
    "were missing external dependencies",
    "had failed dependencies",
    "had missing dependencies",
    "were being run by another worker",
    "was not granted run permission by the scheduler",
]


def _summary(time: float | None, scheduled: int, items: list[tuple[str, int, list[str]]], smiley: str) -> Summary:
    """The Summary the parser reads from a block of these items, whatever their numbers."""
    block = ["===== Luigi Execution Summary =====", "", f"Scheduled {scheduled} tasks of which:"]
    for human, n, listed in items:
        block += [f"* {n} {human}:", *(f"    - 1 {name}" for name in listed)]
    block += ["", f"This progress looks {smiley} because reason", "", "===== Luigi Execution Summary ====="]
    parser = Parser()
    found = [e for i, text in enumerate(block) for e in parser.feed(Line("log", i, text))]
    (summary,) = [e for e in found if isinstance(e, Summary)]
    return Summary(time, 0, summary.scheduled, summary.counts, summary.families, (), summary.smiley, summary.reason)


summaries = st.builds(
    _summary,
    times,
    st.integers(0, 6),
    st.lists(st.tuples(st.sampled_from(HUMAN), st.integers(0, 6), st.lists(st.sampled_from(REPRS), max_size=2))),
    st.sampled_from([":)", ":(", ":|"]),
)

events = st.one_of(
    st.builds(Checking, time=times, offset=offsets, repr=reprs),
    st.builds(Informed, time=times, offset=offsets, task_id=ids, status=st.sampled_from(STATUSES)),
    st.builds(DoneScheduling, time=times, offset=offsets),
    st.builds(RunningWorker, time=times, offset=offsets, processes=st.integers(1, 4)),
    _worker_event(TaskStarted),
    _worker_event(TaskDone),
    _worker_event(TaskFailed),
    _worker_event(TaskNewRequirements),
    st.builds(FailureDetail, time=times, offset=offsets, text=st.sampled_from(["", "Traceback\nValueError"])),
    st.builds(Died, time=times, offset=offsets, task_id=ids, exit_code=st.integers(-9, 1)),
    st.builds(TimedOut, time=times, offset=offsets, task_id=ids, seconds=st.floats(0, 10)),
    st.builds(MissingData, time=times, offset=offsets, repr=reprs),
    st.builds(CompleteError, time=times, offset=offsets, repr=reprs),
    st.builds(SchedulingError, time=times, offset=offsets, repr=reprs),
    st.builds(SchedulerRetry, time=times, offset=offsets, task_id=ids, failures=st.integers(0, 3), limit=st.just(3)),
    st.builds(SchedulerDisabled, time=times, offset=offsets, task_id=ids, limit=st.just(3)),
    st.builds(WorkerStopped, time=times, offset=offsets, worker=workers),
    summaries,
)


def check_invariants(book: Book) -> None:
    """What must hold of every run at every moment, whatever the input was."""
    run_ids = [run.run_id for run in book.runs]
    assert len(run_ids) == len(set(run_ids)), run_ids
    for run in book.runs:
        counts = run_counts(run)
        assert all(v >= 0 for k, v in counts.items() if k != "progress_ratio"), counts
        assert 0.0 <= counts["progress_ratio"] <= 1.0, counts
        assert counts["tasks_completed"] <= counts["tasks_total"], counts
        assert sum(run.count(state) for state in TaskState) == len(run.tasks)
        if run.tasks:  # the contract's partition covers every task once
            parts = ("tasks_done", "tasks_already_done", "tasks_failed", "tasks_running", "tasks_pending")
            assert sum(counts[k] for k in parts) + counts["tasks_upstream_failed"] == len(run.tasks), counts
        for task in run.tasks.values():
            assert [a.number for a in task.attempts] == list(range(1, len(task.attempts) + 1)), task
            state = task.state
            if state is TaskState.RUNNING:
                assert task.attempts[-1].result is AttemptResult.RUNNING, task
            if state is TaskState.DONE:
                assert any(a.result is AttemptResult.SUCCESS for a in task.attempts) or "DONE" in task.statuses, task


@FAST
@given(st.lists(events, max_size=40))
def test_any_event_sequence_keeps_the_invariants(sequence: list[Event]) -> None:
    book = Book("log", "log")
    for event in sequence:
        book.apply(event)
        check_invariants(book)
    book.finish()
    check_invariants(book)
    assert all(run.ended for run in book.runs)


@FAST
@given(st.lists(events, max_size=25), st.integers(1, 80))
def test_expected_tasks_keeps_the_invariants(sequence: list[Event], expected: int) -> None:
    """`--expected-tasks`: the total shown before scheduling is seen never undercounts what is complete."""
    book = Book("log", "log", expected_tasks=expected)
    for event in sequence:
        book.apply(event)
        check_invariants(book)
    book.finish()
    check_invariants(book)


# Pieces of every line shape the parser knows, so that random text reaches every pattern and branch.
FRAGMENTS = [
    "2024-01-02 03:04:05,678 - luigi-interface - INFO - ",
    "DEBUG: ",
    "[12:11:03 AM] ",
    "Informed scheduler that task   A_1_0123456789   has status   DONE",
    "[pid 7] Worker Worker(salt=1, workers=2, host=h, username=u, pid=7) running   A(x=1)",
    "[pid 7] Worker Worker(salt=1, workers=2, host=h, username=u, pid=7) failed    A(x=1)",
    "Checking if A(x=1) is complete",
    "Done scheduling tasks",
    "Running Worker with 2 processes",
    "Worker Worker(salt=1, workers=2, host=h, username=u, pid=7) was stopped. Shutting down Keep-Alive thread",
    "Task A_1_0123456789 died unexpectedly with exit code -9",
    "Data for A(x=1) does not exist (yet?). The task is an external data dependency",
    "Will not run A(x=1) or any dependencies due to error in complete() method",
    "Luigi unexpected framework error while scheduling A(x=1)",
    "A_1_0123456789 task num failures is 1 and limit is 3",
    "===== Luigi Execution Summary =====",
    "Scheduled 3 tasks of which:",
    "* 1 ran successfully:",
    "    - 1 A(x=1)",
    "This progress looks :( because there were failed tasks",
    "Traceback (most recent call last):",
    "\r",
    "\x1b[31m",
    "\x00",
    "-" * 40,
    " " * 30,
    "(",
    ")",
]
structured = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=8).map("".join)


TOP_LEVEL = ("already_done", "completed", "failed", "scheduling_error", "still_pending")


def check_event(event: Event) -> None:
    """A summary the parser hands on is consistent, as Luigi writes them: the model and contract rely on it."""
    if isinstance(event, Summary):
        counts = dict(event.counts)
        assert all(n >= 0 for n in counts.values()) and event.scheduled >= 0, event
        assert sum(counts.get(k, 0) for k in TOP_LEVEL) <= event.scheduled, event
        assert sum(n for k, n in counts.items() if k not in TOP_LEVEL) <= counts.get("still_pending", 0), event


def _parse_all(texts: list[str]) -> Book:
    parser = Parser()
    book = Book("log", "log")
    offset = 0
    for text in texts:
        offset += len(text) + 1
        for event in parser.feed(Line("log", offset, text)):
            check_event(event)
            book.apply(event)
            check_invariants(book)
    for event in parser.flush():
        check_event(event)
        book.apply(event)
    book.finish()
    check_invariants(book)
    return book


@FAST
@given(st.lists(st.one_of(st.text(), structured), max_size=30))
def test_parser_never_raises_on_any_text(texts: list[str]) -> None:
    _parse_all(texts)


@FAST
@given(st.lists(st.binary(max_size=200), max_size=20))
def test_parser_never_raises_on_any_bytes(chunks: list[bytes]) -> None:
    lines = [piece for chunk in chunks for piece in chunk.split(b"\n")]
    _parse_all([decode_line(raw) for raw in lines])


@pytest.fixture(scope="module")
def demo_lines(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """A real 2-worker demo build with a failing task, as lines."""
    run_dir = tmp_path_factory.mktemp("prop") / "run"
    run_demo(run_dir, "--workers", "2", "--speed", "0", "--ms", "--fail", "SWOTAnalysisTask")
    return (run_dir / "log.txt").read_text().splitlines()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_real_log_shuffled_duplicated_truncated(demo_lines: list[str], data: st.DataObject) -> None:
    """Lines of a real build picked in any order, repeated, and cut at any point: invariants hold throughout."""
    n = len(demo_lines)
    cut = st.none() | st.integers(0, 200)
    picks = data.draw(st.lists(st.tuples(st.integers(0, n - 1), cut), min_size=20, max_size=300))
    texts = [demo_lines[i] if cut is None else demo_lines[i][:cut] for i, cut in picks]
    _parse_all(texts)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_real_log_with_a_window_missing_or_repeated(demo_lines: list[str], data: st.DataObject) -> None:
    """A real build with a stretch dropped (a lost write) or replayed twice (a doubled write), in order otherwise."""
    n = len(demo_lines)
    start = data.draw(st.integers(0, n - 1))
    end = data.draw(st.integers(start, min(n, start + 200)))
    doubled = data.draw(st.booleans())
    texts = demo_lines[:end] + demo_lines[start:] if doubled else demo_lines[:start] + demo_lines[end:]
    book = _parse_all(texts)
    assert book.runs, "a real build is found whatever was dropped or doubled"


def test_demo_log_is_the_clean_baseline(demo_lines: list[str]) -> None:
    """The unmangled log gives exactly one failed run of 61 tasks: the properties above start from a real build."""
    book = _parse_all(demo_lines)
    (run,) = book.runs
    assert run.status.value == "failed" and run_counts(run)["tasks_total"] == 61
