"""The Collector on a real demo log fed part by part: current tasks, ETA, retention, zero series."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import run_demo
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from exporter.eta import eta_seconds
from exporter.lines import Line
from exporter.pipeline import Pipeline
from exporter.retention import Retention
from exporter.sinks.metrics import Exposition, FamilyCollector, LuigiCollector
from exporter.sinks.store import Store
from exporter.sources.files import read_lines


def _samples(registry: CollectorRegistry) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def _lines(log: Path) -> list[Line]:
    return [line for line, _ in read_lines(str(log), str(log))]


def test_mid_run_current_tasks_and_eta_then_retention(tmp_path: Path) -> None:
    assert run_demo(tmp_path / "PlanExe_0", "--speed", "0.02", "--ms").returncode == 0
    logs = [tmp_path / "PlanExe_0" / "log.txt"]
    for i in (1, 2):  # the same real build, as three runs in three run directories
        (tmp_path / f"PlanExe_{i}").mkdir()
        logs.append(tmp_path / f"PlanExe_{i}" / "log.txt")
        shutil.copyfile(logs[0], logs[-1])
    store = Store(None)
    pipeline = Pipeline(store)
    registry = CollectorRegistry(auto_describe=False)

    # Two finished builds give the store its usual durations; the third is fed half way.
    for log in logs[:2]:
        pipeline.feed(str(log), _lines(log))
        pipeline.commit()
    third = _lines(logs[2])
    cut = next(i for i, line in enumerate(third) if "running   SWOTAnalysisTask" in line.text) + 1
    pipeline.feed(str(logs[2]), third[:cut])
    pipeline.commit()
    (run,) = [r for r in pipeline.runs() if r.run_id == "PlanExe_2"]
    now = max(a.started_at for t in run.tasks.values() for a in t.attempts if a.started_at) + 0.01
    registry.register(LuigiCollector(pipeline, store, Retention(runs=1), clock=lambda: now, run_series=1))
    registry.register(FamilyCollector(store))
    samples = _samples(registry)

    current = [labels for labels, _ in samples["luigi_run_tasks_running"] if labels["run_id"] == "PlanExe_2"]
    assert "SWOTAnalysisTask" in {labels["family"] for labels in current}
    running = {labels["family"]: n for labels, n in samples["luigi_pipeline_tasks_running"]}
    assert running == {labels["family"]: n for labels, n in samples["luigi_run_tasks_running"]}
    etas = {labels["run_id"]: value for labels, value in samples["luigi_run_eta_seconds"]}
    assert set(etas) == {"PlanExe_2"} and etas["PlanExe_2"] > 0  # only the running build has an ETA
    # from the earlier builds' durations of each family left, not from this build's own pace
    usual = store.usual_durations(run.pipeline or "")
    assert etas["PlanExe_2"] == eta_seconds(run, usual, now) != eta_seconds(run, {}, now)
    # Retention 1: of the two finished builds only the newest stays; the running one always does.
    assert {labels["run_id"] for labels, _ in samples["luigi_run_info"]} == {"PlanExe_1", "PlanExe_2"}
    states = [labels["state"] for labels, _ in samples["luigi_run_tasks"] if labels["run_id"] == "PlanExe_2"]
    assert len(states) == 9  # every state, zeros included
    retries = {labels["family"]: value for labels, value in samples["luigi_task_retries_total"]}
    assert retries["SWOTAnalysisTask"] == 0.0  # a family without retries still has its series
    store.close()


def test_expected_tasks_is_the_total_only_until_scheduling_is_done(tmp_path: Path) -> None:
    run_dir = tmp_path / "PlanExe_expected"
    assert run_demo(run_dir, "--speed", "0.01", "--task", "SetupTask").returncode == 0
    lines = _lines(run_dir / "log.txt")
    pipeline = Pipeline(expected_tasks=61)
    first_informed = next(i for i, line in enumerate(lines) if "Informed scheduler" in line.text) + 1
    pipeline.feed("log", lines[:first_informed])
    (run,) = pipeline.runs()
    assert run.tasks_total == 61  # scheduling under way: the expected total shows
    pipeline.feed("log", lines[first_informed:])
    assert run.summary is not None
    assert run.tasks_total == run.summary.scheduled < 61  # then what was really scheduled


def test_exposition_renders_family_series_again_only_when_they_change(tmp_path: Path) -> None:
    """The cached per-family part follows every change of the store's counters, in both formats, and the joined
    body is one valid exposition (a single OpenMetrics `# EOF`, each metric family once)."""
    assert run_demo(tmp_path / "PlanExe", "--speed", "0", "--ms").returncode == 0
    lines = _lines(tmp_path / "PlanExe" / "log.txt")
    store = Store(None)
    pipeline = Pipeline(store)
    metrics = Exposition([LuigiCollector(pipeline, store)], FamilyCollector(store), lambda: store.stats_version)
    half = next(i for i, line in enumerate(lines) if "done      SWOTAnalysisTask" in line.text)
    pipeline.feed("log", lines[:half])
    pipeline.commit()

    def attempts(accept: str) -> float:
        body, content_type = metrics.render(accept)
        if "openmetrics" in content_type:
            assert body.count(b"# EOF\n") == 1 and body.endswith(b"# EOF\n")
            families = list(openmetrics_families(body.decode()))
        else:
            families = list(text_string_to_metric_families(body.decode()))
        names = [family.name for family in families]
        assert len(names) == len(set(names)) and "luigi_pipeline_last_run_tasks" in names
        return sum(s.value for f in families for s in f.samples if s.name == "luigi_task_attempts_total")

    for accept in ("application/openmetrics-text; version=1.0.0", "text/plain"):
        before = attempts(accept)
        assert attempts(accept) == before  # from the cache: nothing changed
    version = store.stats_version
    pipeline.feed("log", lines[half:])
    pipeline.commit()
    assert store.stats_version != version
    for accept in ("application/openmetrics-text; version=1.0.0", "text/plain"):
        assert attempts(accept) > before  # rendered again: the rest of the build's attempts are counted
    assert attempts("text/plain") == len(
        [a for run in pipeline.runs() for t in run.tasks.values() for a in t.attempts if a.result.value != "running"]
    )


def test_usual_durations_follow_the_counters(tmp_path: Path) -> None:
    """Cached between changes of the store's counters (every scrape asks per run), never stale: after a second build
    they are what a store reading the same rows anew gives."""
    logs = []
    for name, speed in (("PlanExe_a", "0.01"), ("PlanExe_b", "0.03")):
        assert run_demo(tmp_path / name, "--speed", speed, "--seed", "7").returncode == 0
        logs.append(tmp_path / name / "log.txt")
    store = Store(tmp_path / "store.sqlite")
    pipeline = Pipeline(store)
    pipeline.feed(str(logs[0]), _lines(logs[0]))
    pipeline.commit()
    name = pipeline.runs()[0].pipeline or ""
    first = dict(store.usual_durations(name))
    assert first and store.usual_durations(name) == first
    pipeline.feed(str(logs[1]), _lines(logs[1]))
    pipeline.commit()
    again = Store(tmp_path / "store.sqlite")
    assert store.usual_durations(name) == again.usual_durations(name) != first
    again.close()
    store.close()


def test_version_is_the_one_build_info_reports() -> None:
    """`--version` and luigi_exporter_build_info say the same version, the installed distribution's."""
    proc = subprocess.run(
        [sys.executable, "-m", "exporter", "--version"], capture_output=True, text=True, timeout=30, check=True
    )
    assert proc.stdout == f"luigi-exporter {importlib.metadata.version('luigi-exporter')}\n"
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LuigiCollector(Pipeline(), Store(None)))
    ((labels, _),) = _samples(registry)["luigi_exporter_build_info"]
    assert proc.stdout == f"luigi-exporter {labels['version']}\n"
