"""Replay of real builds of the 61-task demo pipeline against the truth Luigi's own event handlers recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import replay, run_demo
from truth import assert_run_matches, load

from exporter.cli import main
from exporter.contract import run_dict, to_json
from exporter.demo.copies import unique_workers
from exporter.documents import Documents
from exporter.lines import Line
from exporter.pipeline import Pipeline
from exporter.replay import replay_file, replay_into
from exporter.sinks.store import Store

FAST = ("--speed", "0.01")


@pytest.mark.parametrize(
    ("args", "resolution"),
    [
        (("--workers", "1"), 1.0),
        (("--workers", "4", "--ms"), 0.001),
        (("--workers", "4", "--fail", "SWOTAnalysisTask"), 1.0),
        (("--workers", "4", "--ms", "--fail", "SWOTAnalysisTask", "--dual-handlers"), 0.001),
    ],
    ids=["1-worker", "4-workers-ms", "4-workers-failure", "failure-dual-handlers-ms"],
)
def test_demo_build_replays_exactly(tmp_path: Path, capsys: pytest.CaptureFixture[str], args, resolution) -> None:
    run_dir = tmp_path / "PlanExe_20261125_120000"
    proc = run_demo(run_dir, *FAST, *args)
    assert proc.returncode == (1 if "--fail" in args else 0), proc.stderr[-2000:]
    doc = replay(capsys, run_dir / "log.txt")
    (run,) = doc["runs"]
    assert run["run_id"] == "PlanExe_20261125_120000"
    assert run["pipeline"] == "FullPlanPipeline"
    assert run["tasks_total"] == 61
    assert_run_matches(run, load(str(run_dir / "truth.jsonl")), resolution)
    if "--fail" in args:
        assert run["status"] == "failed"
        (failed,) = [t for t in run["tasks"] if t["state"] == "failed"]
        assert failed["family"] == "SWOTAnalysisTask"
        assert "Failed to run SWOTAnalysisTask with any of the LLMs" in failed["error"]
        assert failed["error"].startswith("Traceback (most recent call last):")
        assert run["summary"]["failed"] == 1
    else:
        assert run["status"] == "succeeded"
        assert run["progress_ratio"] == 1.0


def test_resumed_build_is_a_second_run_with_its_own_total(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "PlanExe_resume"
    first = run_demo(run_dir, *FAST, "--fail", "SWOTAnalysisTask", "--truth", str(tmp_path / "first.jsonl"))
    assert first.returncode == 1
    second = run_demo(run_dir, *FAST, "--task", "ReviewPlanTask", "--truth", str(tmp_path / "second.jsonl"))
    assert second.returncode == 0, second.stderr[-2000:]
    doc = replay(capsys, run_dir / "log.txt")
    assert [r["run_id"] for r in doc["runs"]] == ["PlanExe_resume", "PlanExe_resume#2"]
    assert_run_matches(doc["runs"][0], load(str(tmp_path / "first.jsonl")), 1.0)
    resumed = doc["runs"][1]
    assert_run_matches(resumed, load(str(tmp_path / "second.jsonl")), 1.0)
    assert resumed["tasks_total"] < 61
    assert resumed["tasks_already_done"] > 0
    assert resumed["pipeline"] == "ReviewPlanTask"


def test_retried_task_has_one_attempt_per_try(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "PlanExe_retry"
    proc = run_demo(run_dir, *FAST, "--workers", "2", "--ms", "--flaky", "SWOTAnalysisTask", "--retry-count", "3")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run,) = replay(capsys, run_dir / "log.txt")["runs"]
    assert_run_matches(run, load(str(run_dir / "truth.jsonl")), 0.001)
    (swot,) = [t for t in run["tasks"] if t["family"] == "SWOTAnalysisTask"]
    assert [a["result"] for a in swot["attempt_history"]] == ["failure", "success"]
    assert swot["state"] == "done"
    assert swot["error"] is None
    assert run["status"] == "succeeded"


def test_killed_build_is_incomplete_with_its_tasks_still_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "PlanExe_killed"
    proc = run_demo(run_dir, "--speed", "0.05", "--workers", "4", "--ms", "--kill-after", "12")
    assert proc.returncode < 0 or proc.returncode == 137
    events = load(str(run_dir / "truth.jsonl"))
    assert not any(e["event"] == "SUMMARY" for e in events)
    succeeded = {e["task_id"] for e in events if e["event"] == "SUCCESS"}
    started = {e["task_id"] for e in events if e["event"] == "START"}
    (run,) = replay(capsys, run_dir / "log.txt")["runs"]
    assert run["status"] == "incomplete"
    assert run["summary"] is None
    assert run["tasks_total"] == 61
    states = {t["task_id"]: t["state"] for t in run["tasks"]}
    assert {tid for tid, s in states.items() if s == "done"} == succeeded
    assert {tid for tid, s in states.items() if s == "running"} == started - succeeded
    assert set(states.values()) <= {"done", "running", "pending"}


@pytest.fixture(scope="module")
def dual_log(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A failing build written by two handlers: Luigi's plain `LEVEL: msg` one first, then a timestamped one."""
    run_dir = tmp_path_factory.mktemp("dual") / "PlanExe_dual"
    run_demo(run_dir, "--workers", "2", "--speed", "0", "--ms", "--dual-handlers", "--fail", "SWOTAnalysisTask")
    return (run_dir / "log.txt").read_bytes()


def test_replay_json_streams_the_document_the_whole_model_gives(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], corpus: Path, failing_demo_log: bytes, dual_log: bytes
) -> None:
    """replay --json writes each run once it and every run before it have ended, then drops it: byte for byte the
    document of the whole model, with summaries echoed by a second handler, builds interleaved in one file, and a
    killed build (never ended) holding back the builds after it until the end of the file."""
    concurrent = (corpus / "oscar_etl_concurrent_central.log").read_bytes()
    killed = failing_demo_log[: failing_demo_log.index(b"\n", len(failing_demo_log) // 2) + 1]
    parts = [dual_log, failing_demo_log, concurrent] * 6 + [killed] + [dual_log, failing_demo_log] * 3
    log = tmp_path / "many.log"  # several MB: many blocks, so runs are written while the file is read
    log.write_bytes(b"".join(unique_workers(part, i) for i, part in enumerate(parts)))  # a worker salt per build
    second = tmp_path / "second.log"
    second.write_bytes(concurrent + failing_demo_log)

    whole = [replay_file(str(path)) for path in (log, second)]
    document = {
        "runs": [run for p in whole for run in Documents(p).all()],
        "lines_read": sum(p.lines_read for p in whole),
        "lines_unparsed": sum(p.lines_unparsed for p in whole),
    }
    assert len(document["runs"]) > 40 and {r["status"] for r in document["runs"]} >= {"failed", "incomplete"}
    capsys.readouterr()
    assert main(["replay", "--json", str(log), str(second)]) == 0
    assert capsys.readouterr().out == to_json(document) + "\n"

    pipeline, written, held = Pipeline(), [], []

    def settled(runs: list) -> None:
        written.extend(run_dict(run) for run in runs)
        held.append(len(pipeline.runs()))

    replay_into(pipeline, str(log), settled)
    assert written == Documents(whole[0]).all()
    assert pipeline.runs() == []
    assert max(held) < len(written) // 2  # the model never held the file's runs at once


def test_a_run_ended_by_a_summary_is_settled_after_the_summarys_second_copy(dual_log: bytes) -> None:
    """The plain handler's summary ends the run without a time; the timestamped copy that follows gives it one, so
    the run is not written (nor dropped) between the two."""
    lines = [Line("log", i, text) for i, text in enumerate(dual_log.decode().splitlines())]
    marks = [i for i, line in enumerate(lines) if line.text == "===== Luigi Execution Summary ====="]
    pipeline = Pipeline()
    pipeline.feed("log", lines[: marks[1] + 2])  # the first copy and the blank line after it
    (run,) = pipeline.runs()
    assert run.ended and run.ended_at is None
    assert pipeline.take_settled() == []
    pipeline.feed("log", lines[marks[1] + 2 :])
    assert pipeline.take_settled() == [run] and run.ended_at is not None


def test_api_runs_makes_a_settled_runs_document_once_and_only_a_settled_ones(dual_log: bytes) -> None:
    """What /api/runs serves is the model's documents as they stand, while a settled run's JSON is made once; a run
    the plain handler's summary ended is not settled until the timestamped copy gives its end time."""
    second = unique_workers(dual_log, 1).decode().splitlines()
    texts = [*dual_log.decode().splitlines(), *second]
    lines = [Line("log", i, text) for i, text in enumerate(texts)]
    marks = [i for i, line in enumerate(lines) if line.text == "===== Luigi Execution Summary ====="]
    store = Store(None)
    pipeline, now = Pipeline(store), 2e9
    documents = Documents(pipeline)

    def served() -> list[dict]:
        texts = documents.as_json(now)
        assert [json.loads(text) for text in texts] == documents.all(now)
        return texts

    try:
        pipeline.feed("log", lines[: marks[5] + 2])  # the second build's summary, the plain handler's copy only
        first, ended = served()
        assert json.loads(ended)["ended_at"] is None and json.loads(ended)["status"] == "failed"
        again = served()
        assert again[0] is first and again[1] is not ended  # settled: kept; ended, its time to come: made anew
        pipeline.feed("log", lines[marks[5] + 2 :])
        assert served()[0] is first and json.loads(served()[1])["ended_at"] is not None
    finally:
        store.close()
