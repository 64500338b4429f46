"""A real Prometheus server on loopback for tests: the `prometheus` binary (Debian package `prometheus`), an empty TSDB.

Why a real server: PromQL validity, scrape compatibility (OpenMetrics, exemplars) and rule evaluation are what
Prometheus says they are; a mock would only repeat our own assumptions. Startup takes about a second.

Use `start_prometheus` + `stop_prometheus`, the `running_prometheus` context manager, or the `prometheus_factory`
fixture. To offer the fixture, import it in conftest.py (``from promserver import prometheus_factory  # noqa: F401``);
imported into a test module that also takes it as an argument, ruff reports F811. Every path guarantees the
process is killed at the end. Nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "JOB",
    "api_get",
    "prometheus_binary",
    "prometheus_factory",
    "running_prometheus",
    "start_prometheus",
    "stop_prometheus",
    "wait_for_scrapes",
]

JOB = "luigi-exporter"  # the scrape job name the dashboards and alerts select on
READY_TIMEOUT = 30.0


def prometheus_binary() -> str:
    """Path of `prometheus`; fails (never skips) with the install hint when it is missing."""
    path = shutil.which("prometheus")
    if path is None:
        pytest.fail("`prometheus` not found on PATH: install it (apt-get install -y prometheus)", pytrace=False)
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(
    scrape_targets: Sequence[str],
    scrape_interval: str,
    rule_files: Sequence[Path],
    scrape_options: dict[str, Any] | None = None,
    job: str = JOB,
    alertmanagers: Sequence[str] = (),
) -> str:
    """prometheus.yml as JSON (a YAML subset): no YAML library needed, nothing to quote by hand."""
    for target in scrape_targets:
        host = target.rsplit(":", 1)[0].strip("[]")
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"scrape target {target!r} is not on loopback")
    config = {
        # evaluation_interval too: rule_files evaluate as fast as the scrapes arrive.
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": [str(path) for path in rule_files],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}] if alertmanagers else []
        },
        "scrape_configs": [
            {
                "job_name": job,
                "scrape_interval": scrape_interval,
                # Must not exceed the interval (Prometheus' default timeout, 10 s, would be invalid at 1 s).
                "scrape_timeout": scrape_interval,
                "static_configs": [{"targets": list(scrape_targets)}],
                **(scrape_options or {}),  # scheme, tls_config, basic_auth: as a user's scrape config has them
            }
        ],
    }
    return json.dumps(config, indent=1)


def _log_tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_prometheus(
    tmp_path: Path,
    scrape_targets: list[str],
    scrape_interval: str = "1s",
    *,
    rule_files: Sequence[Path] = (),
    timeout: float = READY_TIMEOUT,
    scrape_options: dict[str, Any] | None = None,
    job: str = JOB,
    alertmanagers: Sequence[str] = (),
) -> tuple[str, subprocess.Popen[bytes]]:
    """Start Prometheus scraping `scrape_targets` (host:port on loopback) under `job` ("luigi-exporter"), sending
    alerts to `alertmanagers` (host:port on loopback).

    Config, TSDB and log (prometheus.log) go in `tmp_path`; exemplar storage is on (the exporter's histograms carry
    trace_id exemplars). Returns (base URL such as "http://127.0.0.1:40123", process) once /-/ready answers 200.
    Ready is not scraped: Prometheus hands new targets to the scraper about 5 s after start (its discovery
    throttle), so a test that needs samples calls `wait_for_scrapes` first.
    The caller must `stop_prometheus(process)`; prefer `running_prometheus` or `prometheus_factory`, which do.
    """
    binary = prometheus_binary()
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "prometheus.yml"
    config.write_text(_config(scrape_targets, scrape_interval, rule_files, scrape_options, job, alertmanagers))
    log = tmp_path / "prometheus.log"
    last_error = ""
    for _attempt in range(3):  # another process may take the free port between our probe and Prometheus' bind
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        with log.open("wb") as log_file:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--enable-feature=exemplar-storage",
                    "--log.level=warn",
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            if _wait_ready(base_url, process, timeout):
                return base_url, process
        except BaseException:
            stop_prometheus(process)
            raise
        stop_prometheus(process)
        last_error = _log_tail(log)
        if "address already in use" not in last_error:
            break
    pytest.fail(f"Prometheus did not become ready within {timeout:.0f} s; its log ends:\n{last_error}", pytrace=False)


def _wait_ready(base_url: str, process: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{base_url}/-/ready", timeout=1) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    return False


def stop_prometheus(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if Prometheus has not exited within `timeout` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


@contextlib.contextmanager
def running_prometheus(
    tmp_path: Path, scrape_targets: list[str], scrape_interval: str = "1s", **kwargs: Any
) -> Iterator[str]:
    """`start_prometheus` as a context manager: yields the base URL, stops the server however the block ends."""
    base_url, process = start_prometheus(tmp_path, scrape_targets, scrape_interval, **kwargs)
    try:
        yield base_url
    finally:
        stop_prometheus(process)


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[Callable[..., tuple[str, subprocess.Popen[bytes]]]]:
    """Fixture: a `start_prometheus(scrape_targets, scrape_interval="1s", ...)` whose servers die at teardown.

    Each call gets its own directory under the test's tmp_path.
    """
    started: list[subprocess.Popen[bytes]] = []

    def start(
        scrape_targets: list[str], scrape_interval: str = "1s", **kwargs: Any
    ) -> tuple[str, subprocess.Popen[bytes]]:
        base_url, process = start_prometheus(
            tmp_path / f"prometheus-{len(started)}", scrape_targets, scrape_interval, **kwargs
        )
        started.append(process)
        return base_url, process

    try:
        yield start
    finally:
        for process in started:
            stop_prometheus(process)


def wait_for_scrapes(base_url: str, timeout: float = 20.0) -> list[dict[str, Any]]:
    """Wait until every configured target has been scraped once (health "up" or "down"); returns the targets.

    Fails with each target's last error (or "no target") when the time runs out.
    """
    deadline = time.monotonic() + timeout
    targets: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        _, body = api_get(base_url, "/api/v1/targets", state="active")
        targets = body.get("data", {}).get("activeTargets", [])
        if targets and all(target["health"] != "unknown" for target in targets):
            return targets
        time.sleep(0.2)
    states = "; ".join(f"{t['scrapeUrl']}: {t['health']} {t['lastError']}" for t in targets) or "no target"
    pytest.fail(f"targets not scraped within {timeout:.0f} s: {states}", pytrace=False)


def api_get(base_url: str, path: str, timeout: float = 10.0, **params: str) -> tuple[int, dict[str, Any]]:
    """GET an API path such as "/api/v1/query"; returns (HTTP status, decoded JSON), error statuses included."""
    url = f"{base_url}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        body = err.read()
        try:
            return err.code, json.loads(body)
        except ValueError:
            return err.code, {"status": "error", "error": body.decode(errors="replace")}
