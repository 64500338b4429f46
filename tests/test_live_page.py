"""The live page at `/`, opened in a real headless Chromium while `watch` follows a real demo build."""

from __future__ import annotations

import json
import urllib.error
from pathlib import Path

import pytest
from browser import chromium
from conftest import ROOT, run_demo
from sidecar import Sidecar

ARTIFACTS = ROOT / "artifacts"


def test_live_page_shows_the_run_its_progress_failure_and_one_bar_per_attempt(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    sidecar = Sidecar("watch", str(runs / "*" / "log.txt"), "--state-dir", "none", log=tmp_path / "sidecar.log")
    try:
        proc = run_demo(
            runs / "PlanExe_page", "--workers", "4", "--speed", "0.02", "--ms", "--fail", "SWOTAnalysisTask"
        )
        assert proc.returncode == 1
        doc = sidecar.wait_for(lambda d: bool(d["runs"]) and d["runs"][0]["status"] == "failed")
        (run,) = doc["runs"]
        one = json.loads(sidecar.get("/api/runs/PlanExe_page"))
        assert {k: v for k, v in one.items() if k != "eta_s"} == {k: v for k, v in run.items() if k != "eta_s"}
        with pytest.raises(urllib.error.HTTPError) as missing:
            sidecar.get("/api/runs/no-such-run")
        assert missing.value.code == 404
        assert sidecar.get("/healthz") == b"ok\n"
        dom = chromium(tmp_path, "--dump-dom", sidecar.url + "/")
        ARTIFACTS.mkdir(exist_ok=True)
        chromium(tmp_path, "--window-size=1280,1600", f"--screenshot={ARTIFACTS / 'live-page.png'}", sidecar.url + "/")
    finally:
        sidecar.close()
    drawn = dom[dom.index('<main id="runs">') : dom.index("</main>")]
    assert "PlanExe_page" in drawn
    assert f"{run['tasks_completed']} of {run['tasks_total']} complete" in drawn
    assert run["tasks_total"] == 61
    assert drawn.count('class="bar result-') == sum(t["attempts"] for t in run["tasks"])
    assert drawn.count('class="bar result-failure"') == 1
    assert "Failed to run SWOTAnalysisTask with any of the LLMs" in drawn
    assert (ARTIFACTS / "live-page.png").stat().st_size > 10_000
