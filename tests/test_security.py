"""TLS and basic auth from an exporter-toolkit web-config (a real Prometheus scrapes through them), credentials
redacted everywhere the sidecar shows or stores them, and log markup escaped on the live page."""

from __future__ import annotations

import base64
import sqlite3
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest
from browser import chromium
from conftest import run_pipeline
from luigi.task import task_id_str
from promserver import api_get, prometheus_factory, wait_for_scrapes  # noqa: F401 (fixture)
from sidecar import Sidecar, free_port

from exporter.redact import REDACTED, Redactor

API_KEY = "sk-live-4f9a2b7c1d"
PASSWORD = "hunter2pass"
MARKUP = "<script>alert('pwned')</script>"


def _certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def _get(url: str, context: ssl.SSLContext, auth: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), context=context, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, b""


@pytest.fixture
def secrets_log(tmp_path: Path) -> Path:
    log, _, code = run_pipeline("secrets", tmp_path)
    assert code == 1
    assert API_KEY in log.read_text() and PASSWORD in log.read_text()  # the raw log does hold them
    return log


def test_tls_and_basic_auth_with_a_real_prometheus_scraping(
    tmp_path: Path,
    secrets_log: Path,
    prometheus_factory,  # noqa: F811
) -> None:
    cert, key = _certificate(tmp_path)
    hashed = bcrypt.hashpw(b"scrape-me", bcrypt.gensalt(rounds=4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(
        f"tls_server_config:\n  cert_file: {cert.name}\n  key_file: {key.name}\n"
        f"basic_auth_users:\n  prometheus: {hashed}\n"
    )
    port = free_port()
    sidecar = Sidecar(
        "watch",
        str(secrets_log),
        "--state-dir",
        str(tmp_path / "state"),
        "--web.config.file",
        str(web),
        log=tmp_path / "sidecar.log",
        port=port,
    )
    try:
        assert sidecar.url.startswith("https://")
        trusted = ssl.create_default_context(cafile=str(cert))
        assert _get(sidecar.url + "/metrics", trusted)[0] == 401
        assert _get(sidecar.url + "/api/runs", trusted, "prometheus:wrong")[0] == 401
        assert _get(sidecar.url + "/healthz", trusted)[0] == 200
        status, body = _get(sidecar.url + "/metrics", trusted, "prometheus:scrape-me")
        assert status == 200 and b"luigi_run_tasks_scheduled" in body
        with pytest.raises((urllib.error.URLError, ConnectionError)):  # plain HTTP gets no answer
            urllib.request.urlopen(sidecar.url.replace("https", "http") + "/metrics", timeout=5)

        # An unchanged Prometheus scrape config for a secured exporter: scheme, tls_config, basic_auth.
        prom, _ = prometheus_factory(
            [f"127.0.0.1:{port}"],
            "1s",
            scrape_options={
                "scheme": "https",
                "tls_config": {"ca_file": str(cert)},
                "basic_auth": {"username": "prometheus", "password": "scrape-me"},
            },
        )
        (target,) = wait_for_scrapes(prom)
        assert target["health"] == "up", target["lastError"]
        _, result = api_get(prom, "/api/v1/query", query="luigi_run_tasks_scheduled")
        assert [float(s["value"][1]) for s in result["data"]["result"]] == [2.0]
    finally:
        sidecar.close()


def test_credentials_are_redacted_everywhere(tmp_path: Path, secrets_log: Path) -> None:
    state = tmp_path / "state"
    sidecar = Sidecar("watch", str(secrets_log), "--state-dir", str(state), log=tmp_path / "sidecar.log")
    try:
        doc = sidecar.wait_for(lambda d: bool(d["runs"]) and d["runs"][0]["status"] == "failed")
        api, metrics = sidecar.get("/api/runs"), sidecar.get("/metrics")
        page = sidecar.get("/")
    finally:
        sidecar.stop()
        sidecar.close()
    (fetch,) = [t for t in doc["runs"][0]["tasks"] if t["family"] == "Fetch"]
    assert fetch["params"]["api_key"] == "REDACTED"
    assert fetch["params"]["db_url"] == "postgresql://admin:REDACTED@db.internal:5432/plans"
    assert "REDACTED" in fetch["task_id"] and "sk_live" not in fetch["task_id"]
    assert "admin:REDACTED@db.internal" in fetch["error"]
    stored = b"".join(
        str(row).encode()
        for table in ("runs", "tasks", "task_events")
        for row in sqlite3.connect(state / "luigi-exporter.sqlite").execute(f"SELECT * FROM {table}")
    )
    for blob in (api, metrics, page, stored, (tmp_path / "sidecar.log").read_bytes()):
        assert API_KEY.encode() not in blob and PASSWORD.encode() not in blob
        assert b"sk_live_4f9a2b7c" not in blob  # nor the id's readable part made of it


def test_tasks_sharing_secret_params_are_each_redacted() -> None:
    """A build's tasks share one params dict, which `Redactor.task` redacts once: every task still shows the params
    redacted and an id of its own family with the secret left out of its readable part."""
    params = {"api_key": "sk_live_4f9a2b7c", "db_url": "postgresql://admin:hunter2@db/plans", "run": "r1"}
    redactor = Redactor()
    for family in ("Fetch", "Load", "Fetch"):
        task_id = task_id_str(family, params)  # Luigi's own
        shown, shown_id = redactor.task(task_id, family, params)
        assert shown == {"api_key": REDACTED, "db_url": f"postgresql://admin:{REDACTED}@db/plans", "run": "r1"}
        assert shown_id.startswith(f"{family}_") and shown_id.endswith(task_id[-11:]) and "sk_live" not in shown_id
    assert params["api_key"] == "sk_live_4f9a2b7c"  # the shared dict itself is left as read


def test_markup_from_the_log_stays_text_on_the_live_page(tmp_path: Path, secrets_log: Path) -> None:
    sidecar = Sidecar("watch", str(secrets_log), "--state-dir", "none", log=tmp_path / "sidecar.log")
    try:
        sidecar.wait_for(lambda d: bool(d["runs"]) and d["runs"][0]["status"] == "failed")
        dom = chromium(tmp_path, "--dump-dom", sidecar.url + "/")
    finally:
        sidecar.close()
    drawn = dom[dom.index('<main id="runs">') : dom.index("</main>")]
    assert "Fetch" in drawn
    assert "<script" not in drawn  # no element was made of the param
