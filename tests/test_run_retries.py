"""`run --retries N`: a real demo build whose SWOTAnalysisTask fails its first attempt in the run directory. The
retry is a second build of the same command, where Luigi runs only what is incomplete; the failed attempt and the
retry show on /api/runs, on /metrics as a real Prometheus scrapes it, and in the traces a real OTLP receiver gets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from browser import chromium
from conftest import ROOT
from otlp_receiver import OtlpReceiver, ReceivedSpan
from promserver import api_get, prometheus_factory, wait_for_scrapes  # noqa: F401 (fixture)
from sidecar import free_port

from exporter.demo import truth
from exporter.ids import span_id, trace_id

FLAKY = "SWOTAnalysisTask"


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _wait(condition: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.1)
    return value


def _sample(prom: str, expr: str) -> float | None:
    status, body = api_get(prom, "/api/v1/query", query=expr)
    assert status == 200 and body["status"] == "success", body
    results = body["data"]["result"]
    return float(results[0]["value"][1]) if len(results) == 1 else None


def _span(spans: list[ReceivedSpan], run_id: str, name: str) -> ReceivedSpan | None:
    return next((s for s in spans if s.attributes.get("cicd.pipeline.run.id") == run_id and s.name == name), None)


def _hex(source: str, run_id: str, *key: object) -> tuple[str, str]:
    return f"{trace_id(source, run_id):032x}", f"{span_id(source, run_id, *key):016x}"


def test_a_flaky_task_under_retries_ends_succeeded_on_every_output(
    tmp_path: Path,
    prometheus_factory,  # noqa: F811
) -> None:
    run_dir = tmp_path / "PlanExe_flaky"
    run_dir.mkdir()
    port = free_port()
    receiver = OtlpReceiver("http").start()
    prom, _ = prometheus_factory([f"127.0.0.1:{port}"])
    demo = [sys.executable, "-m", "exporter.demo", "--run-dir", str(run_dir), "--workers", "2", "--speed", "0"]
    demo += ["--flaky", FLAKY, "--truth", str(run_dir / "truth.jsonl")]
    stderr = (tmp_path / "stderr").open("wb")  # the build's output passes through: a pipe nobody reads would fill
    sidecar = [
        sys.executable,
        "-m",
        "exporter",
        "run",
        "--run-id",
        "PlanExe_flaky",
        "--retries",
        "2",
        "--otlp",
        "--run-metrics",
        "2",
    ]
    sidecar += ["--state-dir", str(tmp_path / "state"), "--listen", f"127.0.0.1:{port}", "--linger", "60"]
    proc = subprocess.Popen(
        [*sidecar, "--", *demo],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        env={**os.environ, **receiver.env},
    )
    try:
        api = f"http://127.0.0.1:{port}/api/runs"
        doc = _wait(lambda: (d := _try(api)) and len(d["runs"]) == 2 and d["runs"][1]["status"] == "succeeded" and d)
        first, second = doc["runs"]
        assert (first["run_id"], first["status"], first["retry_of"], first["retry"]) == (
            "PlanExe_flaky",
            "failed",
            None,
            0,
        )
        assert (second["run_id"], second["retry_of"], second["retry"]) == ("PlanExe_flaky#2", "PlanExe_flaky", 1)
        (failed,) = [t for t in first["tasks"] if t["family"] == FLAKY]
        (retried,) = [t for t in second["tasks"] if t["family"] == FLAKY]
        assert [a["result"] for a in failed["attempt_history"]] == ["failure"]
        assert [a["result"] for a in retried["attempt_history"]] == ["success"]
        # Luigi's own handlers: one failure and one success of the flaky task, two builds, the second complete.
        events = truth.load(str(run_dir / "truth.jsonl"))
        flaky = [e["event"] for e in events if e.get("family") == FLAKY and e["event"] in ("FAILURE", "SUCCESS")]
        assert flaky == ["FAILURE", "SUCCESS"]
        summaries = [e for e in events if e["event"] == "SUMMARY"]
        assert len(summaries) == 2 and "failed" not in summaries[1]["categories"]
        assert second["tasks_already_done"] == len(summaries[1]["categories"]["already_done"]) == first["tasks_done"]
        assert second["tasks_done"] == len(summaries[1]["categories"]["completed"])

        # The retry's own page says what it retries.
        page = chromium(tmp_path, "--dump-dom", f"http://127.0.0.1:{port}/runs/PlanExe_flaky%232", wait=False)
        assert '<p class="meta">' in page and "retry 1 of PlanExe_flaky" in page

        # /metrics, as Prometheus scraped it.
        wait_for_scrapes(prom)
        family = f'family="{FLAKY}"'
        assert _wait(lambda: _sample(prom, f"luigi_task_retries_total{{{family}}}"), timeout=30) == 1
        assert _sample(prom, f"luigi_task_failures_total{{{family}}}") == 1
        assert _sample(prom, f'luigi_task_attempts_total{{{family},result="success"}}') == 1
        assert _sample(prom, 'luigi_run_info{run_id="PlanExe_flaky#2",status="succeeded"}') == 1
        assert _sample(prom, 'luigi_run_info{run_id="PlanExe_flaky",status="failed"}') == 1

        # The trace of the retry links to the build it retries, and its attempt to the failed one.
        spans = receiver.wait_for(lambda s: _span(s, "PlanExe_flaky#2", "RUN FullPlanPipeline") is not None)
        root = _span(spans, "PlanExe_flaky#2", "RUN FullPlanPipeline")
        assert root is not None and root.attributes["luigi.run.retry_of"] == "PlanExe_flaky"
        assert root.links == (_hex("PlanExe_flaky", "PlanExe_flaky", "run"),)
        attempt = _span(spans, "PlanExe_flaky#2", FLAKY)
        assert attempt is not None and attempt.status_code != 2
        assert attempt.links == (_hex("PlanExe_flaky", "PlanExe_flaky", failed["task_id"], 1),)
        before = _span(spans, "PlanExe_flaky", FLAKY)
        assert before is not None and (before.trace_id, before.span_id) == attempt.links[0]
        assert before.status_code == 2  # ERROR
    finally:
        proc.kill()
        proc.wait(timeout=10)
        receiver.stop()
        stderr.close()
    assert b"luigi-exporter: retry 1 of 2: PlanExe_flaky failed 1 tasks" in (tmp_path / "stderr").read_bytes()


def _try(url: str) -> dict[str, Any] | None:
    try:
        return _get(url)
    except OSError:
        return None


@pytest.mark.parametrize("retries", ["-1"])
def test_a_negative_retry_count_is_one_line(retries: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "exporter", "run", "--state-dir", "none", "--retries", retries, "--", "true"],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 64
    assert proc.stderr.decode().strip().splitlines() == [
        "luigi-exporter: --retries and --retry-delay take a number of at least 0"
    ]
