"""The Prometheus alert rules and config, checked by promtool itself, and the conventions around them: every alert
with its annotations and runbook section, every alert unit-tested both firing and quiet."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules" / "luigi.rules.yml"
RULE_TESTS = PROMETHEUS / "rules" / "luigi.rules.test.yml"
README = ROOT / "deploy" / "README.md"
RUNBOOK = "https://github.com/luigi-exporter/luigi-exporter/blob/main/deploy/README.md#"
ALERTS = {
    "LuigiTaskFailed",
    "LuigiRunStalled",
    "LuigiRunSlow",
    "LuigiRunIncomplete",
    "LuigiPipelineNoRecentSuccess",
    "LuigiExporterDown",
    "LuigiExporterUnparsedLines",
    "LuigiExporterSourceLag",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run promtool (Debian package `prometheus`); fails, never skips, when it is missing."""
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("`promtool` not found on PATH: install it (apt-get install -y prometheus)", pytrace=False)
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, cwd=ROOT)


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules() -> None:
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_check_config() -> None:
    result = promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    # The glob must pick up the rules and not their unit tests.
    assert "1 rule files found" in result.stdout


def test_scrape_job_is_luigi_exporter() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert [job["job_name"] for job in config["scrape_configs"]] == ["luigi-exporter"]


def test_alerts_wait_and_select_no_job_name() -> None:
    """Every alert has a `for:` (one odd evaluation pages nobody) and names no scrape job: the rules work whatever
    the job is called, and for a Job's pods that come and go as for a Deployment's."""
    for rule in alert_rules():
        assert rule.get("for"), rule["alert"]
        assert "job=" not in rule["expr"], rule["alert"]


def test_the_alerts_exist_with_annotations_and_runbook() -> None:
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} == ALERTS
    for rule in rules:
        annotations = rule["annotations"]
        assert annotations["summary"].strip() and annotations["description"].strip(), rule["alert"]
        assert annotations["runbook_url"] == RUNBOOK + rule["alert"].lower(), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]


def test_readme_has_a_runbook_section_per_alert() -> None:
    """The runbook_url anchors resolve: GitHub's anchor of a heading is its lower-cased text."""
    headings = {
        line.lstrip("#").strip().lower() for line in README.read_text().splitlines() if re.match(r"#{2,4} ", line)
    }
    missing = {alert for alert in ALERTS if alert.lower() not in headings}
    assert not missing, f"deploy/README.md lacks runbook sections for {sorted(missing)}"


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    fires = {case["alertname"] for case in cases if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    assert fires == ALERTS
    assert quiet == ALERTS
