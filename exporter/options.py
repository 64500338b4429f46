"""What the commands share: errors a user can fix, with their exit codes, and options turned into values."""

from __future__ import annotations

import argparse
import logging
import os
import re
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from exporter.redact import DEFAULT_NAMES, Redactor

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
    "document_of",
    "redactor_of",
    "state_path",
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


def redactor_of(args: argparse.Namespace) -> Redactor:
    for pattern in args.redact:
        try:
            re.compile(pattern)
        except re.error as err:
            raise UserError(f"--redact {pattern!r}: {err} (give a regular expression)", EXIT_USAGE) from err
    return Redactor([*DEFAULT_NAMES, *args.redact])


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
