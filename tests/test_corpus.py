"""Every build of every real log in the corpus matches Luigi's own Execution Summary (expected.json).

The figures compared are the ones reconstructed from task lines, not copied from the summary: where a log has its
task lines, the summary's own numbers are only the yardstick. Builds are paired with expected.json in the order
their summaries appear (interleaved builds finish in another order than they start); builds without a summary come
last in their file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from exporter.contract import run_counts
from exporter.replay import replay_file

CORPUS_FILES = [
    "dataset_clustering.log",
    "openl3_hear_nsynth.log",
    "flasksample.log",
    "property_friends_ml_pipeline.log",
    "planexe_3oct_console.log",
    "planexe_2oct_summary.log",
    "oscar_etl_concurrent_central.log",
    "faisal_windows_scheduler_unreachable.log",
    "istywhyerlina_three_failures.log",
    "zhrzalfaa_failed_task_rerun.log",
    "jeisa_central_scheduler_rpc.log",
    "luigi_example_task_level_retry.log",
]


def _expected(corpus: Path) -> dict[str, list[dict[str, Any]]]:
    return {entry["file"]: entry["builds"] for entry in json.loads((corpus / "expected.json").read_text())}


def test_corpus_lists_every_file(corpus: Path) -> None:
    assert sorted(_expected(corpus)) == sorted(CORPUS_FILES)
    assert sum(len(builds) for builds in _expected(corpus).values()) == 53


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_every_build_matches_luigis_summary(corpus: Path, name: str) -> None:
    builds = _expected(corpus)[name]
    runs = sorted(replay_file(str(corpus / name)).runs(), key=lambda r: r.summary.offset if r.summary else 1 << 62)
    got = []
    for run in runs:
        c = run_counts(run)
        got.append(
            {
                "scheduled": c["tasks_total"],
                "ran_successfully": c["tasks_done"],
                "failed": c["tasks_failed"],
                "already_complete": c["tasks_already_done"],
                "has_summary": run.summary is not None,
            }
        )
    want = [
        {k: b[k] for k in ("scheduled", "ran_successfully", "failed", "already_complete", "has_summary")}
        for b in builds
    ]
    assert got == want


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_task_lines_agree_with_the_summary_of_their_build(corpus: Path, name: str) -> None:
    """Where both exist, the states rebuilt from task lines give the summary's exact figures."""
    for run in replay_file(str(corpus / name)).runs():
        if run.summary is None or not run.tasks:
            continue
        c = run_counts(run)
        s = run.summary
        assert (c["tasks_total"], c["tasks_done"], c["tasks_failed"], c["tasks_already_done"]) == (
            s.scheduled,
            s.count("completed"),
            s.count("failed"),
            s.count("already_done"),
        ), run.run_id
        assert c["tasks_upstream_failed"] == s.count("upstream_failure"), run.run_id


def test_killed_planexe_console_capture_is_incomplete_with_its_running_task(corpus: Path) -> None:
    (run,) = replay_file(str(corpus / "planexe_3oct_console.log")).runs()
    assert run.status.value == "incomplete"
    running = [t.family for t in run.tasks.values() if t.state.value == "running"]
    assert running == ["EnrichLeversTask"]
    assert run.pipeline == "FullPlanPipeline"


def test_interleaved_builds_are_told_apart_by_worker(corpus: Path) -> None:
    runs = replay_file(str(corpus / "oscar_etl_concurrent_central.log")).runs()
    assert len(runs) == 34
    assert len({r.worker for r in runs}) == 34
    first, second = runs[0], runs[1]
    assert first.worker is not None and "salt=8036297224" in first.worker
    assert second.worker is not None and "salt=3536619022" in second.worker


def test_retries_are_attempts_of_one_task(corpus: Path) -> None:
    (run,) = replay_file(str(corpus / "luigi_example_task_level_retry.log")).runs()
    attempts = {t.family: len(t.attempts) for t in run.tasks.values()}
    assert attempts == {"examples.TaskLevelRetryPolicy": 0, "SuccessTask1": 0, "ErrorTask2": 2, "ErrorTask1": 5}
    error = run.tasks["ErrorTask1__99914b932b"].attempts[-1].error
    assert (
        error is not None
        and error.splitlines()[-1].strip() == "Exception: Test Exception. Retry Index 5 for ErrorTask1"
    )


def test_summary_only_log_takes_luigis_figures(corpus: Path) -> None:
    (run,) = replay_file(str(corpus / "planexe_2oct_summary.log")).runs()
    c = run_counts(run)
    assert (c["tasks_total"], c["tasks_done"], c["tasks_failed"], c["tasks_upstream_failed"]) == (62, 36, 1, 23)
    assert run.status.value == "failed"
