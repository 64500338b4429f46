"""Runs a real Luigi build the way an application does, and records Luigi's own truth beside its log.

Truth comes from two places inside Luigi: its task event handlers (exporter.demo.truth: START, SUCCESS, FAILURE,
PROCESS_FAILURE, TIMEOUT...) and, after the build, `luigi.execution_summary._summary_dict` over the worker: the exact
per-task categories Luigi's summary counts but only partly lists (`upstream_failure` among them).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Sequence

import luigi

from exporter.demo import truth

FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("log")
    parser.add_argument("truth")
    parser.add_argument("--workers", type=int, default=1)
    return parser.parse_args()


def build(make_tasks: Callable[[], Sequence[luigi.Task]], config: dict[str, dict[str, str]] | None = None) -> int:
    """Build the tasks with logging like PlanExe's (DEBUG to a file, ms timestamps); exit code 0 or 1."""
    args = arguments()
    handler = logging.FileHandler(args.log)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    cfg = luigi.configuration.get_config()
    # The application owns logging (as PlanExe does): Luigi must not add its own stderr handler.
    settings = {"core": {"no_configure_logging": "true"}}
    for section, values in (config or {}).items():
        settings.setdefault(section, {}).update(values)
    for section, values in settings.items():
        if not cfg.has_section(section):
            cfg.add_section(section)
        for key, value in values.items():
            cfg.set(section, key, value)
    truth.install(args.truth)
    port = os.environ.get("LUIGI_SCHEDULER_PORT")  # a central scheduler (luigid) there, else the local one
    result = luigi.build(
        list(make_tasks()),
        local_scheduler=port is None,
        scheduler_host="127.0.0.1",
        scheduler_port=int(port or 8082),
        workers=args.workers,
        detailed_summary=True,
    )
    truth.record_summary(args.truth, result.worker)
    return 0 if result.status.name.startswith("SUCCESS") else 1
