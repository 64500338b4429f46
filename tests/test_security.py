"""TLS and basic auth from an exporter-toolkit web-config (a real Prometheus scrapes through them), credentials
redacted everywhere the sidecar shows or stores them, and log markup escaped on the live page."""

from __future__ import annotations

import base64
import json
import re
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest
from browser import chromium
from conftest import run_pipeline
from luigi.task import task_id_str
from otlp_receiver import OtlpReceiver
from promserver import api_get, prometheus_factory, wait_for_scrapes  # noqa: F401 (fixture)
from sidecar import Sidecar, free_port
from truth import expected_states, load

from exporter.redact import REDACTED, Redactor

API_KEY = "sk-live-4f9a2b7c1d"
MARKUP = "<script>alert('pwned')</script>"
# Every secret tests/pipelines/secrets.py puts in its params and errors.
SECRETS = (
    API_KEY,
    "hunter2pass",
    "sk-LEAKED-APIKEY-9f8e7d",
    "tok-LEAKED-5b6c7d",
    "pw-LEAKED-8e9f0a",
    "eyJLEAKED.bearer.3c4d5e",
    "hush-LEAKED-1a2b3c",
)
LUIGI_EXPORTER = (sys.executable, "-m", "exporter")


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
    assert _leaks(log.read_bytes()) == list(SECRETS)  # the raw log does hold them all
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
        assert status == 200 and b"luigi_pipeline_last_run_tasks_scheduled" in body
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
        _, result = api_get(prom, "/api/v1/query", query="luigi_pipeline_last_run_tasks_scheduled")
        assert [float(s["value"][1]) for s in result["data"]["result"]] == [5.0]
    finally:
        sidecar.close()


def _forms(secret: str) -> tuple[bytes, ...]:
    """A secret as bytes, and as the readable part of a Luigi id shows its first 16 characters."""
    return secret.encode(), re.sub(r"[^A-Za-z0-9_]", "_", secret[:16]).encode()


def _leaks(blob: bytes) -> list[str]:
    return [secret for secret in SECRETS if any(form in blob for form in _forms(secret))]


def test_no_secret_byte_anywhere_the_sidecar_shows_or_keeps(tmp_path: Path, secrets_log: Path) -> None:
    """A real build whose params and errors hold credentials (by name, in URLs, as Bearer tokens, a secret param's
    value quoted in a traceback, a key in a task whose repr can't be read): none of them in /api/runs, /metrics,
    the page as Chromium draws it, the report, the store file and its WAL (read while the sidecar runs), the OTLP
    spans, `replay` and the sidecar's own log; and the totals are Luigi's."""
    state = tmp_path / "state"
    receiver = OtlpReceiver("http").start()
    sidecar = Sidecar(
        "watch", str(secrets_log), "--state-dir", str(state), log=tmp_path / "sidecar.log", env=receiver.env
    )
    try:
        doc = sidecar.wait_for(lambda d: bool(d["runs"]) and d["runs"][0]["status"] == "failed")
        spans = receiver.wait_for(lambda spans: len(spans) >= 4)  # an attempt each: 3 failed, 1 done
        blobs = {"api": sidecar.get("/api/runs"), "metrics": sidecar.get("/metrics"), "page": sidecar.get("/")}
        blobs["dom"] = chromium(tmp_path, "--dump-dom", sidecar.url + "/").encode()
        store = state / "luigi-exporter.sqlite"
        assert Path(f"{store}-wal").exists()
        blobs["store while running"] = b"".join(p.read_bytes() for p in state.glob("luigi-exporter.sqlite*"))
        time.sleep(1)
        blobs["spans"] = repr(receiver.spans()).encode()
    finally:
        sidecar.stop()
        sidecar.close()
        receiver.stop()
    blobs["store"] = b"".join(p.read_bytes() for p in state.glob("luigi-exporter.sqlite*"))
    blobs["sidecar log"] = (tmp_path / "sidecar.log").read_bytes()
    for args in (["report", "secrets.log", "--state-dir", str(state)], ["report", str(secrets_log)]):
        report = tmp_path / "report.html"
        subprocess.run([*LUIGI_EXPORTER, *args, "-o", str(report)], check=True, capture_output=True, timeout=60)
        blobs[f"report of {args[1]}"] = report.read_bytes()
    for args in (["replay", str(secrets_log)], ["replay", "--json", str(secrets_log)]):
        blobs[" ".join(args[:-1])] = subprocess.run([*LUIGI_EXPORTER, *args], capture_output=True, timeout=60).stdout

    assert {name: _leaks(blob) for name, blob in blobs.items()} == {name: [] for name in blobs}
    assert len(spans) >= 4 and "Leaf" in blobs["dom"].decode()
    (run,) = doc["runs"]
    tasks = {t["family"]: t for t in run["tasks"]}
    assert tasks["Fetch"]["params"]["api_key"] == REDACTED
    assert tasks["Fetch"]["params"]["db_url"] == f"postgresql://admin:{REDACTED}@db.internal:5432/plans"
    assert tasks["Leaf"]["task_id"].startswith(f"Leaf_{REDACTED}_")  # its params could not be read: fail closed
    assert "token=REDACTED password: REDACTED" in tasks["Leak"]["error"]
    assert "Authorization: Bearer REDACTED" in tasks["Leak"]["error"]
    assert "key REDACTED was refused" in tasks["Leaf"]["error"]
    # Luigi's own summary of the build, by its event handlers: the same totals.
    (summary,) = [e for e in load(str(secrets_log.with_suffix(".truth"))) if e["event"] == "SUMMARY"]
    states = expected_states([summary])
    assert run["tasks_total"] == len(states) == 5
    assert (run["tasks_done"], run["tasks_failed"], run["tasks_upstream_failed"]) == (
        len(summary["categories"]["completed"]),
        len(summary["categories"]["failed"]),
        len(summary["categories"]["upstream_failure"]),
    )
    assert {t["task_id"].split("_")[0]: t["state"] for t in run["tasks"]} == {
        task_id.split("_")[0]: state for task_id, state in states.items()
    }


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


def test_secrets_said_by_name_in_any_text_and_every_known_value() -> None:
    """What `Redactor.text` finds by name, and a value once seen under a sensitive name found again anywhere."""
    redactor = Redactor()
    assert redactor.text("token=abc123 password: 'p w d' x") == f"token={REDACTED} password: '{REDACTED}' x"
    assert redactor.text('{"api_key": "k-9876", "user": "bob"}') == f'{{"api_key": "{REDACTED}", "user": "bob"}}'
    assert redactor.text("Authorization: Bearer eyJ.abc.def;") == f"Authorization: Bearer {REDACTED};"
    assert redactor.text("curl -H 'X: Basic dXNlcjpwYXNz'") == f"curl -H 'X: Basic {REDACTED}'"
    assert redactor.text("GET /x?secret_key=s3cr3t&page=2") == f"GET /x?secret_key={REDACTED}&page=2"
    assert redactor.text("mysql://root:rootpw@h/db") == f"mysql://root:{REDACTED}@h/db"
    # Said once by name, then quoted without it: found by value.
    assert redactor.text("retrying with abc123 and rootpw") == f"retrying with {REDACTED} and {REDACTED}"
    redactor.params({"db_password": "Tr0ub4dor", "n": "1"})
    assert redactor.text("login failed for Tr0ub4dor") == f"login failed for {REDACTED}"
    redactor.learn_repr("Leaf(api_key=sk-cut-by-newline, note=line one")
    assert redactor.text("key sk-cut-by-newline refused") == f"key {REDACTED} refused"
    # Code in a traceback that merely names a credential keeps its text; a short value is not searched for.
    code = 'File "auth.py", line 3\n    if password == x:'
    assert redactor.text(code) == code
    redactor.params({"auth": "yes"})
    assert redactor.text("yes, done") == "yes, done"


def test_a_task_id_its_params_cannot_explain_is_shown_without_its_readable_part() -> None:
    params = {"api_key": "sk-LEAKED-9f8e", "note": "line one\nline two"}
    task_id = task_id_str("Leaf", params)  # Luigi's own: Leaf_sk_LEAKED_9f8e_line_one_line_tw_<hash>
    redactor = Redactor()
    assert redactor.task(task_id, "Leaf", {}) == ({}, f"Leaf_{REDACTED}{task_id[-11:]}")
    assert redactor.task(task_id, "Leaf", {"note": "other"})[1] == f"Leaf_{REDACTED}{task_id[-11:]}"
    assert redactor.task("Plain__99914b932b", "Plain", {}) == ({}, "Plain__99914b932b")  # no params, nothing hidden
    shown, shown_id = redactor.task(task_id, "Leaf", params)
    assert shown["api_key"] == REDACTED and shown_id.startswith(f"Leaf_{REDACTED}_line_one")


def test_redacting_a_hostile_text_takes_time_linear_in_its_length() -> None:
    """Every repeat in the patterns is bounded: 256 KB of the worst inputs found (the held cap of a traceback)."""
    redactor = Redactor()
    for unit in ("token", "token= ", "Bearer ", "a", "x://u:"):
        text = unit * ((256 << 10) // len(unit))
        started = time.process_time()
        redactor.text(text)
        assert time.process_time() - started < 5, unit


def test_a_task_seen_only_by_its_id_shows_no_part_of_a_secret(tmp_path: Path, secrets_log: Path) -> None:
    """The real build's log without the lines that print Leaf's repr (a capture that began late, a rotated file):
    only Luigi's id names it, and the id's readable part is the api_key's start. Its params can't explain it, so
    it goes (fail closed); the family and hash stay."""
    cut = tmp_path / "cut.log"
    lines = secrets_log.read_bytes().splitlines(keepends=True)
    kept = [line for line in lines if b"Leaf(" not in line and not line.startswith(b"line two)")]
    cut.write_bytes(b"".join(kept))
    assert len(kept) < len(lines) and b"Leaf_sk_LEAKED_APIKEY" in cut.read_bytes()
    out = subprocess.run([*LUIGI_EXPORTER, "replay", "--json", str(cut)], capture_output=True, timeout=60).stdout
    assert _leaks(out) == []
    (leaf,) = [t for run in json.loads(out)["runs"] for t in run["tasks"] if t["family"] == "Leaf"]
    assert leaf["task_id"] == f"Leaf_{REDACTED}_047c819ac8" and leaf["params"] == {}
