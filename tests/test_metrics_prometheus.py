"""A real Prometheus scrapes `watch` while real demo builds run: its figures equal Luigi's own, through a SIGKILL
and restart of the sidecar mid-run, and a resumed build reports its own total."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from conftest import ENDED, run_demo, start_demo
from promserver import api_get, prometheus_factory, wait_for_scrapes  # noqa: F401 (fixture)
from sidecar import Sidecar, free_port
from test_dashboards import queries, substitute
from truth import expected_states, load


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
    args = ("watch", str(runs / "*" / "log.txt"), "--state-dir", str(state))
    sidecar = Sidecar(*args, log=tmp_path / "sidecar.log", port=port)
    prom, _ = prometheus_factory([f"127.0.0.1:{port}"], "1s")
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

        # Every query of every dashboard panel, variables substituted, returns data from these real builds.
        empty = []
        for where, expr in queries():
            query = substitute(expr.replace("$run_id", "PlanExe_prom"))
            status, body = api_get(
                prom, "/api/v1/query_range", query=query, start=str(began), end=str(time.time()), step="1"
            )
            assert status == 200 and body["status"] == "success", (where, query, body)
            if not body["data"]["result"]:
                empty.append(where)
        assert empty == []
    finally:
        build.kill()
        sidecar.close()
