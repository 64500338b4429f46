"""`luigi-exporter`: replay, watch, run, status, report. Errors are one line saying what to do, with an exit code
per kind."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

from exporter import __version__, app
from exporter.config import Replay, Watch
from exporter.controls import PrintableFormatter, printable
from exporter.options import (
    EXIT_CONFIG,
    EXIT_INPUT,
    EXIT_PIPE,
    EXIT_USAGE,
    HTTP_IDLE_TIMEOUT,
    HTTP_MAX_CONNECTIONS,
    UserError,
    config_of,
    live_of,
    redactor_of,
    state_path,
    wrap_of,
    write_report,
    zone,
)

if TYPE_CHECKING:
    from exporter.sinks.store import Store

__all__ = ["main", "tune_gc"]

log = logging.getLogger("luigi_exporter")


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


def _positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    def parse(value: str) -> int | float:
        try:
            number = kind(value)
        except ValueError:
            number = 0
        if number <= 0:
            raise argparse.ArgumentTypeError(f"{value!r} is not a positive number")
        return number

    return parse


MAX_RUN_METRICS = 1000  # each run makes ~17 series (exporter/sinks/run_families.py): 17,000 at most


def _run_metrics(value: str) -> int:
    if not value.isdigit() or int(value) > MAX_RUN_METRICS:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of runs from 0 to {MAX_RUN_METRICS}")
    return int(value)


class _ArgumentParser(argparse.ArgumentParser):
    """argparse, with a usage error as one line and exit code 64 (subcommands inherit it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"luigi-exporter: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(prog="luigi-exporter", description="Observe Luigi pipelines from their logs.")
    parser.add_argument("--version", action="version", version=f"luigi-exporter {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--tz", metavar="ZONE", help="zone of log timestamps written without one (default: local)")
    common.add_argument("--expected-tasks", type=int, metavar="N", help="total to show before scheduling is seen")
    common.add_argument(
        "--redact",
        action="append",
        default=[],
        metavar="REGEX",
        help="also redact params whose name matches (default: api_key, token, password, secret, credential, auth...)",
    )

    live = argparse.ArgumentParser(add_help=False)
    live.add_argument(
        "--cors-origin",
        metavar="ORIGIN",
        help="let pages of ORIGIN (e.g. https://app.example.com, or *) read /api/ from a browser",
    )
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
    live.add_argument(
        "--stale-after",
        type=_duration,
        default=1800.0,
        metavar="DURATION",
        help="a build silent this long is over, incomplete (default 30m; a killed build on this host ends at once)",
    )
    live.add_argument(
        "--run-metrics",
        type=_run_metrics,
        default=0,
        metavar="N",
        help="also serve per-run series (run_id) for the runs going on and the N newest finished ones retained"
        f" (at most {MAX_RUN_METRICS}; default 0: per pipeline only)",
    )
    live.add_argument("--jaeger-url", metavar="URL", help="link runs on the live page to this Jaeger UI")
    live.add_argument(
        "--web.config.file",
        dest="web_config",
        metavar="FILE",
        help="TLS and basic auth, in the format of Prometheus's exporter-toolkit (tls_server_config, basic_auth_users)",
    )
    live.add_argument(
        "--http.max-connections",
        dest="max_connections",
        type=_positive(int),
        default=HTTP_MAX_CONNECTIONS,
        metavar="N",
        help=f"connections served at once; one more is answered 503 (default {HTTP_MAX_CONNECTIONS})",
    )
    live.add_argument(
        "--http.idle-timeout",
        dest="idle_timeout",
        type=_positive(float),
        default=HTTP_IDLE_TIMEOUT,
        metavar="SECONDS",
        help=f"close a connection silent this long, mid-request too (default {HTTP_IDLE_TIMEOUT:g})",
    )
    live.add_argument(
        "--otlp",
        action=argparse.BooleanOptionalAction,
        help="send traces over OTLP, configured by OTEL_* (default: on when OTEL_EXPORTER_OTLP_ENDPOINT is set)",
    )
    outbox = argparse.ArgumentParser(add_help=False)
    outbox.add_argument(
        "--outbox-max",
        type=int,
        default=100_000,
        metavar="N",
        help="spans kept while the collector is unreachable, the oldest dropped beyond (default 100000)",
    )
    outbox.add_argument(
        "--external-url",
        metavar="URL",
        help="the sidecar as users reach it: spans link to their run at URL/api/runs/RUN_ID (cicd.*.url.full)",
    )

    replay = commands.add_parser("replay", parents=[common, outbox], help="reconstruct every run in whole log files")
    replay.add_argument("files", nargs="+", metavar="FILE", help="log files or globs (e.g. 'run/*/log.txt')")
    replay.add_argument("--json", action="store_true", help="print the runs as JSON (the replay contract)")
    replay.add_argument("--otlp", action="store_true", help="send the runs' traces over OTLP, configured by OTEL_*")

    watch = commands.add_parser("watch", parents=[common, live, outbox], help="follow log files live and serve metrics")
    watch.add_argument("globs", nargs="+", metavar="GLOB", help="files to follow, e.g. 'runs/*/log.txt' (quoted)")
    watch.add_argument("--poll", action="store_true", help="poll instead of inotify (network filesystems)")

    run = commands.add_parser("run", parents=[common, live, outbox], help="run a Luigi command and observe it")
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
    run.add_argument(
        "--view",
        action="store_true",
        help="show live progress instead of the command's output (plain lines when not a terminal)",
    )
    run.add_argument("--output", metavar="FILE", help="with --view: write the command's output here")
    run.add_argument("--report", metavar="FILE", help="write the HTML report of the runs here at the end")
    run.add_argument("--run-id", metavar="NAME", help="name of the command's run (default run-YYYYmmdd-HHMMSS)")
    run.add_argument(
        "--retries",
        type=int,
        default=0,
        metavar="N",
        help="run the command again, up to N times, while its build has failed tasks (Luigi runs only the incomplete)",
    )
    run.add_argument(
        "--retry-delay", type=float, default=0.0, metavar="SECONDS", help="wait this long before each retry"
    )
    run.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND...")

    status = commands.add_parser("status", help="show the runs in the store (progress, running tasks, failures)")
    status.add_argument("--state-dir", metavar="DIR", help="the store of a sidecar (default as for watch)")
    status.add_argument("--follow", action="store_true", help="keep the view up to date until interrupted")

    report = commands.add_parser("report", parents=[common], help="write a self-contained HTML report of runs")
    report.add_argument("what", metavar="RUN_LOG_OR_ID", help="a log file (replayed) or a run id in the store")
    report.add_argument("-o", "--output", required=True, metavar="FILE", help="where to write the HTML")
    report.add_argument("--state-dir", metavar="DIR", help="the store to look a run id up in")
    report.add_argument("--jaeger-url", metavar="URL", help="link each run to its trace in this Jaeger UI")
    return parser


def tune_gc() -> None:
    """The model allocates small objects on every Luigi line, and CPython's default (a collection every 700
    allocations, scanning the imports' objects too) took ~15% of replay: collect less often, skip what was loaded."""
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


# glibc's malloc.h: mallopt's parameters M_TRIM_THRESHOLD and M_MMAP_THRESHOLD.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def tune_malloc() -> bool:
    """Replay reads a file in megabyte blocks, and glibc gave each one freed back to the kernel at once (its trim
    threshold follows the mmap threshold, 128 KB at first), so every block was read into fresh zeroed pages: 46k
    page faults and ~7% of replay's wall time on the benchmark's log. Blocks stay on the heap, and up to 16 MB of
    it freed. False where the C library has no mallopt (not glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes  # only replay needs it

    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    return (
        mallopt is not None and bool(mallopt(_M_MMAP_THRESHOLD, 4 << 20)) and bool(mallopt(_M_TRIM_THRESHOLD, 16 << 20))
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(PrintableFormatter("luigi-exporter: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    tune_gc()
    try:
        if args.command == "replay":
            tune_malloc()
            return app.replay(config_of(args), Replay(tuple(args.files), json=args.json))
        if args.command == "watch":
            return app.watch(config_of(args, live_of(args)), Watch(tuple(args.globs), poll=args.poll))
        if args.command == "run":
            return app.run(config_of(args, live_of(args)), wrap_of(args))
        return {"status": _status, "report": _report}[args.command](args)
    except UserError as err:
        print(printable(f"luigi-exporter: {err}"), file=sys.stderr)
        return err.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `replay --json ... | head`: the reader left, which is no error to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nor at exit, when Python flushes stdout
        return EXIT_PIPE


# -- status and report ----------------------------------------------------------------------------------------------


def _open_store(state_dir: str | None) -> Store:
    from exporter.sinks.store import Store

    path = state_path(state_dir)
    if path is None or not path.exists():
        raise UserError(f"no store at {path} (start `luigi-exporter watch` or pass --state-dir)", EXIT_CONFIG)
    try:
        return Store(path)
    except Exception as err:
        raise UserError(f"store {path}: {err} (is it a luigi-exporter state directory?)", EXIT_CONFIG) from err


def _status(args: argparse.Namespace) -> int:
    from rich.console import Console

    from exporter.sinks.console import LiveView

    store = _open_store(args.state_dir)
    view = LiveView(Console())
    try:
        while True:
            view.update(store.documents(), time.time())
            if not args.follow:
                break
            time.sleep(1.0)
    finally:
        view.close()
        store.close()
    return 0


def _report(args: argparse.Namespace) -> int:
    if os.path.exists(args.what):
        import luigi_exporter

        redactor_of(args.redact)  # a bad --redact is bad usage, said before reading
        try:
            document = luigi_exporter.read_document(
                args.what, tz=zone(args.tz), expected_tasks=args.expected_tasks, redact=args.redact
            )
        except OSError as err:
            raise UserError(str(err), EXIT_INPUT) from err
    else:
        store = _open_store(args.state_dir)
        try:
            runs = [r for r in store.documents() if r["run_id"] == args.what]
        finally:
            store.close()
        if not runs:
            raise UserError(f"{args.what}: neither a log file nor a run id in the store", EXIT_INPUT)
        document = {"runs": runs, "lines_read": 0, "lines_unparsed": 0}
    write_report(args.output, document, args.jaeger_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
