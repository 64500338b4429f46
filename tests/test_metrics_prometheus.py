"""A real Prometheus scrapes `watch` while real demo builds run: its figures equal Luigi's own, through a SIGKILL
and restart of the sidecar mid-run, and a resumed build reports its own total; with the shipped rules, the failure
alert fires and a real Alertmanager delivers it to a webhook receiver; every dashboard query returns data, under a
job name that is not the default."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from pathlib import Path
from typing import Any

from alertmanager import Webhook, running_alertmanager
from conftest import ENDED, ROOT, run_demo, start_demo
from promserver import api_get, prometheus_factory, wait_for_scrapes  # noqa: F401 (fixture)
from sidecar import Sidecar, free_port
from test_dashboards import queries, substitute
from truth import expected_states, load

RULES = ROOT / "deploy" / "prometheus" / "rules" / "luigi.rules.yml"
JOB_NAME = "pipelines"  # not the deploy files' "luigi-exporter": dashboards and alerts must not depend on it


def _query(prom: str, expr: str) -> dict[tuple[tuple[str, str], ...], float]:
    status, body = api_get(prom, "/api/v1/query", query=expr)
    assert status == 200 and body["status"] == "success", body
    return {
        tuple(sorted((k, v) for k, v in s["metric"].items() if k not in ("instance", "job"))): float(s["value"][1])
        for s in body["data"]["result"]
    }


def _value(prom: str, expr: str) -> float:
    (value,) = _query(prom, expr).values()
    return value


def _wait_value(prom: str, expr: str, timeout: float = 30) -> float:
    deadline = time.monotonic() + timeout
    while True:
        result = _query(prom, expr)
        if result:
            (value,) = result.values()
            return value
        assert time.monotonic() < deadline, f"no sample for {expr}"
        time.sleep(0.25)


def _expected(truth: Path) -> dict[str, Any]:
    events = load(str(truth))
    states = Counter(expected_states(events).values())
    return {
        "scheduled": sum(states.values()),
        "completed": states["done"] + states["already_done"],
        "already_done": states["already_done"],
        "failed": states["failed"],
        "upstream_failed": states["upstream_failed"],
        "attempts": sum(1 for e in events if e["event"] == "START"),
    }


def test_prometheus_sees_luigis_figures_through_a_restart(tmp_path: Path, prometheus_factory) -> None:  # noqa: F811
    runs, state, port = tmp_path / "runs", tmp_path / "state", free_port()
    runs.mkdir()
    run_dir = runs / "PlanExe_prom"
    args = ("watch", str(runs / "*" / "log.txt"), "--state-dir", str(state), "--run-metrics", "20")
    cleanup = contextlib.ExitStack()
    webhook = Webhook()
    cleanup.callback(webhook.close)
    alertmanager = cleanup.enter_context(running_alertmanager(tmp_path / "alertmanager", webhook))
    sidecar = Sidecar(*args, log=tmp_path / "sidecar.log", port=port)
    prom, _ = prometheus_factory(
        [f"127.0.0.1:{port}"], "1s", rule_files=[RULES], job=JOB_NAME, alertmanagers=[alertmanager]
    )
    began = time.time()
    wait_for_scrapes(prom)
    build = start_demo(
        run_dir,
        "--workers",
        "4",
        "--speed",
        "0.15",
        "--ms",
        "--fail",
        "SWOTAnalysisTask",
        "--truth",
        str(tmp_path / "first.jsonl"),
    )
    try:
        sidecar.wait_for(lambda d: bool(d["runs"]) and d["runs"][0]["tasks_done"] >= 10, timeout=60)
        time.sleep(1.5)  # let Prometheus scrape the counters before the kill
        sidecar.kill()
        sidecar = Sidecar(*args, log=tmp_path / "sidecar.log", port=port)
        assert build.wait(timeout=120) == 1
        # A resumed build in the same run directory: a second run in the same log, with its own total.
        resumed = run_demo(
            run_dir, "--speed", "0.01", "--ms", "--task", "ReviewPlanTask", "--truth", str(tmp_path / "second.jsonl")
        )
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        sidecar.wait_for(lambda d: len(d["runs"]) == 2 and all(r["status"] in ENDED for r in d["runs"]))
        first = 'run_id="PlanExe_prom"'
        second = 'run_id="PlanExe_prom#2"'
        _wait_value(prom, f'luigi_run_info{{{second},status="succeeded"}}')
        _wait_value(prom, f'luigi_run_info{{{first},status="failed"}}')
        time.sleep(1.5)  # one more scrape, so every series has its final value

        want = _expected(tmp_path / "first.jsonl")
        assert _value(prom, f"luigi_run_tasks_scheduled{{{first}}}") == want["scheduled"] == 61
        assert _value(prom, f"luigi_run_tasks_completed{{{first}}}") == want["completed"]
        assert _value(prom, f'luigi_run_tasks{{{first},state="failed"}}') == want["failed"] == 1
        assert _value(prom, f'luigi_run_tasks{{{first},state="upstream_failed"}}') == want["upstream_failed"]
        assert _value(prom, f"luigi_run_progress_ratio{{{first}}}") == round(want["completed"] / 61, 6)
        assert len(_query(prom, f"luigi_run_tasks{{{first}}}")) == 9  # one series per state, zeros included

        again = _expected(tmp_path / "second.jsonl")
        assert _value(prom, f"luigi_run_tasks_scheduled{{{second}}}") == again["scheduled"] < 61
        assert _value(prom, f'luigi_run_tasks{{{second},state="already_done"}}') == again["already_done"] > 0
        assert _value(prom, f"luigi_run_tasks_completed{{{second}}}") == again["scheduled"]

        attempts = want["attempts"] + again["attempts"]
        assert _value(prom, "sum(luigi_task_duration_seconds_count)") == attempts
        assert _value(prom, "sum(luigi_task_attempts_total)") == attempts
        assert _value(prom, 'sum(luigi_task_failures_total{family="SWOTAnalysisTask"})') == 1
        # Counters came back from the store after the SIGKILL: rate() never saw a reset.
        assert _value(prom, "sum(resets(luigi_task_attempts_total[10m]))") == 0
        assert _value(prom, "sum(resets(luigi_task_duration_seconds_count[10m]))") == 0

        # Per pipeline (always served): each pipeline's latest run (the resumed build's root task is its own
        # pipeline), its runs counted and its last success, from the store.
        first_pipeline = 'pipeline="FullPlanPipeline"'
        (labels,) = _query(prom, f"luigi_run_info{{{second}}}")
        second_pipeline = f'pipeline="{dict(labels)["pipeline"]}"'
        assert second_pipeline != first_pipeline
        assert _value(prom, f"luigi_pipeline_last_run_tasks_scheduled{{{first_pipeline}}}") == want["scheduled"]
        assert _value(prom, f"luigi_pipeline_last_run_tasks_scheduled{{{second_pipeline}}}") == again["scheduled"]
        assert _value(prom, f'luigi_pipeline_last_run_info{{{first_pipeline},status="failed"}}') == 1
        assert _value(prom, f'luigi_pipeline_last_run_info{{{second_pipeline},status="succeeded"}}') == 1
        assert _value(prom, f'luigi_pipeline_runs_total{{{first_pipeline},status="failed"}}') == 1
        assert _value(prom, f'luigi_pipeline_runs_total{{{second_pipeline},status="succeeded"}}') == 1
        second_end = _value(prom, f"luigi_run_end_time_seconds{{{second}}}")
        assert _value(prom, f"luigi_pipeline_last_success_time_seconds{{{second_pipeline}}}") == second_end
        assert not _query(prom, f"luigi_pipeline_last_success_time_seconds{{{first_pipeline}}}")
        assert _value(prom, "luigi_exporter_file_rotations_total") == 0
        assert _value(prom, "luigi_exporter_file_truncations_total") == 0

        status, body = api_get(
            prom,
            "/api/v1/query_exemplars",
            query="luigi_task_duration_seconds_bucket",
            start=str(time.time() - 600),
            end=str(time.time()),
        )
        assert status == 200 and body["data"], body
        trace_ids = {e["labels"]["trace_id"] for series in body["data"] for e in series["exemplars"]}
        assert trace_ids and all(len(t) == 32 for t in trace_ids)
        openmetrics = sidecar.get("/metrics", accept="application/openmetrics-text; version=1.0.0").decode()
        assert '# {trace_id="' in openmetrics and openmetrics.rstrip().endswith("# EOF")

        # Every query of every dashboard panel, variables substituted, returns data from these real builds. A query
        # over samples still arriving (increase() needs two after the second run; a loaded machine scrapes late) is
        # asked again for up to 15 s: one that never returns data fails.
        empty = []
        for where, expr in queries():
            query = substitute(expr.replace("$run_id", "PlanExe_prom").replace("$job", JOB_NAME))
            deadline = time.monotonic() + 15
            while True:
                status, body = api_get(
                    prom, "/api/v1/query_range", query=query, start=str(began), end=str(time.time()), step="1"
                )
                assert status == 200 and body["status"] == "success", (where, query, body)
                if body["data"]["result"] or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            if not body["data"]["result"]:
                empty.append(where)
        assert empty == []

        # The shipped failure alert fired, and Alertmanager delivered it to the webhook receiver.
        alert = webhook.wait_for(
            lambda a: a["labels"]["alertname"] == "LuigiTaskFailed" and a["status"] == "firing", timeout=90
        )
        assert alert["labels"] == {
            "alertname": "LuigiTaskFailed",
            "family": "SWOTAnalysisTask",
            "pipeline": "FullPlanPipeline",
            "severity": "warning",
        }
        assert alert["annotations"]["summary"] == "Luigi task SWOTAnalysisTask failed in pipeline FullPlanPipeline"
        assert alert["annotations"]["dashboard_url"] == "/d/luigi-run/luigi-run?var-pipeline=FullPlanPipeline"
        _, body = api_get(prom, "/api/v1/alerts")
        firing = {a["labels"]["alertname"] for a in body["data"]["alerts"] if a["state"] == "firing"}
        assert "LuigiTaskFailed" in firing and "LuigiExporterDown" not in firing
    finally:
        build.kill()
        sidecar.close()
        cleanup.close()
