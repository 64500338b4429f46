"""What the commands share: errors a user can fix, with their exit codes, and options turned into the typed values
of `exporter.config` (checked here, so a bad one fails before anything starts)."""

from __future__ import annotations

import argparse
import logging
import os
import re
from collections.abc import Sequence
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from exporter.config import Config, Live, Wrap
from exporter.redact import DEFAULT_NAMES, Redactor
from exporter.retention import Retention

if TYPE_CHECKING:
    from exporter.pipeline import Pipeline

__all__ = [
    "EXIT_CONFIG",
    "EXIT_INPUT",
    "EXIT_PIPE",
    "EXIT_PORT",
    "EXIT_USAGE",
    "HTTP_IDLE_TIMEOUT",
    "HTTP_MAX_CONNECTIONS",
    "UserError",
    "config_of",
    "document_of",
    "live_of",
    "redactor_of",
    "state_path",
    "wrap_of",
    "write_report",
    "zone",
]

EXIT_INPUT = 2  # a log file that can't be read
EXIT_USAGE = 64  # bad arguments or options, syntax included (argparse's own 2 would read as "unreadable input")
EXIT_PORT = 69  # the port to listen on is taken or not ours
EXIT_CONFIG = 78  # a state directory or config file we can't use
EXIT_PIPE = 141  # the reader of our output went away (128 + SIGPIPE, as a shell reports a process it killed)

# The HTTP server's defaults: a connection silent this long (seconds) is closed; one beyond this many is a 503.
HTTP_IDLE_TIMEOUT = 10.0
HTTP_MAX_CONNECTIONS = 512

log = logging.getLogger("luigi_exporter")


class UserError(Exception):
    """A problem the user can fix; the message is the one line they see, `code` the exit status."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def zone(name: str | None) -> tzinfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise UserError(f"--tz {name}: unknown time zone (use an IANA name such as UTC)", EXIT_USAGE) from err


def redactor_of(patterns: Sequence[str]) -> Redactor:
    """The default credential-like names and `patterns` (--redact), each checked to be a regular expression."""
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as err:
            raise UserError(f"--redact {pattern!r}: {err} (give a regular expression)", EXIT_USAGE) from err
    return Redactor([*DEFAULT_NAMES, *patterns])


def state_path(value: str | None) -> Path | None:
    if value == "none":
        return None
    base = Path(value) if value else Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
    directory = base if value else base / "luigi-exporter"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"--state-dir {directory}: {err.strerror} (choose a writable directory)", EXIT_CONFIG) from err
    return directory / "luigi-exporter.sqlite"


def document_of(pipeline: Pipeline, runs: list[dict]) -> dict:
    return {"runs": runs, "lines_read": pipeline.lines_read, "lines_unparsed": pipeline.lines_unparsed}


def write_report(path: str, document: dict, jaeger_url: str | None) -> None:
    from exporter.report import render_report  # its page template and HTML helpers: only reports load them

    try:
        Path(path).write_text(render_report(document, jaeger_url=jaeger_url), encoding="utf-8")
    except OSError as err:
        raise UserError(f"{path}: {err.strerror} (choose a writable path for the report)", EXIT_CONFIG) from err
    log.info("report written to %s", path)


# -- options to Config -----------------------------------------------------------------------------------------------


def config_of(args: argparse.Namespace, live: Live | None = None) -> Config:
    otlp = args.otlp
    if otlp is None:  # the live commands: on when the OTel SDK has an endpoint to send to
        otlp = any(os.environ.get(f"OTEL_EXPORTER_OTLP_{kind}ENDPOINT") for kind in ("", "TRACES_"))
    return Config(
        tz=zone(args.tz),
        expected_tasks=args.expected_tasks,
        redactor=redactor_of(args.redact),
        otlp=otlp,
        outbox_max=args.outbox_max,
        external_url=args.external_url,
        live=live,
    )


def live_of(args: argparse.Namespace) -> Live:
    web = None
    if args.web_config:
        from exporter.webconfig import WebConfigError, load_web_config  # bcrypt and yaml: only when asked for

        try:
            web = load_web_config(args.web_config)
        except WebConfigError as err:
            raise UserError(f"--web.config.file {err}", EXIT_CONFIG) from err
        for warning in web.warnings:
            log.warning("--web.config.file %s", warning)
    host, port = args.listen
    return Live(
        host=host,
        port=port,
        web=web,
        cors_origin=args.cors_origin,
        max_connections=args.max_connections,
        idle_timeout=args.idle_timeout,
        jaeger_url=args.jaeger_url,
        store=state_path(args.state_dir),
        retention=Retention(args.retain_runs, args.retain_for),
        stale_after=args.stale_after,
        run_metrics=args.run_metrics,
    )


def wrap_of(args: argparse.Namespace) -> Wrap:
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise UserError("run needs a command after --, e.g. luigi-exporter run -- luigi --module m Task", EXIT_USAGE)
    if args.retries < 0 or args.retry_delay < 0:
        raise UserError("--retries and --retry-delay take a number of at least 0", EXIT_USAGE)
    return Wrap(
        argv=tuple(argv),
        run_id=args.run_id,
        retries=args.retries,
        retry_delay=args.retry_delay,
        fail_on_task_failure=args.fail_on_task_failure,
        view=args.view,
        output=args.output,
        report=args.report,
        pushgateway=args.pushgateway,
        linger=args.linger,
    )
