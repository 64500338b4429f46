"""The replay contract alone: the exact document of runs built from hand-made events (`handmade`), its headline and
figures, and its JSON text."""

from __future__ import annotations

from handmade import T, ends, fails, runs, scheduled, worker_starts

from exporter.book import Book
from exporter.contract import headline, live_dict, run_counts, run_dict, state_counts, to_json
from exporter.events import Event, Summary
from exporter.ids import trace_id
from exporter.model import Run, TaskState

ROOT = T("Root")
EXTRACT = T("Extract", {"day": "2024-01-01", "source": "db"})


def _run(*events: Event) -> Run:
    book = Book("/logs/build.log", "build.log")
    book.apply_all(events)
    (run,) = book.runs
    return run


def _attempt(number: int, result: str, start: float, end: float, pid: int, error: str | None = None) -> dict:
    return {
        "attempt": number,
        "result": result,
        "started_at": start,
        "ended_at": end,
        "duration_s": end - start,
        "worker_pid": pid,
        "error": error,
    }


def test_a_build_with_a_retried_task_is_this_document() -> None:
    run = _run(
        *scheduled(ROOT, EXTRACT, at=1.0),
        *worker_starts(1.5),
        *fails(EXTRACT, 2.0, 3.0, "RuntimeError: db down"),
        *runs(EXTRACT, 5.0, 6.0, pid=102),
        *runs(ROOT, 6.0, 7.5, pid=103),
        *ends(8.0, 2, completed=2),
    )
    assert run_dict(run) == {
        "run_id": "build.log",
        "source": "/logs/build.log",
        "pipeline": "Root",
        "status": "succeeded",
        "started_at": 1.0,
        "ended_at": 8.0,
        "tasks_total": 2,
        "tasks_done": 2,
        "tasks_already_done": 0,
        "tasks_completed": 2,
        "tasks_failed": 0,
        "tasks_running": 0,
        "tasks_pending": 0,
        "tasks_upstream_failed": 0,
        "progress_ratio": 1.0,
        "summary": {
            "scheduled": 2,
            "ran_successfully": 2,
            "failed": 0,
            "already_complete": 0,
            "pending": 0,
            "categories": {"completed": 2},
            "smiley": ":)",
            "reason": None,
        },
        "retry_of": None,
        "retry": 0,
        "headline": "2 of 2 complete",
        "tasks": [
            {
                "task_id": "Root__99914b932b",
                "family": "Root",
                "params": {},
                "state": "done",
                "attempts": 1,
                "started_at": 6.0,
                "ended_at": 7.5,
                "duration_s": 1.5,
                "worker_pid": 103,
                "error": None,
                "attempt_history": [_attempt(1, "success", 6.0, 7.5, 103)],
                "batch_members": [],
            },
            {
                "task_id": "Extract_2024_01_01_db_6b5e939bd2",
                "family": "Extract",
                "params": {"day": "2024-01-01", "source": "db"},
                "state": "done",
                "attempts": 2,
                "started_at": 5.0,
                "ended_at": 6.0,
                "duration_s": 1.0,
                "worker_pid": 102,
                "error": None,  # done in the end: each attempt keeps its own error
                "attempt_history": [
                    _attempt(1, "failure", 2.0, 3.0, 101, "RuntimeError: db down"),
                    _attempt(2, "success", 5.0, 6.0, 102),
                ],
                "batch_members": [],
            },
        ],
    }


def test_a_failed_build_counts_its_failed_and_upstream_failed_tasks() -> None:
    run = _run(
        *scheduled(ROOT, EXTRACT),
        *worker_starts(),
        *fails(EXTRACT, 2.0, 3.0, "RuntimeError: db down"),
        *ends(4.0, 2, ":(", failed=1, still_pending=1, upstream_failure=1),
    )
    document = run_dict(run)
    assert {k: v for k, v in document.items() if k.startswith("tasks_") or k in ("status", "headline")} == {
        "status": "failed",
        "tasks_total": 2,
        "tasks_done": 0,
        "tasks_already_done": 0,
        "tasks_completed": 0,
        "tasks_failed": 1,
        "tasks_running": 0,
        "tasks_pending": 0,
        "tasks_upstream_failed": 1,
        "headline": "0 of 2 complete",
    }
    assert [(t["family"], t["state"], t["error"]) for t in document["tasks"]] == [
        ("Root", "upstream_failed", None),
        ("Extract", "failed", "RuntimeError: db down"),
    ]


def test_a_running_build_s_headline_names_the_next_task_and_what_runs() -> None:
    run = _run(*scheduled(ROOT, EXTRACT), *worker_starts(), *runs(EXTRACT, 2.0, 3.0)[:1])
    document = run_dict(run)
    assert (document["status"], document["headline"], document["tasks_running"]) == (
        "running",
        "Task 1 of 2: Extract",
        1,
    )
    assert headline("scheduling", 0, 0, []) == "scheduling"
    assert headline("running", 61, 37, ["SWOTAnalysisTask", "SWOTAnalysisTask", "ReviewPlanTask"]) == (
        "Task 38 of 61: SWOTAnalysisTask, ReviewPlanTask"
    )
    assert headline("incomplete", 61, 37, ["SWOTAnalysisTask"]) == "37 of 61 complete"


def test_a_run_seen_only_through_its_summary_takes_luigi_s_figures() -> None:
    counts = (("completed", 3), ("already_done", 2), ("failed", 1), ("still_pending", 2), ("upstream_failure", 1))
    run = Run("build.log", "/logs/build.log", summary=Summary(scheduled=7, counts=counts, smiley=":("))
    states = state_counts(run)
    assert {s: n for s, n in states.items() if n} == {
        TaskState.DONE: 3,
        TaskState.ALREADY_DONE: 2,
        TaskState.FAILED: 1,
        TaskState.UPSTREAM_FAILED: 1,
        TaskState.PENDING: 1,
    }
    assert run_counts(run)["tasks_completed"] == 5 and run_counts(run)["progress_ratio"] == round(5 / 7, 6)


def test_the_live_document_adds_the_eta_and_the_run_s_trace() -> None:
    run = _run(*scheduled(ROOT, EXTRACT), *worker_starts(1.0), *runs(EXTRACT, 2.0, 3.0)[:1])
    document = live_dict(run, now=4.0, usual={"Extract": 10.0, "Root": 5.0})
    assert document["trace_id"] == f"{trace_id('/logs/build.log', 'build.log'):032x}"
    assert document["eta_s"] == 5.0 + (10.0 - 2.0)  # Root's usual duration, then what Extract has left of its
    assert {k: v for k, v in document.items() if k not in ("eta_s", "trace_id")} == run_dict(run)


def test_json_text_is_compact_utf8() -> None:
    assert (
        to_json({"run_id": "Plan ✓", "tasks": [1, None], "ratio": 0.5})
        == '{"run_id":"Plan ✓","tasks":[1,null],"ratio":0.5}'
    )
