"""What a command was asked to do, as typed values: the CLI fills these from its options (checked there, so a bad
value fails before anything starts), and `exporter.app` builds the command's parts from them alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from exporter.redact import Redactor
from exporter.retention import Retention

if TYPE_CHECKING:  # replay does not load the web config's bcrypt and yaml
    from exporter.webconfig import WebConfig

__all__ = ["Config", "Live", "Replay", "Watch", "Wrap"]


@dataclass(frozen=True)
class Live:
    """The sidecar of `watch` and `run`: where it serves, who may read it, what it keeps and for how long."""

    host: str = "127.0.0.1"
    port: int = 9588
    web: WebConfig | None = None  # TLS and basic auth (--web.config.file)
    cors_origin: str | None = None
    max_connections: int = 512
    idle_timeout: float = 10.0
    jaeger_url: str | None = None
    store: Path | None = None  # the SQLite file; None: in memory
    retention: Retention = field(default_factory=Retention)
    stale_after: float = 1800.0
    run_metrics: int = 0  # per-run series for this many finished runs (and those going on)


@dataclass(frozen=True)
class Config:
    """How lines become runs and where spans go: every command that reads logs; `live` for `watch` and `run`."""

    tz: tzinfo | None = None
    expected_tasks: int | None = None
    redactor: Redactor = field(default_factory=Redactor)
    otlp: bool = False
    outbox_max: int = 100_000
    external_url: str | None = None
    live: Live | None = None


@dataclass(frozen=True)
class Replay:
    files: tuple[str, ...]
    json: bool = False


@dataclass(frozen=True)
class Watch:
    globs: tuple[str, ...]
    poll: bool = False


@dataclass(frozen=True)
class Wrap:
    """`run`: the command to wrap, how often to run it again while its build fails, and what to leave at the end."""

    argv: tuple[str, ...]
    run_id: str | None = None
    retries: int = 0
    retry_delay: float = 0.0
    fail_on_task_failure: bool = False
    view: bool = False
    output: str | None = None  # with `view`: where the command's own output goes
    report: str | None = None
    pushgateway: str | None = None
    linger: float = 0.0
