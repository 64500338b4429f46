"""The book alone, fed hand-built events (`handmade`): what each event changes in its run, exactly, and when a run is
settled and dropped."""

from __future__ import annotations

from handmade import T, ends, fails, runs, scheduled, worker_starts

from exporter.book import Book
from exporter.events import BuildStarting, Checking, Died, DoneScheduling, Event, Informed, TaskStarted
from exporter.model import AttemptResult, Change, Run, RunStatus, TaskState

ROOT = T("Root")
EXTRACT = T("Extract", {"day": "2024-01-01", "source": "db"})
ERROR = 'Traceback (most recent call last):\n  File "etl.py", line 9, in run\nRuntimeError: db down'


def _book(*events: Event) -> tuple[Book, list[Change]]:
    book = Book("/logs/build.log", "build.log")
    return book, book.apply_all(events)


def _attempts(run: Run, task: T) -> list[tuple]:
    return [(a.number, a.pid, a.started_at, a.ended_at, a.result, a.error) for a in run.tasks[task.id].attempts]


def test_a_task_luigi_retries_has_both_attempts_and_the_build_succeeds() -> None:
    book, _ = _book(
        *scheduled(ROOT, EXTRACT, at=1.0),
        *worker_starts(1.5),
        *fails(EXTRACT, 2.0, 3.0, ERROR),
        *runs(EXTRACT, 5.0, 6.0, pid=102),
        *runs(ROOT, 6.0, 7.0, pid=103),
        *ends(8.0, scheduled=2, completed=2),
    )
    (run,) = book.runs
    assert (run.run_id, run.source, run.status, run.started_at, run.ended_at) == (
        "build.log",
        "/logs/build.log",
        RunStatus.SUCCEEDED,
        1.0,
        8.0,
    )
    assert list(run.tasks) == [ROOT.id, EXTRACT.id] == ["Root__99914b932b", "Extract_2024_01_01_db_6b5e939bd2"]
    extract = run.tasks[EXTRACT.id]
    assert (extract.family, extract.params, extract.state) == ("Extract", EXTRACT.params, TaskState.DONE)
    assert _attempts(run, EXTRACT) == [
        (1, 101, 2.0, 3.0, AttemptResult.FAILURE, ERROR),
        (2, 102, 5.0, 6.0, AttemptResult.SUCCESS, None),
    ]
    assert run.tasks[ROOT.id].state is TaskState.DONE
    assert run.worker == "Worker(salt=1234, workers=1, host=build-1, username=luigi, pid=100)"
    assert run.processes == 1 and not run.scheduling


def test_each_event_tells_what_it_changed() -> None:
    book = Book("/logs/build.log", "build.log")
    told = []
    for event in [*scheduled(EXTRACT), *worker_starts(), *fails(EXTRACT, 2.0, 3.0, ERROR), *ends(4.0, 1, ":(")]:
        for change in book.apply(event):
            task = change.task.family if change.task else None
            told.append((type(event).__name__, task, change.attempt.number if change.attempt else None, change.ended))
    assert told == [
        ("Checking", None, None, False),
        ("Informed", "Extract", None, False),
        ("DoneScheduling", None, None, False),
        ("RunningWorker", None, None, False),
        ("TaskStarted", "Extract", 1, False),
        ("TaskFailed", "Extract", 1, True),
        ("FailureDetail", "Extract", 1, True),  # the error reaches sinks that wrote the end already
        ("Informed", "Extract", None, False),
        ("WorkerStopped", None, None, False),
        ("Summary", None, None, True),
    ]


def test_a_failed_dependency_leaves_its_dependent_upstream_failed_as_the_summary_counts() -> None:
    book, _ = _book(
        *scheduled(ROOT, EXTRACT),
        *worker_starts(),
        *fails(EXTRACT, 2.0, 3.0, ERROR),
        *ends(4.0, 2, ":(", failed=1, still_pending=1, upstream_failure=1),
    )
    (run,) = book.runs
    assert run.status is RunStatus.FAILED
    assert {t.family: t.state for t in run.tasks.values()} == {
        "Root": TaskState.UPSTREAM_FAILED,
        "Extract": TaskState.FAILED,
    }


def test_a_build_killed_midway_ends_incomplete_with_its_task_still_running() -> None:
    book, _ = _book(*scheduled(ROOT, EXTRACT), *worker_starts(), *runs(EXTRACT, 2.0, 3.0)[:1])
    (run,) = book.runs
    assert run.status is RunStatus.RUNNING
    assert book.take_settled() == []  # not ended: more lines may come
    assert book.finish() == [Change(run, ended=True)]
    assert run.status is RunStatus.INCOMPLETE
    assert run.tasks[EXTRACT.id].state is TaskState.RUNNING
    assert book.take_settled() == [run] and book.runs == []


def test_a_second_build_in_the_file_is_a_run_of_its_own_and_finds_done_tasks_already_done() -> None:
    first = [*scheduled(ROOT, EXTRACT), *worker_starts(), *fails(EXTRACT, 2.0, 3.0, ERROR)]
    first += ends(4.0, 2, ":(", failed=1, still_pending=1, upstream_failure=1)
    second = [*scheduled(ROOT, at=10.0), *scheduled(EXTRACT, status="DONE", at=10.0), *worker_starts(10.5)]
    second += [*runs(ROOT, 11.0, 12.0), *ends(13.0, 2, completed=1, already_done=1)]
    book, _ = _book(*first, *second)
    assert [(r.run_id, r.status) for r in book.runs] == [
        ("build.log", RunStatus.FAILED),
        ("build.log#2", RunStatus.SUCCEEDED),
    ]
    resumed = book.runs[1]
    assert {t.family: t.state for t in resumed.tasks.values()} == {
        "Root": TaskState.DONE,
        "Extract": TaskState.ALREADY_DONE,
    }
    assert (resumed.started_at, resumed.ended_at) == (10.0, 13.0)
    assert [r.run_id for r in book.take_settled()] == ["build.log", "build.log#2"]
    book.apply_all([*scheduled(ROOT, at=20.0)])
    assert [r.run_id for r in book.runs] == ["build.log#3"]  # numbering goes on after a drop


def test_done_scheduling_is_the_build_whose_walk_is_over_not_the_last_to_write() -> None:
    """Two clients of one scheduler writing one file: b checks a task between a's last `Informed` and a's `Done
    scheduling tasks`. Luigi checks a task when it finds it and informs the scheduler when it takes it from its
    queue, so the line is a's (b has checked a task it has not informed yet), and b's walk goes on in b."""
    a_top, a_step = T("Top", {"client": "a"}), T("Step", {"client": "a", "i": "0"})
    b_top, b_step = T("Top", {"client": "b"}), T("Step", {"client": "b", "i": "0"})
    book, _ = _book(
        BuildStarting(1.0),
        Checking(1.0, repr=a_top.repr),
        Checking(1.0, repr=a_step.repr),
        Informed(1.0, task_id=a_top.id, status="PENDING"),
        BuildStarting(1.1),
        Checking(1.1, repr=b_top.repr),
        Informed(1.2, task_id=a_step.id, status="PENDING"),  # a's walk is over
        Checking(1.2, repr=b_step.repr),  # b wrote last
        DoneScheduling(1.3),  # a's
        Informed(1.3, task_id=b_top.id, status="PENDING"),
        Informed(1.4, task_id=b_step.id, status="PENDING"),
        DoneScheduling(1.4),  # b's
    )
    assert [sorted(run.tasks) for run in book.runs] == [sorted([a_top.id, a_step.id]), sorted([b_top.id, b_step.id])]
    assert [run.scheduling for run in book.runs] == [False, False]


def test_a_worker_process_that_dies_ends_its_attempt_with_luigi_s_words_once() -> None:
    book, _ = _book(
        *scheduled(EXTRACT),
        *worker_starts(),
        *runs(EXTRACT, 2.0, 3.0)[:1],
        Died(3.0, task_id=EXTRACT.id, exit_code=3),
        Died(3.0, task_id=EXTRACT.id, exit_code=3),  # Luigi logs one death twice
    )
    (run,) = book.runs
    assert _attempts(run, EXTRACT) == [
        (1, 101, 2.0, 3.0, AttemptResult.DIED, f"Task {EXTRACT.id} died unexpectedly with exit code 3"),
    ]
    assert run.tasks[EXTRACT.id].state is TaskState.FAILED


def test_a_second_handler_s_copy_of_a_line_is_one_attempt_and_gives_the_time_the_first_lacked() -> None:
    started = runs(EXTRACT, 2.0, 3.0)[0]
    untimed = TaskStarted(None, pid=started.pid, worker=started.worker, repr=started.repr)
    book, _ = _book(*scheduled(EXTRACT), *worker_starts())
    assert len(book.apply(untimed)) == 1
    copy = book.apply(started)
    (run,) = book.runs
    assert [(c.task, c.attempt, c.ended) for c in copy] == [
        (run.tasks[EXTRACT.id], run.tasks[EXTRACT.id].attempts[0], False)
    ]
    assert _attempts(run, EXTRACT) == [(1, 101, 2.0, None, AttemptResult.RUNNING, None)]
    assert book.apply(started) == []  # nothing more to learn from a third copy


def test_a_book_nobody_reads_makes_no_changes_but_the_same_runs() -> None:
    events = [*scheduled(ROOT, EXTRACT), *worker_starts(), *fails(EXTRACT, 2.0, 3.0, ERROR), *ends(4.0, 2, ":(")]
    told, _ = _book(*events)
    quiet = Book("/logs/build.log", "build.log")
    quiet.tells = False
    assert quiet.apply_all(events) == []
    assert [
        (t.task_id, t.state, _attempts(quiet.runs[0], T(t.family, t.params))) for t in quiet.runs[0].tasks.values()
    ] == [(t.task_id, t.state, _attempts(told.runs[0], T(t.family, t.params))) for t in told.runs[0].tasks.values()]
