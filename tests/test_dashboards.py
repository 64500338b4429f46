"""The generated Grafana dashboards: committed JSON up to date, every query valid PromQL for a real Prometheus,
units on every panel, the template variables the deployment relies on, and no task total written in by hand."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from promserver import api_get, running_prometheus

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "dashboards"
FILES = ("luigi-runs.json", "luigi-run.json")

# What Grafana puts in place of the template variables before a query reaches Prometheus.
SUBSTITUTIONS = {
    "${datasource}": "prometheus",
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "6h",
    "$job": ".*",
    "$instance": ".*",
    "$pipeline": ".*",
    "$run_id": "PlanExe_demo",
}


def load(name: str) -> dict[str, Any]:
    return json.loads((DASHBOARDS / name).read_text(encoding="utf-8"))


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside collapsed rows; rows themselves excluded."""
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def queries() -> list[tuple[str, str]]:
    """(test id, PromQL) for every panel target and every query variable of both dashboards."""
    found = []
    for name in FILES:
        dashboard = load(name)
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                found.append((f"{name}:{panel['title']}:{target['refId']}", target["expr"]))
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                # Grafana's label_values(selector, label): the selector is PromQL.
                match = re.fullmatch(r"label_values\((.*), *\w+\)", variable["query"])
                assert match, f"{name}: variable {variable['name']}: unexpected query {variable['query']!r}"
                found.append((f"{name}:${variable['name']}", match.group(1)))
    return found


def substitute(expr: str) -> str:
    for variable, value in SUBSTITUTIONS.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"template variable left in {expr!r}: add it to SUBSTITUTIONS"
    return expr


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dashboards_generate", DASHBOARDS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the committed JSON is what the code generates -----------------------------------------------------------------


def test_committed_json_is_what_the_generator_writes() -> None:
    rendered = generator().rendered()
    assert sorted(rendered) == sorted(FILES)
    for name, text in rendered.items():
        assert (DASHBOARDS / name).read_text(encoding="utf-8") == text, (
            f"{name} is stale: python dashboards/generate.py"
        )


def test_check_flag_passes_on_committed_json_and_fails_on_stale(tmp_path: Path) -> None:
    script = str(DASHBOARDS / "generate.py")
    ok = subprocess.run([sys.executable, script, "--check"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    for name in FILES:
        (tmp_path / name).write_text((DASHBOARDS / name).read_text(encoding="utf-8").replace("Luigi", "Luiji", 1))
    stale = subprocess.run(
        [sys.executable, script, "--check", "--out", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert stale.returncode == 1
    assert "stale: luigi-runs.json, luigi-run.json" in stale.stderr


# --- content -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_every_panel_has_a_unit_and_uses_the_datasource_variable(name: str) -> None:
    for panel in panels(load(name)):
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{name}: panel {panel['title']!r} has no unit"
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]


@pytest.mark.parametrize("name", FILES)
def test_no_task_total_written_in(name: str) -> None:
    """61 is the demo's total; every total must come from luigi_run_tasks_scheduled, whatever the pipeline."""
    literal = re.compile(r"(?<![\w.])61(?![\w.])")
    dashboard = load(name)
    for panel in panels(dashboard):
        for target in panel["targets"]:
            assert not literal.search(target["expr"]), f"{panel['title']}: {target['expr']}"
        config = json.dumps({key: panel[key] for key in ("fieldConfig", "options", "transformations") if key in panel})
        assert not literal.search(config), f"{panel['title']}: 61 in its configuration"
    exprs = " ".join(target["expr"] for panel in panels(dashboard) for target in panel["targets"])
    for prefix in ("luigi_run", "luigi_pipeline_last_run"):
        if f"{prefix}_tasks_completed" in exprs:
            assert f"{prefix}_tasks_scheduled" in exprs


def variables(name: str) -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in load(name)["templating"]["list"]}


@pytest.mark.parametrize("name", FILES)
def test_datasource_and_pipeline_variables(name: str) -> None:
    found = variables(name)
    assert found["datasource"]["type"] == "datasource"
    assert found["datasource"]["query"] == "prometheus"
    assert found["pipeline"]["type"] == "query"
    assert found["pipeline"]["query"] == (
        'label_values(luigi_pipeline_last_run_info{job=~"$job", instance=~"$instance"}, pipeline)'
    )
    for name_ in ("job", "instance", "pipeline"):
        assert found[name_]["includeAll"] and found[name_]["allValue"] == ".*", name_
    assert found["job"]["query"] == "label_values(luigi_exporter_build_info, job)"
    assert found["instance"]["query"] == 'label_values(luigi_exporter_build_info{job=~"$job"}, instance)'


@pytest.mark.parametrize("name", FILES)
def test_every_selector_names_the_job_and_instance(name: str) -> None:
    """No job name written in: every metric selector of every panel takes the job and instance variables."""
    dashboard = load(name)
    for panel in panels(dashboard):
        for target in panel["targets"]:
            selectors = re.findall(r"\b[a-z_:]+\{([^}]*)\}", target["expr"])
            assert selectors, (panel["title"], target["expr"])
            for selector in selectors:
                assert selector.startswith('job=~"$job", instance=~"$instance"'), (panel["title"], target["expr"])


def test_overview_reads_only_the_series_served_by_default() -> None:
    """The overview works without --run-metrics: no per-run family, no run_id."""
    for panel in panels(load("luigi-runs.json")):
        for target in panel["targets"]:
            assert "luigi_run_" not in target["expr"] and "run_id" not in target["expr"], panel["title"]


def test_run_dashboard_selects_one_run() -> None:
    found = variables("luigi-run.json")
    assert found["run_id"]["query"] == (
        'label_values(luigi_run_info{job=~"$job", instance=~"$instance", pipeline=~"$pipeline"}, run_id)'
    )
    assert not found["run_id"].get("multi")
    assert "jaeger_url" in found
    exprs = [target["expr"] for panel in panels(load("luigi-run.json")) for target in panel["targets"]]
    assert sum('run_id="$run_id"' in expr for expr in exprs) >= 8


def test_run_dashboard_links_failures_to_jaeger() -> None:
    run = load("luigi-run.json")
    exemplar_exprs = [target["expr"] for panel in panels(run) for target in panel["targets"] if target.get("exemplar")]
    assert any("luigi_task_duration_seconds_bucket" in expr for expr in exemplar_exprs)
    assert any('result!="success"' in expr for expr in exemplar_exprs)
    links = json.dumps([panel["fieldConfig"] for panel in panels(run)])
    assert "${jaeger_url}/search?" in links


def test_run_dashboard_links_to_the_runs_trace() -> None:
    """The run's own trace: its trace_id (luigi_run_info) links to ${jaeger_url}/trace/<id>."""
    (panel,) = [p for p in panels(load("luigi-run.json")) if p["title"] == "Trace"]
    (target,) = panel["targets"]
    assert "trace_id" in target["expr"] and "luigi_run_info" in target["expr"] and 'run_id="$run_id"' in target["expr"]
    links = [p["value"] for o in panel["fieldConfig"]["overrides"] for p in o["properties"] if p["id"] == "links"]
    assert [link["url"] for group in links for link in group] == ["${jaeger_url}/trace/${__value.raw}"]


def test_overview_covers_runs_failures_and_exporter_health() -> None:
    exprs = " ".join(target["expr"] for panel in panels(load("luigi-runs.json")) for target in panel["targets"])
    for metric in (
        "luigi_pipeline_last_run_info",
        "luigi_pipeline_last_run_tasks_completed",
        "luigi_pipeline_last_run_tasks_scheduled",
        "luigi_pipeline_last_run_progress_ratio",
        "luigi_pipeline_tasks_running",
        "luigi_pipeline_last_run_eta_seconds",
        "luigi_pipeline_last_success_time_seconds",
        "luigi_pipeline_runs_total",
        "luigi_task_failures_total",
        "luigi_exporter_lines_total",
        "luigi_exporter_lines_unparsed_total",
        "luigi_exporter_source_lag_bytes",
        "luigi_exporter_file_rotations_total",
        "luigi_exporter_file_truncations_total",
        'up{job=~"$job"',
    ):
        assert metric in exprs, metric


# --- every query is valid PromQL, for a real Prometheus ------------------------------------------------------------


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_prometheus(tmp_path_factory.mktemp("prometheus"), []) as base_url:
        yield base_url


@pytest.mark.parametrize(("where", "expr"), queries(), ids=[where for where, _ in queries()])
def test_query_is_valid_promql(prometheus: str, where: str, expr: str) -> None:
    query = substitute(expr)
    # /api/v1/parse_query arrived in Prometheus 2.52; older ones (Debian 12 ships 2.42) parse through format_query.
    status, body = api_get(prometheus, "/api/v1/parse_query", query=query)
    if status == 404:
        status, body = api_get(prometheus, "/api/v1/format_query", query=query)
    assert status == 200 and body["status"] == "success", f"{where}: {query}\n{body.get('error')}"
    # Evaluated too, over an empty TSDB: what parses but cannot run (e.g. a range where a vector is due) fails here.
    status, body = api_get(prometheus, "/api/v1/query", query=query)
    assert status == 200 and body["status"] == "success", f"{where}: {query}\n{body.get('error')}"
