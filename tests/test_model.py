"""The run model alone: task states derived as Luigi's execution summary partitions them, a task's error, a run's
status and total, from values built by hand."""

from __future__ import annotations

import pytest

from exporter.events import Summary
from exporter.model import (
    FAILED_RESULTS,
    FAILED_STATES,
    Attempt,
    AttemptResult,
    Run,
    RunStatus,
    Task,
    TaskState,
    task_error,
)

R = AttemptResult


def _task(statuses: set[str] = frozenset(), *results: AttemptResult, **flags: bool) -> Task:
    task = Task("A__99914b932b", "A", statuses=set(statuses), **flags)
    task.attempts = [
        Attempt(n, 100 + n, float(n), None if r is R.RUNNING else n + 0.5, r) for n, r in enumerate(results, 1)
    ]
    return task


@pytest.mark.parametrize(
    "statuses, results, flags, state",
    [
        ((), (), {}, TaskState.PENDING),
        ({"PENDING"}, (), {}, TaskState.PENDING),
        ({"PENDING"}, (R.RUNNING,), {}, TaskState.RUNNING),
        ({"PENDING", "DONE"}, (R.SUCCESS,), {}, TaskState.DONE),
        ({"DONE"}, (), {}, TaskState.ALREADY_DONE),  # complete when scheduled: Luigi's "complete ones encountered"
        ({"PENDING", "FAILED"}, (R.FAILURE,), {}, TaskState.FAILED),
        ({"PENDING", "FAILED", "DONE"}, (R.FAILURE, R.SUCCESS), {}, TaskState.DONE),  # a retry that succeeded
        ({"PENDING", "FAILED"}, (R.FAILURE, R.RUNNING), {}, TaskState.RUNNING),  # the retry under way
        ({"PENDING"}, (R.DIED,), {}, TaskState.FAILED),  # its `Informed FAILED` not seen yet
        ({"PENDING"}, (R.TIMEOUT,), {}, TaskState.FAILED),
        ({"PENDING"}, (R.NEW_REQUIREMENTS,), {}, TaskState.PENDING),  # back to pending for its dynamic deps
        ({"PENDING", "FAILED"}, (R.FAILURE, R.FAILURE), {"disabled": True}, TaskState.DISABLED),
        ({"PENDING", "DISABLED"}, (), {}, TaskState.DISABLED),
        ({"UNKNOWN"}, (), {}, TaskState.UNKNOWN),  # its complete() raised
        ({"PENDING"}, (), {"missing_input": True}, TaskState.MISSING_INPUT),
        ({"PENDING"}, (), {"upstream_failed": True}, TaskState.UPSTREAM_FAILED),
    ],
)
def test_a_task_state_is_derived_from_its_statuses_and_attempts(
    statuses: set[str], results: tuple[AttemptResult, ...], flags: dict[str, bool], state: TaskState
) -> None:
    assert _task(statuses, *results, **flags).state is state


def test_a_batch_done_without_being_scheduled_is_already_done_as_luigi_counts_it() -> None:
    batch = _task(set(), R.SUCCESS)
    batch.members = [_task({"PENDING"}, R.SUCCESS)]
    assert batch.state is TaskState.ALREADY_DONE
    assert batch.members[0].state is TaskState.DONE


def test_a_task_that_failed_then_succeeded_has_no_error_but_its_attempts_keep_theirs() -> None:
    task = _task({"PENDING", "FAILED", "DONE"}, R.FAILURE, R.SUCCESS)
    task.attempts[0].error = "Traceback ...\nRuntimeError: flaky"
    assert task_error(task) is None
    assert [a.error for a in task.attempts] == ["Traceback ...\nRuntimeError: flaky", None]


def test_a_failed_task_shows_its_latest_failure_and_a_retry_under_way_the_one_before() -> None:
    task = _task({"PENDING", "FAILED"}, R.FAILURE, R.FAILURE)
    task.attempts[0].error, task.attempts[1].error = "first", "second"
    assert task_error(task) == "second"
    task.attempts.append(Attempt(3, 103, 3.0))
    assert (task.state, task_error(task)) == (TaskState.RUNNING, "second")


def test_an_error_outside_any_attempt_is_the_task_s_own() -> None:
    task = _task({"UNKNOWN"}, error="Traceback ...\nOSError: complete() could not reach S3")
    assert task_error(task) == "Traceback ...\nOSError: complete() could not reach S3"
    assert task_error(task, TaskState.ALREADY_DONE) is None  # the state the caller has is the one that counts


def test_failed_results_and_states_match_their_strings_too() -> None:
    assert {R.FAILURE, R.DIED, R.TIMEOUT} == FAILED_RESULTS
    assert {TaskState.FAILED, TaskState.DISABLED} == FAILED_STATES
    assert {"failure", "died", "timeout"} <= FAILED_RESULTS and "success" not in FAILED_RESULTS
    assert "disabled" in FAILED_STATES and "upstream_failed" not in FAILED_STATES


def test_an_attempt_s_duration_needs_both_ends_and_is_never_negative() -> None:
    assert Attempt(1, 1, 10.0, 12.5).duration_s == 2.5
    assert Attempt(1, 1, 10.0).duration_s is None
    assert Attempt(1, 1, None, 12.5).duration_s is None
    assert Attempt(1, 1, 10.0, 9.0).duration_s == 0.0  # clocks of two processes


@pytest.mark.parametrize(
    "smiley, failed, status",
    [
        (":)", 0, RunStatus.SUCCEEDED),
        (":(", 1, RunStatus.FAILED),
        (":|", 0, RunStatus.BLOCKED),
        ("", 1, RunStatus.FAILED),
    ],
)
def test_a_run_s_status_is_its_summary_s_smiley(smiley: str, failed: int, status: RunStatus) -> None:
    run = Run("r", "log")
    if failed:
        run.tasks["A"] = _task({"PENDING", "FAILED"}, R.FAILURE)
    run.summary = Summary(scheduled=1, smiley=smiley)
    assert run.status is status and run.ended


def test_a_run_without_summary_is_scheduling_running_or_incomplete() -> None:
    run = Run("r", "log")
    assert run.status is RunStatus.SCHEDULING and not run.ended
    run.scheduling = False
    assert run.status is RunStatus.RUNNING
    run.finished = True
    assert run.status is RunStatus.INCOMPLETE and run.ended


def test_a_run_s_total_is_its_tasks_or_the_expected_total_while_it_schedules() -> None:
    run = Run("r", "log", expected_tasks=61)
    run.tasks = {"A": _task({"PENDING"}), "B": _task({"PENDING"})}
    assert run.tasks_total == 61
    run.scheduling = False
    assert run.tasks_total == 2
    seen_only_through_summary = Run("s", "log", summary=Summary(scheduled=7))
    assert seen_only_through_summary.tasks_total == 7
    assert run.count(TaskState.PENDING) == 2


def test_a_run_spans_its_earliest_and_latest_event_times() -> None:
    run = Run("r", "log")
    for time in (5.0, None, 3.0, 9.0):
        run._touch(time)
    assert (run.started_at, run.last_event_at) == (3.0, 9.0)
