"""Copies of a real demo build are further builds, as PlanExe writes one plan per run directory: each replays as its
template did, under its own run directory and task ids, so logs made of copies share nothing a real log would not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import run_demo

from exporter.contract import run_dict
from exporter.demo.copies import RUN_DIR_PARAM, BuildCopies, NotCopyable
from exporter.replay import replay_file
from exporter.taskid import task_id_str


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A failing build with a retried task, resumed in the same run directory: one log holding two runs."""
    run_dir = tmp_path_factory.mktemp("template") / "PlanExe_copies"
    first = ("--fail", "SWOTAnalysisTask", "--flaky", "PlanTypeTask", "--retry-count", "2")
    assert run_demo(run_dir, "--speed", "0", "--workers", "2", *first).returncode == 1
    assert run_demo(run_dir, "--speed", "0", "--workers", "2").returncode == 0
    return run_dir / "log.txt"


def _runs(path: Path) -> list[dict[str, Any]]:
    return [run_dict(run) for run in replay_file(str(path)).runs()]


def _ids(runs: list[dict[str, Any]]) -> set[str]:
    return {t["task_id"] for run in runs for t in run["tasks"]}


def _without_names(run: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if k not in ("run_id", "source")}


def _as_template(run: dict[str, Any], template_run: dict[str, Any], run_dir: str, copy_dir: str) -> dict[str, Any]:
    """The copy's run with the template's run directory and ids put back (by family: one task per family)."""
    ids = {t["family"]: t["task_id"] for t in template_run["tasks"]}
    back = json.loads(json.dumps(_without_names(run)).replace(copy_dir, run_dir))
    for task in back["tasks"]:
        task["task_id"] = ids[task["family"]]
    return back


def test_a_copy_replays_as_its_template_under_its_own_run_dir_and_task_ids(template: Path, tmp_path: Path) -> None:
    original = _runs(template)
    run_dir = original[0]["tasks"][0]["params"][RUN_DIR_PARAM]
    copy = tmp_path / template.parent.name / "log.txt"
    copy.parent.mkdir()
    copy.write_bytes(BuildCopies.of_log(template).copy(7))

    copied = _runs(copy)
    assert len(original) == len(copied) == 2
    assert [r["status"] for r in copied] == ["failed", "succeeded"]
    assert not _ids(original) & _ids(copied)
    for run, twin in zip(copied, original, strict=True):
        assert run["run_id"] == twin["run_id"]
        assert len(run["tasks"]) == len(twin["tasks"]) == twin["tasks_total"]
        for task in run["tasks"]:
            assert task["params"][RUN_DIR_PARAM] == f"{run_dir}-000007"
            assert task["task_id"] == task_id_str(task["family"], task["params"])  # Luigi's id for its params
        assert _as_template(run, twin, run_dir, f"{run_dir}-000007") == _without_names(twin)
    (retried,) = [t for t in copied[0]["tasks"] if t["family"] == "PlanTypeTask"]
    assert [a["result"] for a in retried["attempt_history"]] == ["failure", "success"]


def test_a_template_and_its_copy_in_one_log_are_two_builds_sharing_no_task(template: Path, tmp_path: Path) -> None:
    original = _runs(template)
    run_dir = original[0]["tasks"][0]["params"][RUN_DIR_PARAM]
    log = tmp_path / "builds.log"
    log.write_bytes(template.read_bytes() + BuildCopies.of_log(template).copy(1))

    runs = _runs(log)
    assert len(runs) == 2 * len(original)
    first, second = runs[: len(original)], runs[len(original) :]
    assert not _ids(first) & _ids(second)
    assert [_without_names(r) for r in first] == [_without_names(r) for r in original]
    for run, twin in zip(second, original, strict=True):
        assert _as_template(run, twin, run_dir, f"{run_dir}-000001") == _without_names(twin)


def test_a_log_without_planexes_run_dir_is_not_copied(corpus: Path) -> None:
    with pytest.raises(NotCopyable, match=RUN_DIR_PARAM):
        BuildCopies.of_log(corpus / "oscar_etl_concurrent_central.log")
