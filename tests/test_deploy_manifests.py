"""Deployment files: Kubernetes manifests against the Kubernetes schemas (kubernetes-validate, offline, strict), the
Prometheus Operator resources against a schema of the fields we use, compose.yaml against the Compose spec
(check-jsonschema's vendored copy, offline), and the wiring between them (labels, ports, probes, rules)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from sidecar import free_port

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
# 1.30: the oldest release with both native sidecars and the preStop sleep action on by default; and the newest
# schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
OPERATOR_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}


def documents() -> list[tuple[str, dict[str, Any]]]:
    """(file name, document) for every YAML document under deploy/kubernetes."""
    found = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found.append((path.name, doc))
    return found


def by_kind(kind: str) -> dict[str, Any]:
    matches = [doc for _, doc in documents() if doc["kind"] == kind]
    assert len(matches) == 1, f"expected one {kind}, found {len(matches)}"
    return matches[0]


# --- schemas -------------------------------------------------------------------------------------------------------

# kubernetes-validate has no schemas for custom resources. These follow the Prometheus Operator CRDs
# (monitoring.coreos.com/v1) for the fields these manifests use, closed to anything else so that a misspelt
# field fails here rather than being dropped by the API server.
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_SELECTOR = {
    "type": "object",
    "properties": {"matchLabels": _STRING_MAP, "matchExpressions": {"type": "array"}},
    "additionalProperties": False,
}
_DURATION = {
    "type": "string",
    "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",
}
_ENDPOINT = {
    "type": "object",
    "properties": {
        "port": {"type": "string"},
        "path": {"type": "string", "pattern": "^/"},
        "scheme": {"enum": ["http", "https"]},
        "interval": _DURATION,
        "scrapeTimeout": _DURATION,
        "honorLabels": {"type": "boolean"},
        "honorTimestamps": {"type": "boolean"},
        "relabelings": {"type": "array"},
        "metricRelabelings": {"type": "array"},
    },
    "required": ["port"],
    "additionalProperties": False,
}
_METADATA = {
    "type": "object",
    "properties": {"name": {"type": "string", "minLength": 1}, "namespace": {"type": "string"}, "labels": _STRING_MAP},
    "required": ["name"],
    "additionalProperties": False,
}


def _resource(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": kind},
            "metadata": _METADATA,
            "spec": spec,
        },
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
    }


_RULE = {
    "type": "object",
    "properties": {
        "record": {"type": "string"},
        "alert": {"type": "string"},
        "expr": {"type": "string", "minLength": 1},
        "for": _DURATION,
        "keep_firing_for": _DURATION,
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
    },
    "required": ["expr"],
    "oneOf": [{"required": ["record"]}, {"required": ["alert"]}],
    "additionalProperties": False,
}
OPERATOR_SCHEMAS = {
    "ServiceMonitor": _resource(
        "ServiceMonitor",
        {
            "type": "object",
            "properties": {
                "jobLabel": {"type": "string"},
                "selector": _SELECTOR,
                "namespaceSelector": {"type": "object"},
                "endpoints": {"type": "array", "items": _ENDPOINT, "minItems": 1},
            },
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
        },
    ),
    "PodMonitor": _resource(
        "PodMonitor",
        {
            "type": "object",
            "properties": {
                "jobLabel": {"type": "string"},
                "selector": _SELECTOR,
                "namespaceSelector": {"type": "object"},
                "podMetricsEndpoints": {"type": "array", "items": _ENDPOINT, "minItems": 1},
            },
            "required": ["selector", "podMetricsEndpoints"],
            "additionalProperties": False,
        },
    ),
    "PrometheusRule": _resource(
        "PrometheusRule",
        {
            "type": "object",
            "properties": {
                "groups": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "interval": _DURATION,
                            "rules": {"type": "array", "items": _RULE, "minItems": 1},
                        },
                        "required": ["name", "rules"],
                        "additionalProperties": False,
                    },
                }
            },
            "required": ["groups"],
            "additionalProperties": False,
        },
    ),
}


@pytest.mark.parametrize(("name", "doc"), documents(), ids=[f"{name}:{doc['kind']}" for name, doc in documents()])
def test_manifest_is_valid(name: str, doc: dict[str, Any]) -> None:
    if doc["kind"] == "Kustomization":
        return  # a kustomize file, not an API object: checked by test_kustomization_lists_the_manifests
    if doc["kind"] in OPERATOR_KINDS:
        jsonschema.validate(doc, OPERATOR_SCHEMAS[doc["kind"]])
        return
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{name}: {doc['kind']} invalid for Kubernetes {version}: {err.message} at {list(err.path)}")


def test_kustomization_lists_the_manifests() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    listed = set(kustomization["resources"])
    for resource in listed:
        assert (KUBERNETES / resource).is_file(), f"kustomization lists missing {resource}"
    # Every manifest is in, except the alternatives: the PodMonitor to the ServiceMonitor, the Deployment to the Job.
    present = {path.name for path in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present - {"podmonitor.yaml", "deployment.yaml"}


def test_sidecar_wiring() -> None:
    """The Service and the monitors reach the exporter's named port on the pods, which probe /healthz."""
    job, service = by_kind("Job"), by_kind("Service")
    pod = job["spec"]["template"]
    pod_labels = pod["metadata"]["labels"]
    sidecars = [c for c in pod["spec"].get("initContainers", []) if c.get("restartPolicy") == "Always"]
    assert [c["name"] for c in sidecars] == ["luigi-exporter"]
    exporter = sidecars[0]
    assert {"name": "metrics", "containerPort": 9588} in exporter["ports"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert exporter[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}, probe
    assert exporter["args"][:2] == ["watch", "/runs/*/log.txt"]
    # The pipeline and the exporter share the run directory.
    (pipeline,) = pod["spec"]["containers"]
    runs = {m["name"]: m["mountPath"] for m in pipeline["volumeMounts"]}
    assert {m["name"]: m["mountPath"] for m in exporter["volumeMounts"]}["runs"] == runs["runs"] == "/runs"
    assert {"name": "runs", "emptyDir": {}} in pod["spec"]["volumes"]

    assert service["metadata"]["name"] == "luigi-exporter"  # the operator's job label for ServiceMonitor targets
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert {"name": "metrics", "port": 9588, "targetPort": "metrics", "protocol": "TCP"} in service["spec"]["ports"]

    service_monitor = by_kind("ServiceMonitor")
    assert service_monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [e["port"] for e in service_monitor["spec"]["endpoints"]] == ["metrics"]

    pod_monitor = by_kind("PodMonitor")
    assert pod_monitor["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pod_labels[pod_monitor["spec"]["jobLabel"]] == "luigi-exporter"
    assert [e["port"] for e in pod_monitor["spec"]["podMetricsEndpoints"]] == ["metrics"]


def _pod(kind: str) -> dict[str, Any]:
    return by_kind(kind)["spec"]["template"]


def test_the_store_is_on_a_claim_in_both_examples() -> None:
    """The exporter's store outlives the pod (per-family counters, ETA history, last success): a claim, never an
    emptyDir; and the Deployment's run directories too, since the host keeps its plans across restarts."""
    claims = {doc["metadata"]["name"]: doc for _, doc in documents() if doc["kind"] == "PersistentVolumeClaim"}
    for kind in ("Job", "Deployment"):
        pod = _pod(kind)
        (exporter,) = [c for c in pod["spec"]["initContainers"] if c["name"] == "luigi-exporter"]
        assert exporter["args"][exporter["args"].index("--state-dir") + 1] == "/state"
        mounts = {m["name"]: m["mountPath"] for m in exporter["volumeMounts"]}
        (state,) = [
            v for v in pod["spec"]["volumes"] if v["name"] == next(k for k, p in mounts.items() if p == "/state")
        ]
        claim = state["persistentVolumeClaim"]["claimName"]
        assert claims[claim]["spec"]["accessModes"] == ["ReadWriteOnce"], kind
    deployment = by_kind("Deployment")
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    runs = next(v for v in _pod("Deployment")["spec"]["volumes"] if v["name"] == "runs")
    assert runs["persistentVolumeClaim"]["claimName"] in claims


def test_deployment_is_wired_as_the_job() -> None:
    """The same sidecar (probes, port, mounts) and labels: the Service and both monitors reach the host's pods."""
    job, deployment = _pod("Job"), _pod("Deployment")
    assert deployment["metadata"]["labels"].items() >= by_kind("Deployment")["spec"]["selector"]["matchLabels"].items()
    sidecars = [
        [c for c in pod["spec"]["initContainers"] if c.get("restartPolicy") == "Always"] for pod in (job, deployment)
    ]
    assert [[c["name"] for c in s] for s in sidecars] == [["luigi-exporter"], ["luigi-exporter"]]
    job_sidecar, host_sidecar = (dict(s[0]) for s in sidecars)
    for sidecar in (job_sidecar, host_sidecar):
        sidecar["startupProbe"] = {k: v for k, v in sidecar["startupProbe"].items() if k != "failureThreshold"}
    for key in ("ports", "startupProbe", "readinessProbe", "livenessProbe", "volumeMounts", "securityContext"):
        assert job_sidecar[key] == host_sidecar[key], key
    assert by_kind("Service")["spec"]["selector"].items() <= deployment["metadata"]["labels"].items()
    assert by_kind("PodMonitor")["spec"]["selector"]["matchLabels"].items() <= deployment["metadata"]["labels"].items()
    assert deployment["metadata"]["labels"]["luigi-exporter/job"] == "luigi-exporter"


def test_prometheusrule_carries_the_rules_file() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules" / "luigi.rules.yml").read_text())
    assert by_kind("PrometheusRule")["spec"] == rules, (
        "deploy/kubernetes/prometheusrule.yaml spec differs from deploy/prometheus/rules/luigi.rules.yml: copy the "
        "groups over"
    )


# --- compose -------------------------------------------------------------------------------------------------------


def test_compose_file_matches_the_compose_spec() -> None:
    """check-jsonschema's builtin vendor.compose-spec is a copy inside the package: no network involved."""
    # The venv's own copy first: the venv's bin directory need not be on PATH.
    binary = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or shutil.which("check-jsonschema")
    if binary is None:
        pytest.fail("check-jsonschema not found: pip install check-jsonschema", pytrace=False)
    result = subprocess.run(
        [binary, "--builtin-schema", "vendor.compose-spec", str(DEPLOY / "compose.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_services() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"demo", "sidecar", "prometheus", "alertmanager", "alert-receiver", "grafana", "jaeger"}
    sidecar, demo = services["sidecar"], services["demo"]
    assert sidecar["command"][:6] == ["watch", "/runs/*/log.txt", "--listen", "0.0.0.0:9588", "--state-dir", "/state"]
    assert sidecar["command"][6:8] == ["--run-metrics", "20"]
    assert sidecar["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4317"
    assert demo["entrypoint"] + demo["command"] == [
        "python",
        "-m",
        "exporter.demo",
        "--run-dir",
        "/runs/PlanExe_demo",
        "--workers",
        "4",
        "--fail",
        "SWOTAnalysisTask",
    ]
    assert "runs:/runs" in demo["volumes"] and "runs:/runs:ro" in sidecar["volumes"]
    assert sidecar["build"]["dockerfile"] == "deploy/Dockerfile"
    # Published on loopback only.
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    # The mounted paths exist.
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), source


def test_compose_alerting_and_health() -> None:
    """Prometheus sends to the Alertmanager service, which sends to the webhook receiver service; every service that
    keeps running has a healthcheck, and what depends on it waits for it healthy; Jaeger is v2."""
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (alertmanagers,) = prometheus["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"] == [{"targets": ["alertmanager:9093"]}]
    alertmanager = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    urls = [w["url"] for r in alertmanager["receivers"] for w in r.get("webhook_configs", [])]
    assert urls == ["http://alert-receiver:9095/alerts"]
    assert services["alert-receiver"]["command"][-1] == "9095"
    assert (
        "./alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro" in services["alertmanager"]["volumes"]
    )
    for name, service in services.items():
        if name != "demo":  # the build runs once and exits
            assert service["healthcheck"]["test"][0] == "CMD", name
        for dependency, condition in service.get("depends_on", {}).items():
            if "healthcheck" in services[dependency]:
                assert condition == {"condition": "service_healthy"}, (name, dependency)
    assert services["jaeger"]["image"].startswith("jaegertracing/jaeger:2.")


def test_alertmanager_config_is_valid() -> None:
    """amtool (Debian package `prometheus-alertmanager`) checks the routes, receivers and inhibitions."""
    binary = shutil.which("amtool")
    if binary is None:
        pytest.fail("`amtool` not found: apt-get install -y prometheus-alertmanager", pytrace=False)
    config = str(DEPLOY / "alertmanager" / "alertmanager.yml")
    result = subprocess.run([binary, "check-config", config], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_demo_receiver_prints_each_alert_with_its_dashboard_link() -> None:
    """deploy/alertmanager/receiver.py, run as compose runs it (GRAFANA_URL from compose.yaml), prints a posted
    notification's alert with the dashboard link made whole: Grafana's address before the alert's path."""
    grafana = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]["alert-receiver"]["environment"]
    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, str(DEPLOY / "alertmanager" / "receiver.py"), str(port), "127.0.0.1"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **grafana},
    )
    alert = {
        "status": "firing",
        "labels": {"alertname": "LuigiTaskFailed", "pipeline": "planexe", "family": "SWOTAnalysisTask"},
        "annotations": {"summary": "Luigi task SWOTAnalysisTask failed", "dashboard_url": "/d/luigi-run/luigi-run?x=1"},
    }
    body = json.dumps({"version": "4", "status": "firing", "alerts": [alert]}).encode()
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/alerts", data=body, timeout=2).close()
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline and receiver.poll() is None, "receiver.py did not listen"
                time.sleep(0.1)
        assert receiver.stdout is not None
        assert receiver.stdout.readline() == (
            "firing alertname=LuigiTaskFailed,family=SWOTAnalysisTask,pipeline=planexe Luigi task SWOTAnalysisTask "
            f"failed {grafana['GRAFANA_URL']}/d/luigi-run/luigi-run?x=1\n"
        )
    finally:
        receiver.kill()
        receiver.wait(timeout=10)


def test_grafana_provisioning() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "datasources.yml").read_text())["datasources"]
    by_type = {source["type"]: source for source in datasources}
    jaeger_uid = by_type["jaeger"]["uid"]
    destinations = by_type["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert {"name": "trace_id", "datasourceUid": jaeger_uid} in [
        {key: d[key] for key in ("name", "datasourceUid") if key in d} for d in destinations
    ]
    # `$` is an environment variable in provisioning files: the data-link variable must be escaped as `$$`.
    for destination in destinations:
        if "url" in destination:
            assert "$${__value.raw}" in destination["url"]
    providers = yaml.safe_load((provisioning / "dashboards" / "dashboards.yml").read_text())["providers"]
    assert [p["options"]["path"] for p in providers] == ["/var/lib/grafana/dashboards"]
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert "../dashboards:/var/lib/grafana/dashboards:ro" in compose["services"]["grafana"]["volumes"]


def test_dockerfile() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    instructions = [line for line in dockerfile.splitlines() if line and not line.startswith("#")]
    assert instructions[0] == "FROM python:3.12-slim"
    assert "EXPOSE 9588" in instructions
    assert 'ENTRYPOINT ["luigi-exporter"]' in instructions
    user = [line for line in instructions if line.startswith("USER ")]
    assert user and not user[-1].split()[1].startswith(("root", "0")), "the image must not run as root"
