"""TLS and basic auth from a web-config file in the format of Prometheus's exporter-toolkit.

The same file that secures node_exporter secures us, so existing scrape configs (`scheme: https`, `tls_config`,
`basic_auth`) work unchanged:

    tls_server_config:
      cert_file: server.crt
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # optional, with client_ca_file
      client_ca_file: ca.crt
      min_version: TLS12
    basic_auth_users:
      prometheus: $2y$10$...   # bcrypt hash (htpasswd -nBC 10 prometheus)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
import yaml

__all__ = ["WebConfig", "WebConfigError", "load_web_config"]

_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


class WebConfigError(ValueError):
    """The web-config file can't be used; the message says which key and what to do."""


@dataclass
class WebConfig:
    tls: ssl.SSLContext | None = None
    users: dict[str, bytes] = field(default_factory=dict)  # user -> bcrypt hash
    _verified: set[bytes] = field(default_factory=set, repr=False)  # digests of credentials bcrypt accepted
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def authorized(self, header: str | None) -> bool:
        """Check an `Authorization: Basic ...` header; bcrypt is slow on purpose, so a good pair is remembered."""
        if not self.users:
            return True
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        digest = hashlib.sha256(f"{user}\0{password}".encode()).digest()
        with self._lock:
            if any(hmac.compare_digest(digest, known) for known in self._verified):
                return True
        hashed = self.users.get(user)
        if hashed is None or not bcrypt.checkpw(password.encode("utf-8"), hashed):
            return False
        with self._lock:
            if len(self._verified) < 1024:
                self._verified.add(digest)
        return True


def load_web_config(path: str) -> WebConfig:
    """Read and check the file; every problem is a WebConfigError with one line to act on."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as err:
        raise WebConfigError(f"{path}: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise WebConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from err
    if not isinstance(raw, dict):
        raise WebConfigError(f"{path}: expected a mapping with tls_server_config and/or basic_auth_users")
    unknown = set(raw) - {"tls_server_config", "basic_auth_users", "http_server_config"}
    if unknown:
        raise WebConfigError(f"{path}: unknown key {sorted(unknown)[0]!r}")
    config = WebConfig()
    base = Path(path).parent
    if raw.get("tls_server_config"):
        config.tls = _tls(raw["tls_server_config"], base, path)
    for user, hashed in (raw.get("basic_auth_users") or {}).items():
        if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise WebConfigError(f"{path}: basic_auth_users.{user}: not a bcrypt hash (htpasswd -nBC 10 {user})")
        config.users[str(user)] = hashed.encode()
    return config


def _tls(section: dict, base: Path, path: str) -> ssl.SSLContext:
    def file(key: str) -> str:
        value = section.get(key)
        if not value:
            raise WebConfigError(f"{path}: tls_server_config.{key} is required")
        return str(base / value)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(file("cert_file"), file("key_file"))
    except (OSError, ssl.SSLError) as err:
        raise WebConfigError(f"{path}: cert_file/key_file: {err}") from err
    version = section.get("min_version", "TLS12")
    if version not in _VERSIONS:
        raise WebConfigError(f"{path}: tls_server_config.min_version {version!r}: use one of {sorted(_VERSIONS)}")
    context.minimum_version = _VERSIONS[version]
    auth = section.get("client_auth_type", "NoClientCert")
    if auth not in _CLIENT_AUTH:
        raise WebConfigError(f"{path}: tls_server_config.client_auth_type {auth!r}: use one of {sorted(_CLIENT_AUTH)}")
    context.verify_mode = _CLIENT_AUTH[auth]
    if section.get("client_ca_file"):
        try:
            context.load_verify_locations(file("client_ca_file"))
        except (OSError, ssl.SSLError) as err:
            raise WebConfigError(f"{path}: client_ca_file: {err}") from err
    elif auth == "RequireAndVerifyClientCert":
        raise WebConfigError(f"{path}: client_auth_type RequireAndVerifyClientCert needs client_ca_file")
    return context
