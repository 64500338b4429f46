"""The Prometheus alert rules and config, checked by promtool itself, and the conventions around them: every alert
with its annotations, its runbook section in the repository the project declares, a link to the generated dashboard
that shows what fired, and every alert unit-tested both firing and quiet."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_dashboards import FILES, load, panels

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules" / "luigi.rules.yml"
RULE_TESTS = PROMETHEUS / "rules" / "luigi.rules.test.yml"
README = ROOT / "deploy" / "README.md"
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


def test_the_alerts_exist_with_annotations() -> None:
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} == ALERTS
    for rule in rules:
        annotations = rule["annotations"]
        assert annotations["summary"].strip() and annotations["description"].strip(), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]


def declared_repository() -> str:
    """The repository pyproject.toml declares (`[project.urls] Repository`), read from the installed metadata."""
    entries = importlib.metadata.metadata("luigi-exporter").get_all("Project-URL") or []
    urls = dict(entry.split(", ", 1) for entry in entries)
    assert "Repository" in urls, f"no [project.urls] Repository in the installed metadata ({entries}): make venv"
    return urls["Repository"]


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower-cased, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_runbook_is_its_section_of_the_deploy_readme_in_the_declared_repository() -> None:
    """Each alert's runbook_url is deploy/README.md on the declared repository's main branch, at a heading named
    after the alert: the link resolves wherever the repository is declared to live."""
    prefix = f"{declared_repository()}/blob/main/"
    anchors = {
        github_anchor(line.lstrip("#")) for line in README.read_text().splitlines() if re.match(r"#{1,6} ", line)
    }
    for rule in alert_rules():
        url = rule["annotations"]["runbook_url"]
        assert url.startswith(prefix), (rule["alert"], url, prefix)
        path, anchor = url.removeprefix(prefix).split("#")
        assert (ROOT / path).resolve() == README, (rule["alert"], url)
        assert anchor == rule["alert"].lower() and anchor in anchors, f"deploy/README.md has no section #{anchor}"


def fired_labels() -> dict[str, set[str]]:
    """Per alert, the labels its firing alerts carry in the promtool tests (what promtool checked it renders)."""
    found: dict[str, set[str]] = {}
    for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for case in test.get("alert_rule_test", []):
            for alert in case.get("exp_alerts", []):
                found.setdefault(case["alertname"], set()).update(alert["exp_labels"])
    return found


def metrics_read(expr: str) -> set[str]:
    """The exporter's metrics (and `up`) an expression reads, through the recording rules it reads."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    records = {rule["record"]: rule["expr"] for group in groups for rule in group["rules"] if "record" in rule}
    read = set(re.findall(r"(?<![\w:])(luigi_\w+|up)(?![\w:])", expr))
    for name, recorded in records.items():
        if name in expr:
            read |= metrics_read(recorded)
    return read


def grafana_slug(title: str) -> str:
    """The slug Grafana puts in a dashboard's URL (/d/<uid>/<slug>): its title lower-cased, runs of other
    characters as one hyphen."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def test_every_alert_links_the_dashboard_that_shows_what_fired() -> None:
    """dashboard_url is a path under Grafana's root (the base URL is the receiver's; deploy/README.md says why):
    /d/<uid>/<slug> of a generated dashboard, whose queries read every metric the alert's expression reads, each
    `var-NAME` a variable of that dashboard set from the alert's own label NAME, and every label of the alert that
    is a variable there set."""
    dashboards = {dashboard["uid"]: dashboard for dashboard in map(load, FILES)}
    labels = fired_labels()
    for rule in alert_rules():
        alert, url = rule["alert"], rule["annotations"]["dashboard_url"]
        match = re.fullmatch(r"/d/([\w-]+)/([\w-]+)\?(.*)", url)
        assert match, (alert, url)
        uid, slug, query = match.groups()
        assert uid in dashboards, f"{alert}: no generated dashboard has uid {uid!r}"
        dashboard = dashboards[uid]
        assert slug == grafana_slug(dashboard["title"]), (alert, url)
        variables = {variable["name"] for variable in dashboard["templating"]["list"]}
        params = dict(pair.split("=", 1) for pair in query.split("&"))
        for key, value in params.items():
            name = key.removeprefix("var-")
            assert key.startswith("var-") and name in variables, f"{alert}: {uid} has no variable for {key}"
            assert value == f"{{{{ $labels.{name} | urlquery }}}}", (alert, key, value)
        assert {key.removeprefix("var-") for key in params} == variables & labels[alert], (alert, url)
        shown = " ".join(target["expr"] for panel in panels(dashboard) for target in panel.get("targets", []))
        read = metrics_read(rule["expr"])
        assert read and {metric for metric in read if metric not in shown} == set(), (alert, uid)


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    fires = {case["alertname"] for case in cases if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    assert fires == ALERTS
    assert quiet == ALERTS
