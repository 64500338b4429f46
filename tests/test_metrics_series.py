"""Series are bounded by the retention, not by the builds: 200 real builds read one after another, the exposition
counted along the way. Per pipeline by default; per run only under --run-metrics, for the runs it keeps; no label
holds a path or a hashed task id; the last success outlives the runs in memory and the process."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import run_demo
from prometheus_client.parser import text_string_to_metric_families

from exporter.pipeline import Pipeline
from exporter.retention import Retention
from exporter.sinks.metrics import SERIES_PER_RUN, Exposition, FamilyCollector, LuigiCollector
from exporter.sinks.store import Store
from exporter.sources.files import read_lines

BUILDS = 200
CHECKPOINTS = (20, 50, 100, 200)
RETAIN = 20
HASHED = re.compile(r"_[0-9a-f]{10}\b")  # the tail Luigi's task ids end with


def _series(metrics: Exposition) -> list[tuple[str, dict[str, str]]]:
    body, _ = metrics.render("text/plain")
    return [(s.name, s.labels) for f in text_string_to_metric_families(body.decode()) for s in f.samples]


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("build") / "PlanExe_0"
    assert run_demo(run_dir, "--speed", "0", "--ms").returncode == 0
    return run_dir / "log.txt"


@pytest.mark.parametrize("run_series", [0, 5, RETAIN])
def test_series_after_200_builds_are_bounded_by_retention(tmp_path: Path, log: Path, run_series: int) -> None:
    lines = [line for line, _ in read_lines(str(log), str(log))]
    store = Store(tmp_path / "store.sqlite")
    retention = Retention(runs=RETAIN)
    pipeline = Pipeline(store, retention=retention)
    collector = LuigiCollector(pipeline, store, retention, run_series=run_series)
    metrics = Exposition([collector], FamilyCollector(store), lambda: store.stats_version)
    counts = {}
    for build in range(1, BUILDS + 1):
        source = str(tmp_path / f"PlanExe_{build}" / "log.txt")  # a run directory per build, as PlanExe makes
        pipeline.feed(source, [line._replace(source=source) for line in lines])
        pipeline.finish(source)
        pipeline.commit()
        if build in CHECKPOINTS:
            series = _series(metrics)
            counts[build] = len(series)
            assert len(set(map(repr, series))) == len(series)
    kept = {labels["run_id"] for _, labels in _series(metrics) if "run_id" in labels}
    assert len(kept) == run_series  # the newest finished runs, no more
    baseline = counts[CHECKPOINTS[0]]
    assert set(counts.values()) == {baseline}, counts  # as many after 200 builds as after 20
    if run_series:
        without = sum(1 for name, labels in _series(metrics) if "run_id" not in labels)
        assert baseline == without + run_series * SERIES_PER_RUN
    body, _ = metrics.render("text/plain")
    values = {s.name: s.value for f in text_string_to_metric_families(body.decode()) for s in f.samples}
    assert values["luigi_pipeline_runs_total"] == BUILDS  # every build counted, from the store
    assert values["luigi_pipeline_run_duration_seconds_count"] == BUILDS
    for name, labels in _series(metrics):
        for key, value in labels.items():
            assert "/" not in value and not HASHED.search(value), (name, key, value)
    store.close()


def test_last_success_outlives_the_runs_in_memory(tmp_path: Path, log: Path) -> None:
    """luigi_pipeline_last_success_time_seconds comes from the store: after its run left memory, and in a new
    process on the same store (the next Job's sidecar on the claim)."""
    lines = [line for line, _ in read_lines(str(log), str(log))]
    store = Store(tmp_path / "store.sqlite")
    pipeline = Pipeline(store, retention=Retention(runs=0))
    pipeline.feed(str(log), lines)
    pipeline.finish(str(log))
    pipeline.commit()
    (ended,) = [d["ended_at"] for d in store.documents() if d["status"] == "succeeded"]
    store.close()
    again = Store(tmp_path / "store.sqlite")
    metrics = Exposition([LuigiCollector(Pipeline(again), again)], FamilyCollector(again), lambda: 0)
    body, _ = metrics.render("text/plain")
    success = [
        (s.labels, s.value)
        for f in text_string_to_metric_families(body.decode())
        for s in f.samples
        if s.name == "luigi_pipeline_last_success_time_seconds"
    ]
    assert success == [({"pipeline": "FullPlanPipeline"}, ended)]
    again.close()
