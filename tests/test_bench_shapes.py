"""The benchmark's log shapes are the builds they claim to be: a shape that replays wrong would time the wrong work."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_demo

from benchmarks import shapes
from exporter.contract import run_counts
from exporter.demo.copies import BuildCopies
from exporter.replay import replay_file


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("shapes") / "PlanExe_shapes"
    assert run_demo(run_dir, "--speed", "0", "--workers", "2", "--fail", "SWOTAnalysisTask").returncode == 1
    return run_dir / "log.txt"


def test_interleaved_builds_replay_as_that_many_builds_each_as_it_ran_alone(build: Path, tmp_path: Path) -> None:
    (alone,) = replay_file(str(build)).runs()
    log = tmp_path / "interleaved.log"
    log.write_bytes(shapes._interleaved(BuildCopies.of_log(build), build.read_bytes(), 16))
    runs = replay_file(str(log)).runs()
    assert len(runs) == 16
    assert [run_counts(run) for run in runs] == [run_counts(alone)] * 16
    assert {run.status for run in runs} == {alone.status}


def test_every_tenth_build_killed_is_incomplete_and_the_others_as_they_ran(build: Path, tmp_path: Path) -> None:
    (alone,) = replay_file(str(build)).runs()
    log = tmp_path / "killed.log"
    log.write_bytes(shapes._killed(BuildCopies.of_log(build), build.read_bytes(), 20))
    runs = replay_file(str(log)).runs()
    assert [run.status.value for run in runs] == [alone.status.value] * 9 + ["incomplete"] + [
        alone.status.value
    ] * 9 + ["incomplete"]
    assert all(run_counts(run)["tasks_total"] == run_counts(alone)["tasks_total"] for run in runs[:9])
