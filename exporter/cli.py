"""`luigi-exporter`: replay (more commands in later issues). Errors are one line, with an exit code per kind."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from exporter.contract import run_counts, run_dict
from exporter.model import Run
from exporter.replay import Replay, replay_file
from exporter.sources.files import expand, is_readable_file

__all__ = ["main"]

EXIT_USAGE = 64  # bad arguments (argparse itself exits 2 for syntax errors, like every argparse tool)
EXIT_INPUT = 2  # a file that can't be read


class UsageError(Exception):
    """Bad configuration given on the command line; the message is the one line the user sees."""


def _zone(name: str | None) -> tzinfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise UsageError(f"--tz {name}: unknown time zone (use an IANA name such as Europe/Copenhagen or UTC)") from err


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="luigi-exporter", description="Observe Luigi pipelines from their logs.")
    commands = parser.add_subparsers(dest="command", required=True)
    replay = commands.add_parser("replay", help="reconstruct every run in whole log files")
    replay.add_argument("files", nargs="+", metavar="FILE", help="log files or globs (e.g. 'run/*/log.txt')")
    replay.add_argument("--json", action="store_true", help="print the runs as JSON (the replay contract)")
    replay.add_argument("--tz", metavar="ZONE", help="zone of log timestamps that carry none (default: local)")
    replay.add_argument(
        "--expected-tasks", type=int, metavar="N", help="total to show before a build's scheduling is seen"
    )
    return parser


def _replay(args: argparse.Namespace) -> int:
    tz = _zone(args.tz)
    result = Replay()
    for path in expand(args.files):
        reason = is_readable_file(path)
        if reason is not None:
            print(f"luigi-exporter: {reason}", file=sys.stderr)
            return EXIT_INPUT
        try:
            replay_file(path, tz, args.expected_tasks, into=result)
        except OSError as err:
            print(f"luigi-exporter: {path}: {err.strerror or err}", file=sys.stderr)
            return EXIT_INPUT
    if args.json:
        document = {
            "runs": [run_dict(run) for run in result.runs],
            "lines_read": result.lines_read,
            "lines_unparsed": result.lines_unparsed + result.lines_cut,
        }
        json.dump(document, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        _print_human(result)
    return 0


def _print_human(result: Replay) -> None:
    if not result.runs:
        print(f"no Luigi run found ({result.lines_read} lines read)")
    for run in result.runs:
        print(_run_line(run))
        for task in run.tasks.values():
            if task.state.value == "failed":
                error = next((a.error for a in reversed(task.attempts) if a.error), task.error) or ""
                last = error.strip().splitlines()[-1] if error.strip() else "no error text in the log"
                print(f"    failed  {task.family}: {last}")


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


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "replay":
            return _replay(args)
    except UsageError as err:
        print(f"luigi-exporter: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
