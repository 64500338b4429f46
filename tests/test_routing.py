"""The router alone: which run of a source each kind of line goes to, and the indexes it keeps over the open runs,
asked directly as the book asks them."""

from __future__ import annotations

from handmade import WORKER, T

from exporter.events import Summary
from exporter.model import Run, Task
from exporter.routing import Router

OTHER_WORKER = WORKER.replace("salt=1234", "salt=5678").replace("pid=100", "pid=200")


def _router() -> Router:
    return Router("/logs/build.log", "build.log", expected_tasks=None)


def test_runs_are_named_after_the_source_then_numbered() -> None:
    router = _router()
    assert [router.new_run().run_id for _ in range(3)] == ["build.log", "build.log#2", "build.log#3"]
    assert router.numbered == 3 and router.run_id(7) == "build.log#7"


def test_checking_lines_go_to_the_build_still_scheduling_else_start_one() -> None:
    router = _router()
    first = router.for_checking("A(day=1)", {"day": "1"})
    assert router.for_checking("B(day=1)", {"day": "1"}) is first
    assert router.scheduling_run() is first
    router.scheduled(first)
    second = router.for_checking("A(day=2)", {"day": "2"})
    assert second is not first and [r.run_id for r in router.runs] == ["build.log", "build.log#2"]


def test_builds_scheduling_at_once_are_told_apart_by_the_params_their_reprs_share() -> None:
    router = _router()
    router.starting()
    plan_a = router.for_checking("Plan(run_dir=/runs/a, step=1)", {"run_dir": "/runs/a", "step": "1"})
    router.starting()
    plan_b = router.for_checking("Plan(run_dir=/runs/b, step=1)", {"run_dir": "/runs/b", "step": "1"})
    assert plan_b is not plan_a
    assert router.for_checking("Swot(run_dir=/runs/a)", {"run_dir": "/runs/a"}) is plan_a
    assert router.for_checking("Swot(run_dir=/runs/b)", {"run_dir": "/runs/b"}) is plan_b
    assert router.signature(plan_a) == {("run_dir", "/runs/a")}


def _held_by(run: Run) -> str:
    """The repr of a worker line naming a task `run` holds."""
    task = T("Extract", {"day": "1"})
    run.tasks[task.id] = Task(task.id, task.family)
    return task.repr


def test_a_worker_claims_the_first_build_without_one_for_good() -> None:
    router = _router()
    first, second = router.new_run(), router.new_run()
    assert router.for_worker(WORKER, None) is first
    assert router.for_worker(OTHER_WORKER, None) is second
    assert router.for_worker(WORKER, _held_by(second)) is first
    assert (first.worker, second.worker) == (WORKER, OTHER_WORKER)
    assert not first.scheduling and not second.scheduling


def test_a_worker_line_goes_to_the_build_that_holds_its_task() -> None:
    router = _router()
    first, second = router.new_run(), router.new_run()
    assert router.for_worker(WORKER, _held_by(second)) is second
    assert router.for_worker(OTHER_WORKER, _held_by(second)) is first  # second has its worker


def test_an_informed_line_goes_to_the_build_awaiting_it_or_holding_the_task() -> None:
    router = _router()
    first = router.new_run()
    router.scheduled(first)
    second = router.new_run()  # still scheduling: a new task's status is its
    first.tasks["A_1"] = Task("A_1", "A")
    router.holds(first, "A_1")
    router.awaits(first, "A_1")
    assert router.with_task("A_1") is first
    assert router.for_informed("A_1", "DONE") is first  # its worker finished A_1
    assert router.for_informed("B_1", "PENDING") is second
    router.informed(first, "A_1")
    assert first.awaiting == set()


def test_a_closed_run_leaves_every_index() -> None:
    router = _router()
    run = router.new_run()
    run.tasks["A_1"] = Task("A_1", "A")
    router.holds(run, "A_1")
    router.awaits(run, "A_1")
    router.stopped(run)
    router.close(run)
    assert not router.has_open() and router.last_open() is None
    assert router.with_task("A_1") is None and router.scheduling_run() is None
    assert router.for_summary(Summary(scheduled=1)).run_id == "build.log#2"  # a summary after it is a new build's
    assert router.runs[0] is run  # held until dropped
    router.drop([run])
    assert run not in router.runs


def test_a_summary_ends_the_build_whose_worker_stopped_else_the_latest_open() -> None:
    router = _router()
    first, second = router.new_run(), router.new_run()
    assert router.for_summary(Summary(scheduled=1)) is second
    router.stopped(first)
    assert router.for_summary(Summary(scheduled=1)) is first


def test_builds_one_after_another_that_wrote_nothing_since_a_later_one_began_are_gone_past() -> None:
    router = _router()
    killed = router.new_run()
    router.seen(killed)
    later = router.new_run()
    router.seen(later)
    assert router.gone_past(later) == [killed]
    assert router.gone_past(killed) == []
