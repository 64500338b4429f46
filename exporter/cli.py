"""`luigi-exporter`: replay, watch, run. Errors are one line saying what to do, with an exit code per kind."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Sequence
from datetime import tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from prometheus_client import CollectorRegistry, push_to_gateway

from exporter.contract import run_counts
from exporter.model import Run
from exporter.pipeline import Pipeline, catch_up, follow
from exporter.replay import replay_into
from exporter.server import Server
from exporter.sinks.metrics import LuigiCollector, Retention
from exporter.sinks.store import Store
from exporter.sources.files import expand, is_readable_file
from exporter.sources.tail import Tailer
from exporter.sources.wrap import Wrapped

__all__ = ["main"]

EXIT_INPUT = 2  # a log file that can't be read
EXIT_USAGE = 64  # bad arguments or options (argparse itself exits 2 on syntax, as every argparse tool does)
EXIT_PORT = 69  # the port to listen on is taken or not ours
EXIT_CONFIG = 78  # a state directory or config file we can't use

log = logging.getLogger("luigi_exporter")


class UserError(Exception):
    """A problem the user can fix; the message is the one line they see, `code` the exit status."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _zone(name: str | None) -> tzinfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise UserError(f"--tz {name}: unknown time zone (use an IANA name such as UTC)", EXIT_USAGE) from err


def _listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:9588)")
    return host.strip("[]") or "127.0.0.1", int(port)


def _duration(value: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m|h|d)?", value.strip())
    if m is None:
        raise argparse.ArgumentTypeError(f"{value!r} is not a duration (e.g. 90s, 30m, 12h, 7d)")
    return float(m[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m[2] or "s"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="luigi-exporter", description="Observe Luigi pipelines from their logs.")
    commands = parser.add_subparsers(dest="command", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--tz", metavar="ZONE", help="zone of log timestamps written without one (default: local)")
    common.add_argument("--expected-tasks", type=int, metavar="N", help="total to show before scheduling is seen")

    live = argparse.ArgumentParser(add_help=False)
    live.add_argument(
        "--listen",
        type=_listen,
        default=("127.0.0.1", 9588),
        metavar="HOST:PORT",
        help="serve /metrics, /api and the live page here (default 127.0.0.1:9588)",
    )
    live.add_argument(
        "--state-dir",
        metavar="DIR",
        help="where the store lives (default: $XDG_STATE_HOME/luigi-exporter; 'none': in memory)",
    )
    live.add_argument(
        "--retain-runs",
        type=int,
        default=20,
        metavar="N",
        help="finished runs kept on /metrics (default 20; all stay in the store)",
    )
    live.add_argument(
        "--retain-for",
        type=_duration,
        metavar="DURATION",
        help="instead keep finished runs on /metrics for this long (e.g. 12h)",
    )
    live.add_argument("--jaeger-url", metavar="URL", help="link runs on the live page to this Jaeger UI")

    replay = commands.add_parser("replay", parents=[common], help="reconstruct every run in whole log files")
    replay.add_argument("files", nargs="+", metavar="FILE", help="log files or globs (e.g. 'run/*/log.txt')")
    replay.add_argument("--json", action="store_true", help="print the runs as JSON (the replay contract)")

    watch = commands.add_parser("watch", parents=[common, live], help="follow log files live and serve metrics")
    watch.add_argument("globs", nargs="+", metavar="GLOB", help="files to follow, e.g. 'runs/*/log.txt' (quoted)")
    watch.add_argument("--poll", action="store_true", help="poll instead of inotify (network filesystems)")

    run = commands.add_parser("run", parents=[common, live], help="run a Luigi command and observe it")
    run.add_argument(
        "--linger",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="keep serving the final figures this long after the command ends",
    )
    run.add_argument("--pushgateway", metavar="URL", help="push the final figures to a Prometheus Pushgateway")
    run.add_argument(
        "--fail-on-task-failure",
        action="store_true",
        help="exit 1 when a task failed even if the command exited 0 (luigi does by default)",
    )
    run.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND...")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(format="luigi-exporter: %(message)s", level=logging.INFO)
    try:
        return {"replay": _replay, "watch": _watch, "run": _run}[args.command](args)
    except UserError as err:
        print(f"luigi-exporter: {err}", file=sys.stderr)
        return err.code
    except KeyboardInterrupt:
        return 130


# -- replay ------------------------------------------------------------------------------------------------------


def _replay(args: argparse.Namespace) -> int:
    pipeline = Pipeline(tz=_zone(args.tz), expected_tasks=args.expected_tasks)
    for path in expand(args.files):
        reason = is_readable_file(path)
        if reason is not None:
            raise UserError(reason, EXIT_INPUT)
        try:
            replay_into(pipeline, path)
        except OSError as err:
            raise UserError(f"{path}: {err.strerror or err}", EXIT_INPUT) from err
    if args.json:
        document = {
            "runs": pipeline.documents(),
            "lines_read": pipeline.lines_read,
            "lines_unparsed": pipeline.lines_unparsed,
        }
        json.dump(document, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        runs = pipeline.runs()
        if not runs:
            print(f"no Luigi run found ({pipeline.lines_read} lines read)")
        for run in runs:
            print(_run_line(run))
            for task in run.tasks.values():
                if task.state.value == "failed":
                    error = next((a.error for a in reversed(task.attempts) if a.error), task.error) or ""
                    last = error.strip().splitlines()[-1].strip() if error.strip() else "no error text in the log"
                    print(f"    failed  {task.family}: {last}")
    return 0


def _run_line(run: Run) -> str:
    c = run_counts(run)
    parts = [
        f"{run.run_id}: {run.pipeline or '?'} {run.status.value}",
        f"{c['tasks_completed']} of {c['tasks_total']} complete ({c['tasks_done']} ran, "
        f"{c['tasks_already_done']} already done)",
    ]
    for key in ("tasks_failed", "tasks_running", "tasks_upstream_failed", "tasks_pending"):
        if c[key]:
            parts.append(f"{c[key]} {key.removeprefix('tasks_').replace('_', ' ')}")
    return ", ".join(parts)


# -- the live sidecar ----------------------------------------------------------------------------------------------


def _state_path(value: str | None) -> Path | None:
    if value == "none":
        return None
    base = Path(value) if value else Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
    directory = base if value else base / "luigi-exporter"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"--state-dir {directory}: {err.strerror} (choose a writable directory)", EXIT_CONFIG) from err
    return directory / "luigi-exporter.sqlite"


class _Sidecar:
    """Store, pipeline, metrics and the HTTP server, set up for `watch` and `run` alike."""

    def __init__(self, args: argparse.Namespace) -> None:
        path = _state_path(args.state_dir)
        try:
            self.store = Store(path)
        except Exception as err:  # sqlite3.DatabaseError and friends: say which file and what to do
            raise UserError(f"store {path}: {err} (move it aside or choose another --state-dir)", EXIT_CONFIG) from err
        self.pipeline = Pipeline(self.store, tz=_zone(args.tz), expected_tasks=args.expected_tasks)
        self.registry = CollectorRegistry(auto_describe=False)
        self.lag: dict[str, int] = {}
        retention = Retention(args.retain_runs, args.retain_for)
        self.registry.register(LuigiCollector(self.pipeline, self.store, retention, lag=lambda: dict(self.lag)))
        host, port = args.listen
        try:
            self.server = Server(host, port, self.pipeline, self.registry, args.jaeger_url)
        except OSError as err:
            self.store.close()
            raise UserError(f"--listen {host}:{port}: {err.strerror} (choose another port)", EXIT_PORT) from err
        self.server.start()
        bound = self.server.address
        log.info("serving http://%s:%d/ (metrics at /metrics)", bound[0], bound[1])

    def close(self) -> None:
        self.server.close()
        self.store.close()


def _stop_on_signals(stop: threading.Event) -> None:
    def handle(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def _watch(args: argparse.Namespace) -> int:
    sidecar = _Sidecar(args)
    stop = threading.Event()
    _stop_on_signals(stop)
    try:
        positions = catch_up(sidecar.pipeline, sidecar.store.positions())
        tailer = Tailer(args.globs, positions, use_inotify=not args.poll)
        sidecar.lag = tailer.lag_bytes()

        def refresh_lag() -> None:
            sidecar.lag = tailer.lag_bytes()

        try:
            follow(sidecar.pipeline, tailer, stop, after_poll=refresh_lag)
        finally:
            tailer.close()
    finally:
        sidecar.close()
    return 0


def _run(args: argparse.Namespace) -> int:
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise UserError("run needs a command after --, e.g. luigi-exporter run -- luigi --module m Task", EXIT_USAGE)
    sidecar = _Sidecar(args)
    try:
        try:
            command = Wrapped(argv, "command", sys.stdout.buffer, sys.stderr.buffer)
        except OSError as err:
            raise UserError(f"{argv[0]}: {err.strerror} (is it installed and on PATH?)", EXIT_INPUT) from err
        while not command.finished:
            lines = list(command.lines(timeout=0.25))
            if lines:
                sidecar.pipeline.feed(command.source, lines)
                sidecar.pipeline.commit()
        code = command.wait()
        sidecar.pipeline.finish(command.source)
        sidecar.pipeline.commit()
        if args.pushgateway:
            _push(args.pushgateway, sidecar.registry)
        if args.linger > 0:
            time.sleep(args.linger)
    finally:
        sidecar.close()
    failed = any(run_counts(r)["tasks_failed"] for r in sidecar.pipeline.runs())
    if code == 0 and failed and args.fail_on_task_failure:
        return 1
    return code if code >= 0 else 128 - code


def _push(url: str, registry: CollectorRegistry) -> None:
    try:
        push_to_gateway(url, job="luigi-exporter", registry=registry)
    except OSError as err:
        log.error("pushgateway %s: %s (the figures were not pushed)", url, err)


if __name__ == "__main__":
    sys.exit(main())
