"""The web-config file as exporter-toolkit reads it: each mistake in it is one line and exit 78, each login case a
401 or a 200 from a real sidecar, and an unknown user answered in the time of a known one."""

from __future__ import annotations

import base64
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest
from conftest import ROOT
from sidecar import Sidecar

from exporter.webconfig import MAX_PASSWORD_BYTES, load_web_config

COST = 10  # bcrypt's cost: ~60 ms a check here, slow enough to time, fast enough for a test
GOOD_HASH = bcrypt.hashpw(b"scrape-me", bcrypt.gensalt(rounds=4)).decode()

BAD_CONFIGS = {
    "a list": ("- basic_auth_users\n", "the file must be a mapping"),
    "not UTF-8": (b"basic_auth_users:\n  a: \xff\xfe\n", "not UTF-8 (byte 23)"),
    "not YAML": ("basic_auth_users: [\n", "not valid YAML"),
    "an unknown key": ("basic_auth_user:\n  a: b\n", "unknown key 'basic_auth_user'"),
    "users as a list": ("basic_auth_users:\n  - prometheus\n", "basic_auth_users must be a mapping"),
    "a short hash": ("basic_auth_users:\n  prometheus: $2y$10$tooshort\n", "basic_auth_users.prometheus: not a bcrypt"),
    "a hash as a number": ("basic_auth_users:\n  prometheus: 12\n", "basic_auth_users.prometheus: not a bcrypt"),
    "a cost of 99": (f"basic_auth_users:\n  p: {GOOD_HASH[:4]}99{GOOD_HASH[6:]}\n", "basic_auth_users.p: not a bcrypt"),
    "tls as a list": ("tls_server_config:\n  - cert_file\n", "tls_server_config must be a mapping"),
    "tls as a string": ("tls_server_config: server.crt\n", "tls_server_config must be a mapping"),
    "an unknown tls key": ("tls_server_config:\n  cert: x\n", "tls_server_config.cert is not supported"),
    "allowed SANs": ("tls_server_config:\n  client_allowed_sans: [a]\n", "client_allowed_sans is not supported"),
    "a missing cert": ("tls_server_config:\n  cert_file: no.crt\n  key_file: no.key\n", "cert_file/key_file"),
    "a cert path as a list": ("tls_server_config:\n  cert_file: [a]\n  key_file: b\n", "cert_file must be a non-empty"),
    "http as a list": ("http_server_config:\n  - http2\n", "http_server_config must be a mapping"),
    "an unknown http key": ("http_server_config:\n  keepalive: true\n", "unknown key 'keepalive'"),
    "a header not allowed": ("http_server_config:\n  headers:\n    Server: x\n", "headers.Server: not a header"),
    "headers as a list": ("http_server_config:\n  headers: [a]\n", "headers must be a mapping"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_each_config_error_is_one_line_and_exit_78(case: str, tmp_path: Path) -> None:
    content, message = BAD_CONFIGS[case]
    web = tmp_path / "web.yml"
    web.write_bytes(content if isinstance(content, bytes) else content.encode())
    log = tmp_path / "x.log"
    log.write_text("")
    args = ["watch", str(log), "--state-dir", "none", "--listen", "127.0.0.1:0", "--web.config.file", str(web)]
    proc = subprocess.run([sys.executable, "-m", "exporter", *args], cwd=ROOT, capture_output=True, timeout=30)
    err = proc.stderr.decode()
    assert proc.returncode == 78, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert message in err, err


def _authorization(user: bytes, password: bytes) -> str:
    return "Basic " + base64.b64encode(user + b":" + password).decode()


def _get(url: str, authorization: str | None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": authorization} if authorization else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_each_login_case_with_a_real_sidecar(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  prometheus: {GOOD_HASH}\n")
    log = tmp_path / "x.log"
    log.write_text("")
    sidecar = Sidecar("watch", str(log), "--state-dir", "none", "--web.config.file", str(web), log=tmp_path / "s.log")
    try:
        url = sidecar.url + "/metrics"
        cases = {
            "no header": None,
            "not basic": "Bearer abc",
            "bad base64": "Basic !!!",
            "not UTF-8": "Basic " + base64.b64encode(b"prometheus:\xff").decode(),
            "wrong password": _authorization(b"prometheus", b"wrong"),
            "unknown user": _authorization(b"grafana", b"scrape-me"),
            "73-byte password": _authorization(b"prometheus", b"x" * (MAX_PASSWORD_BYTES + 1)),
            "73-byte password of an unknown user": _authorization(b"nobody", b"x" * (MAX_PASSWORD_BYTES + 1)),
            "no colon": "Basic " + base64.b64encode(b"prometheus").decode(),
        }
        assert {case: _get(url, header) for case, header in cases.items()} == {case: 401 for case in cases}
        assert _get(url, _authorization(b"prometheus", b"scrape-me")) == 200
        assert _get(url, _authorization(b"prometheus", b"scrape-me")) == 200  # remembered: no bcrypt again
        assert _get(sidecar.url + "/healthz", None) == 200
    finally:
        sidecar.close()
    assert "Traceback" not in (tmp_path / "s.log").read_text()


def test_an_unknown_user_takes_the_time_of_a_known_one(tmp_path: Path) -> None:
    """Medians of several tries: a user name can't be found by timing (unknown 0.8 ms vs known 278 ms before)."""
    web = tmp_path / "web.yml"
    web.write_text(
        f"basic_auth_users:\n  prometheus: {bcrypt.hashpw(b'right', bcrypt.gensalt(rounds=COST)).decode()}\n"
    )
    config = load_web_config(str(web))

    def median(header: str) -> float:
        times = []
        for _ in range(7):
            started = time.perf_counter()
            assert not config.authorized(header)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    known = median(_authorization(b"prometheus", b"wrong"))
    unknown = median(_authorization(b"grafana", b"wrong"))
    print(
        f"\nbcrypt cost {COST}: known user {known * 1000:.1f} ms, unknown user {unknown * 1000:.1f} ms (medians of 7)"
    )
    assert 0.5 < unknown / known < 2


def test_keys_not_honoured_are_warned_about_and_headers_are_sent(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text(
        "http_server_config:\n  http2: true\n  headers:\n    X-Frame-Options: deny\n"
        "    strict-transport-security: max-age=60\n"
    )
    config = load_web_config(str(web))
    assert config.warnings == [f"{web}: http_server_config.http2 is not honoured (this server speaks HTTP/1.1 only)"]
    log = tmp_path / "x.log"
    log.write_text("")
    sidecar = Sidecar("watch", str(log), "--state-dir", "none", "--web.config.file", str(web), log=tmp_path / "s.log")
    try:
        with urllib.request.urlopen(sidecar.url + "/metrics", timeout=10) as response:
            assert response.headers["X-Frame-Options"] == "deny"
            assert response.headers["Strict-Transport-Security"] == "max-age=60"
    finally:
        sidecar.close()
    text = (tmp_path / "s.log").read_text()
    assert "http_server_config.http2 is not honoured" in text
