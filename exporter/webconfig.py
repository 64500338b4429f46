"""TLS and basic auth from a web-config file in the format of Prometheus's exporter-toolkit.

The same file that secures node_exporter secures us, so existing scrape configs (`scheme: https`, `tls_config`,
`basic_auth`) work unchanged:

    tls_server_config:
      cert_file: server.crt
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # optional, with client_ca_file
      client_ca_file: ca.crt
      min_version: TLS12
    http_server_config:
      headers: {Strict-Transport-Security: max-age=31536000}
    basic_auth_users:
      prometheus: $2y$10$...   # bcrypt hash (htpasswd -nBC 10 prometheus)

Auth follows exporter-toolkit: an unknown user costs the same bcrypt work as a known one (a dummy hash), so the
time of an answer does not tell which names exist; every hash is checked when the file is read, not at the first
login. Keys the toolkit knows that this server does not honour are warned about (`WebConfig.warnings`), or refused
where ignoring them would let in someone the file means to keep out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import yaml

__all__ = ["MAX_PASSWORD_BYTES", "WebConfig", "WebConfigError", "load_web_config"]

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
# bcrypt refuses longer passwords (the toolkit's Go library too): such a login is a 401, never an error.
MAX_PASSWORD_BYTES = 72
# $2a$/$2b$/$2y$, a two-digit cost, 22 characters of salt and 31 of hash in bcrypt's base64.
_BCRYPT = re.compile(r"\$2[aby]\$(?P<cost>\d\d)\$[./A-Za-z0-9]{53}")
# exporter-toolkit's keys that this server reads; the others it knows are warned about or refused below.
_TLS_KEYS = {"cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version", "max_version"}
_TLS_IGNORED = {
    "cipher_suites": "Python's default TLS 1.2 ciphers are used",
    "curve_preferences": "OpenSSL's default curves are used",
    "prefer_server_cipher_suites": "OpenSSL's default order is used",
}
_TLS_REFUSED = {"client_allowed_sans", "cert", "key", "client_ca"}
_HTTP_IGNORED = {"http2": "this server speaks HTTP/1.1 only"}
# The response headers exporter-toolkit lets a config set.
_HEADERS = {
    "content-security-policy": "Content-Security-Policy",
    "x-frame-options": "X-Frame-Options",
    "x-content-type-options": "X-Content-Type-Options",
    "x-xss-protection": "X-XSS-Protection",
    "strict-transport-security": "Strict-Transport-Security",
}


class WebConfigError(ValueError):
    """The web-config file can't be used; the message says which key and what to do."""


@dataclass
class WebConfig:
    tls: ssl.SSLContext | None = None
    users: dict[str, bytes] = field(default_factory=dict)  # user -> bcrypt hash
    headers: dict[str, str] = field(default_factory=dict)  # sent with every response
    warnings: list[str] = field(default_factory=list)  # keys read but not honoured, one line each
    _dummy: bytes = field(default=b"", repr=False)  # what an unknown user's password is checked against
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
        secret = password.encode("utf-8")
        if len(secret) > MAX_PASSWORD_BYTES:
            return False
        digest = hashlib.sha256(f"{user}\0{password}".encode()).digest()
        with self._lock:
            if any(hmac.compare_digest(digest, known) for known in self._verified):
                return True
        hashed = self.users.get(user)
        if not self._dummy:
            self._dummy = _dummy_hash(self.users.values())
        # An unknown user is checked against the dummy hash: the same work, so the same time, as a known one.
        matched = bcrypt.checkpw(secret, hashed if hashed is not None else self._dummy)
        if hashed is None or not matched:
            return False
        with self._lock:
            if len(self._verified) < 1024:
                self._verified.add(digest)
        return True


def _dummy_hash(hashes: Any) -> bytes:
    """A hash of a random password at the highest cost of the file's hashes."""
    cost = max((int(h[4:6]) for h in hashes), default=10)
    return bcrypt.hashpw(os.urandom(16), bcrypt.gensalt(rounds=cost))


def load_web_config(path: str) -> WebConfig:
    """Read and check the file; every problem is a WebConfigError with one line to act on."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise WebConfigError(f"{path}: {err.strerror}") from err
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise WebConfigError(f"{path}: not UTF-8 (byte {err.start}); save it as UTF-8") from err
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise WebConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from err
    raw = _mapping(path, "the file", {} if raw is None else raw)
    unknown = set(raw) - {"tls_server_config", "basic_auth_users", "http_server_config"}
    if unknown:
        raise WebConfigError(f"{path}: unknown key {sorted(map(str, unknown))[0]!r}")
    config = WebConfig()
    base = Path(path).parent
    if raw.get("tls_server_config") is not None:
        config.tls = _tls(_mapping(path, "tls_server_config", raw["tls_server_config"]), base, path, config)
    if raw.get("http_server_config") is not None:
        _http(_mapping(path, "http_server_config", raw["http_server_config"]), path, config)
    users = raw.get("basic_auth_users")
    for user, hashed in _mapping(path, "basic_auth_users", {} if users is None else users).items():
        m = _BCRYPT.fullmatch(hashed) if isinstance(hashed, str) else None
        if m is None or not 4 <= int(m["cost"]) <= 31:
            raise WebConfigError(
                f"{path}: basic_auth_users.{user}: not a bcrypt hash (make one: htpasswd -nBC 10 {user})"
            )
        config.users[str(user)] = hashed.encode()
    if config.users:
        config._dummy = _dummy_hash(config.users.values())
    return config


def _mapping(path: str, key: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise WebConfigError(f"{path}: {key} must be a mapping of keys to values, not a {_kind(value)}")
    return value


def _string(path: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise WebConfigError(f"{path}: {key} must be a non-empty string, not a {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean", dict: "mapping"}.get(
        type(value), type(value).__name__
    )


def _http(section: dict, path: str, config: WebConfig) -> None:
    for key, value in section.items():
        if key in _HTTP_IGNORED:
            config.warnings.append(f"{path}: http_server_config.{key} is not honoured ({_HTTP_IGNORED[key]})")
        elif key == "headers":
            for name, header in _mapping(path, "http_server_config.headers", value or {}).items():
                canonical = _HEADERS.get(str(name).lower())
                if canonical is None:
                    raise WebConfigError(
                        f"{path}: http_server_config.headers.{name}: not a header the config may set "
                        f"(one of {', '.join(_HEADERS.values())})"
                    )
                config.headers[canonical] = _string(path, f"http_server_config.headers.{name}", header)
        else:
            raise WebConfigError(f"{path}: http_server_config: unknown key {key!r}")


def _tls(section: dict, base: Path, path: str, config: WebConfig) -> ssl.SSLContext:
    for key in section:
        if key in _TLS_REFUSED:
            raise WebConfigError(f"{path}: tls_server_config.{key} is not supported (remove it, or use cert_file)")
        if key in _TLS_IGNORED:
            config.warnings.append(f"{path}: tls_server_config.{key} is not honoured ({_TLS_IGNORED[key]})")
        elif key not in _TLS_KEYS:
            raise WebConfigError(f"{path}: tls_server_config: unknown key {key!r}")

    def file(key: str) -> str:
        if not section.get(key):
            raise WebConfigError(f"{path}: tls_server_config.{key} is required")
        return str(base / _string(path, f"tls_server_config.{key}", section[key]))

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(file("cert_file"), file("key_file"))
    except (OSError, ssl.SSLError) as err:
        raise WebConfigError(f"{path}: cert_file/key_file: {err}") from err
    for key, default, attribute in (
        ("min_version", "TLS12", "minimum_version"),
        ("max_version", None, "maximum_version"),
    ):
        version = section.get(key, default)
        if version is None:
            continue
        if not isinstance(version, str) or version not in _VERSIONS:
            raise WebConfigError(f"{path}: tls_server_config.{key} {version!r}: use one of {sorted(_VERSIONS)}")
        setattr(context, attribute, _VERSIONS[version])
    auth = section.get("client_auth_type", "NoClientCert")
    if not isinstance(auth, str) or auth not in _CLIENT_AUTH:
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
