"""The model's transitions alone: each takes a run (and the task and attempt an event belongs to, found by hand here,
as the book finds them by routing) and a hand-built event, and changes exactly that state and says exactly that."""

from __future__ import annotations

from handmade import WORKER, T

from exporter import transitions
from exporter.events import (
    Checking,
    CompleteError,
    Died,
    DoneScheduling,
    Informed,
    MissingData,
    RunningWorker,
    SchedulerDisabled,
    SchedulerRetry,
    Summary,
    TaskDone,
    TaskFailed,
    TaskNewRequirements,
    TaskStarted,
    TaskStatus,
    TimedOut,
    WorkerStopped,
)
from exporter.model import Attempt, AttemptResult, Run, RunStatus, Task, TaskState

EXTRACT = T("Extract", {"day": "2024-01-01"})
ROOT = T("Root")
R = AttemptResult


def _run(*tasks: T) -> Run:
    run = Run("build.log", "/logs/build.log")
    for t in tasks:
        run.tasks[t.id] = Task(t.id, t.family, dict(t.params))
        run.family_tasks.setdefault(t.family, []).append(run.tasks[t.id])
    return run


def _attempts(task: Task) -> list[tuple]:
    return [(a.number, a.pid, a.started_at, a.ended_at, a.result, a.error) for a in task.attempts]


def _line(kind: type, at: float | None, pid: int = 101) -> TaskStarted:
    return kind(at, pid=pid, worker=WORKER, repr=EXTRACT.repr)


def test_checking_adds_the_repr_to_the_walk_and_dates_the_run() -> None:
    run = _run()
    assert transitions.checking(run, Checking(5.0, repr=EXTRACT.repr)) == ((run, None, None, False),)
    assert run.checked == {EXTRACT.repr} and run.index.checked(EXTRACT.id)
    assert (run.started_at, run.last_event_at) == (5.0, 5.0)


def test_informed_adds_the_status_and_a_failure_after_the_walk_opens_a_reschedule() -> None:
    run = _run(EXTRACT)
    task = run.tasks[EXTRACT.id]
    assert transitions.informed(run, task, Informed(1.0, task_id=EXTRACT.id, status=TaskStatus.PENDING)) == (
        (run, task, None, False),
    )
    assert not run.reschedule_open  # a FAILED while scheduling is the walk's, not a re-add
    transitions.informed(run, task, Informed(2.0, task_id=EXTRACT.id, status=TaskStatus.FAILED))
    assert task.statuses == {TaskStatus.PENDING, TaskStatus.FAILED} and not run.reschedule_open
    run.scheduling = False
    transitions.informed(run, task, Informed(3.0, task_id=EXTRACT.id, status=TaskStatus.FAILED))
    assert run.reschedule_open and run.last_event_at == 3.0


def test_an_unknown_status_takes_the_scheduling_error_its_family_left_on_the_run() -> None:
    run = _run(ROOT, EXTRACT)
    transitions.scheduling_error(run, CompleteError(1.0, repr=EXTRACT.repr))
    transitions.failure_detail(run, None, None, "Traceback ...\nOSError: no S3")
    assert run.errors == [("Extract", "Traceback ...\nOSError: no S3")]
    transitions.informed(run, run.tasks[ROOT.id], Informed(1.0, task_id=ROOT.id, status=TaskStatus.UNKNOWN))
    transitions.informed(run, run.tasks[EXTRACT.id], Informed(1.0, task_id=EXTRACT.id, status=TaskStatus.UNKNOWN))
    assert (run.tasks[ROOT.id].error, run.tasks[EXTRACT.id].error) == (None, "Traceback ...\nOSError: no S3")
    assert run.tasks[EXTRACT.id].state is TaskState.UNKNOWN


def test_a_batch_s_status_and_attempt_are_each_member_s() -> None:
    a, b = T("Load", {"day": "1"}), T("Load", {"day": "2"})
    batch = T("Load", {"day": "1,2"})
    run = _run(a, b, batch)
    members = [run.tasks[a.id], run.tasks[b.id]]
    task = run.tasks[batch.id]
    task.members = members
    told = transitions.informed(run, task, Informed(1.0, task_id=batch.id, status=TaskStatus.RUNNING))
    assert told == ((run, task, None, False), (run, members[0], None, False), (run, members[1], None, False))
    assert all(m.statuses == {TaskStatus.RUNNING} for m in members)
    told, ended = transitions.worker_line(run, task, TaskStarted(2.0, pid=7, worker=WORKER, repr=batch.repr))
    (attempt,) = task.attempts
    assert ended is None and [c[1:] for c in told] == [(t, attempt, False) for t in (task, *members)]
    told, ended = transitions.worker_line(run, task, TaskDone(3.0, pid=7, worker=WORKER, repr=batch.repr))
    assert ended is attempt and [c[1:] for c in told] == [(t, attempt, True) for t in (task, *members)]
    assert all(m.attempts == [attempt] for m in members)  # one Attempt: its end reached them all


def test_a_worker_s_running_then_failed_lines_are_one_attempt_that_ends_and_says_so() -> None:
    run = _run(EXTRACT)
    task = run.tasks[EXTRACT.id]
    told, ended = transitions.worker_line(run, task, _line(TaskStarted, 2.0))
    assert (told, ended) == (((run, task, task.attempts[0], False),), None)
    assert task.state is TaskState.RUNNING
    told, ended = transitions.worker_line(run, task, _line(TaskFailed, 3.0))
    assert ended is task.attempts[0] and told == ((run, task, ended, True),)
    assert _attempts(task) == [(1, 101, 2.0, 3.0, R.FAILURE, None)]
    assert (run.started_at, run.last_event_at) == (2.0, 3.0)
    assert transitions.failure_detail(run, task, ended, "Traceback ...") == ((run, task, ended, True),)
    assert ended.error == "Traceback ..." and task.error is None


def test_a_copy_of_a_worker_line_gives_the_time_the_first_lacked_and_nothing_else() -> None:
    run = _run(EXTRACT)
    task = run.tasks[EXTRACT.id]
    transitions.worker_line(run, task, _line(TaskStarted, None))
    (attempt,) = task.attempts
    assert transitions.worker_line(run, task, _line(TaskStarted, None)) == ((), None)
    assert transitions.worker_line(run, task, _line(TaskStarted, 2.0)) == (((run, task, attempt, False),), None)
    assert transitions.worker_line(run, task, _line(TaskStarted, 2.5)) == ((), None)
    transitions.worker_line(run, task, _line(TaskDone, None))
    assert transitions.worker_line(run, task, _line(TaskDone, 4.0)) == (((run, task, attempt, True),), None)
    assert _attempts(task) == [(1, 101, 2.0, 4.0, R.SUCCESS, None)]


def test_an_end_whose_start_was_not_logged_is_an_attempt_of_its_own_without_a_start() -> None:
    run = _run(EXTRACT)
    task = run.tasks[EXTRACT.id]
    task.attempts.append(Attempt(1, 101, 1.0, 2.0, R.FAILURE))
    _, ended = transitions.worker_line(run, task, _line(TaskDone, 5.0, pid=102))
    assert ended is task.attempts[1]
    assert _attempts(task)[1] == (2, 102, None, 5.0, R.SUCCESS, None)


def test_new_requirements_open_a_reschedule_for_new_tasks_and_the_next_start_closes_it() -> None:
    run = _run(EXTRACT)
    task = run.tasks[EXTRACT.id]
    transitions.worker_line(run, task, _line(TaskStarted, 1.0))
    _, ended = transitions.worker_line(run, task, _line(TaskNewRequirements, 2.0))
    assert ended is not None and ended.result is R.NEW_REQUIREMENTS
    assert (run.reschedule_open, run.reschedule_new, task.state) == (True, True, TaskState.PENDING)
    transitions.worker_line(run, task, _line(TaskStarted, 3.0))
    assert (run.reschedule_open, run.reschedule_new, len(task.attempts)) == (False, False, 2)


def test_a_child_that_died_or_timed_out_ends_its_attempt_in_luigi_s_words_once() -> None:
    run = _run(EXTRACT, ROOT)
    task, root = run.tasks[EXTRACT.id], run.tasks[ROOT.id]
    transitions.worker_line(run, task, _line(TaskStarted, 1.0))
    died = Died(2.0, task_id=EXTRACT.id, exit_code=9)
    assert transitions.process_end(run, task, died) == ((run, task, task.attempts[0], True),)
    assert transitions.process_end(run, task, died) == ()  # Luigi logs one death twice
    assert _attempts(task) == [(1, 101, 1.0, 2.0, R.DIED, f"Task {EXTRACT.id} died unexpectedly with exit code 9")]
    timed_out = TimedOut(4.0, task_id=ROOT.id, seconds=1.5)
    transitions.process_end(run, root, timed_out)  # no `running` line before it: an attempt of its own
    assert _attempts(root) == [
        (1, None, None, 4.0, R.TIMEOUT, f"Task {ROOT.id} timed out after 1.5 seconds and was terminated.")
    ]
    assert task.state is TaskState.FAILED and root.state is TaskState.FAILED


def test_missing_data_and_the_scheduler_s_lines_mark_the_task() -> None:
    run = _run(EXTRACT, ROOT)
    extract, root = run.tasks[EXTRACT.id], run.tasks[ROOT.id]
    extract.statuses.add(TaskStatus.PENDING)
    assert transitions.missing_data(run, extract, MissingData(1.0, repr=EXTRACT.repr)) == ((run, extract, None, False),)
    assert extract.state is TaskState.MISSING_INPUT
    retry = SchedulerRetry(2.0, task_id=ROOT.id)
    assert transitions.scheduler_line(run, root, retry) == ((run, root, None, False),) and not root.disabled
    transitions.scheduler_line(run, root, SchedulerDisabled(3.0, task_id=ROOT.id))
    assert root.state is TaskState.DISABLED


def test_the_worker_s_lines_and_the_summary_end_the_run() -> None:
    run = _run(EXTRACT, ROOT)
    assert transitions.done_scheduling(run, DoneScheduling(1.0)) == ((run, None, None, False),)
    assert transitions.running_worker(run, RunningWorker(1.5, processes=4)) == ((run, None, None, False),)
    assert transitions.worker_stopped(run, WorkerStopped(8.0, worker=WORKER)) == ((run, None, None, False),)
    assert (run.processes, run.stopped, run.started_at, run.ended) == (4, True, 1.0, False)
    for t in run.tasks.values():
        t.statuses.add(TaskStatus.PENDING)
    run.tasks[EXTRACT.id].statuses.add(TaskStatus.FAILED)
    ended = Summary(None, scheduled=2, counts=(("failed", 1), ("upstream_failure", 1)), smiley=":(")
    assert transitions.summary(run, ended) == ((run, None, None, True),)
    assert (run.status, run.ended_at, run.tasks[ROOT.id].state) == (RunStatus.FAILED, None, TaskState.UPSTREAM_FAILED)
    copy = Summary(9.0, scheduled=2, counts=ended.counts, smiley=":(")
    assert transitions.summary_copy(run, copy) == ((run, None, None, True),) and run.ended_at == 9.0
    assert transitions.summary_copy(run, copy) == ()  # the time is known: nothing more to learn


def test_a_build_no_line_will_end_ends_incomplete() -> None:
    run = _run(EXTRACT)
    assert transitions.incomplete(run) == ((run, None, None, True),)
    assert run.status is RunStatus.INCOMPLETE
