"""The terminal view of runs: a `rich` live display on a terminal, plain lines elsewhere (CI logs, pipes).

It reads run dicts of the replay contract, like the web page, so every view shows the same figures. No thread runs
here: the caller decides when to `update`, and passes `now` (epoch seconds) for the running tasks' elapsed time.
Every text from a log goes through `printable` first: an escape sequence in an error must not drive the terminal.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from exporter.controls import printable
from exporter.report import ENDED, error_line, failures, format_duration, headline

__all__ = ["LiveView", "plain_lines", "render_runs", "transition_line"]

BAR_WIDTH = 40
_STATUS_STYLE = {
    "succeeded": "bold green",
    "failed": "bold red",
    "blocked": "bold yellow",
    "incomplete": "bold",
    "running": "bold blue",
    "scheduling": "bold blue",
}
# The bar's coloured parts, in order; what is left of its width is still to do.
_BAR_PARTS = (
    ("tasks_done", "green"),
    ("tasks_already_done", "dim green"),
    ("tasks_failed", "red"),
    ("tasks_upstream_failed", "yellow"),
)


def _eta(run: dict[str, Any]) -> str | None:
    """`eta_s` comes from the live sidecar only: a replayed run has none, an ended one needs none."""
    eta = run.get("eta_s")
    return None if eta is None or run["status"] in ENDED else f"ETA {format_duration(eta)}"


def _counts(run: dict[str, Any]) -> list[str]:
    parts = [f"{run['tasks_completed']}/{run['tasks_total']} done"]
    if run["tasks_failed"]:
        parts.append(f"{run['tasks_failed']} failed")
    if run["tasks_upstream_failed"]:
        parts.append(f"{run['tasks_upstream_failed']} upstream failed")
    if (eta := _eta(run)) is not None:
        parts.append(eta)
    return parts


def _failure_line(task: dict[str, Any]) -> str:
    attempts = f" after {task['attempts']} attempts" if task["attempts"] > 1 else ""
    return f"{task['state']} {task['family']}{attempts}: {error_line(task['error'])}"


def plain_lines(runs: list[dict[str, Any]], now: float | None) -> list[str]:
    """One line per run (`PlanExe_demo: Task 38 of 61: SWOTAnalysisTask | 37/61 done | 1 failed | ETA 2m10s`), an
    ended run's status last, then one indented line per failed task.

    `now` is unused: these lines change only when the figures do, so a caller printing changed lines prints few.
    """
    lines = []
    for run in runs:
        if run["status"] == "scheduling":  # the total grows task by task: one line for the whole walk
            lines.append(printable(f"{run['run_id']}: scheduling"))
            continue
        parts = [f"{run['run_id']}: {headline(run)}", *_counts(run)]
        if run["status"] in ENDED:
            parts.append(f"run {run['status']}")
        lines.append(printable(" | ".join(parts)))
        lines.extend(f"    {printable(_failure_line(task))}" for task in failures(run))
    return lines


def _bar(run: dict[str, Any]) -> Text:
    """A progress bar whose failed and upstream-failed parts show in their own colours (rich's has one colour)."""
    total = run["tasks_total"] or 1
    bar, counted = Text(), 0
    for key, style in _BAR_PARTS:
        # Cumulative rounding: the parts add up to the filled width whatever their sizes.
        start, counted = round(BAR_WIDTH * counted / total), counted + run[key]
        bar.append("━" * (round(BAR_WIDTH * counted / total) - start), style=style)
    bar.append("━" * (BAR_WIDTH - len(bar)), style="grey23")
    return bar


def _run_view(run: dict[str, Any], now: float | None) -> RenderableType:
    # Texts are assembled, never parsed as markup: task names and errors come from logs.
    title = Text.assemble((printable(run["run_id"]), "bold"), " ", (printable(run["pipeline"] or "?"), "dim"), " ")
    title.append(run["status"], style=_STATUS_STYLE.get(run["status"], "bold"))
    rows: list[RenderableType] = [
        title,
        Text(printable(headline(run))),
        Text.assemble(_bar(run), " ", " · ".join(_counts(run))),
    ]
    for task in (t for t in run["tasks"] if t["state"] == "running"):
        started = task["started_at"]
        elapsed = f"  {format_duration(now - started)}" if now is not None and started is not None else ""
        rows.append(Text.assemble(("  ▶ ", "blue"), printable(task["family"]), (elapsed, "dim")))
    rows.extend(Text.assemble(("  ✗ ", "red"), (printable(_failure_line(task)), "red")) for task in failures(run))
    return Group(*rows)


def render_runs(runs: list[dict[str, Any]], now: float | None) -> RenderableType:
    """Every run: its headline, a progress bar with the counts and ETA, its running tasks with their elapsed time
    (when `now` is given), and its failures with their error's last line."""
    if not runs:
        return Text("No Luigi run found yet.", style="dim")
    views: list[RenderableType] = []
    for run in runs:
        if views:
            views.append(Text())
        views.append(_run_view(run, now))
    return Group(*views)


# The task states worth a line of their own off a terminal: a task starting, or an attempt's end. Upstream failures
# come in dozens at a build's end and are counted in its last line instead.
_NEWS = frozenset({"running", "done", "failed", "disabled"})


def transition_line(run: dict[str, Any], task: dict[str, Any]) -> str:
    """One task's transition: `PlanExe_demo: SWOTAnalysisTask failed | 37/61 done | 1 failed`."""
    return " | ".join([f"{run['run_id']}: {task['family']} {task['state']}", *_counts(run)])


class LiveView:
    """The console view: redrawn in place on a terminal; on anything else (a CI log, a pipe) one line per change:
    a run's plain lines when it is first seen and when it ends, and one `transition_line` per task between.

    Live's auto-refresh thread is off: the display changes only in `update`, on the caller's thread.
    """

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self._live = Live(console=self.console, auto_refresh=False) if self.console.is_terminal else None
        # Per run id: its status and each task's state at the last update (the attempts count tells a retry).
        self._seen: dict[str, tuple[str, dict[str, tuple[str, int]]]] = {}

    def update(self, runs: list[dict[str, Any]], now: float | None) -> None:
        if self._live is not None:
            if not self._live.is_started:
                self._live.start()
            self._live.update(render_runs(runs, now), refresh=True)
            return
        for run in runs:
            states = {t["task_id"]: (t["state"], t["attempts"]) for t in run["tasks"]}
            seen = self._seen.get(run["run_id"])
            self._seen[run["run_id"]] = (run["status"], states)
            if seen is None:
                self._print(plain_lines([run], now))
                continue
            status, before = seen
            self._print(
                transition_line(run, task)
                for task in run["tasks"]
                if task["state"] in _NEWS and before.get(task["task_id"]) != states[task["task_id"]]
            )
            if run["status"] != status and run["status"] in ENDED:
                self._print(plain_lines([run], now))

    def _print(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
