"""The HTML report: one self-contained file of runs, to keep beside a build's log or attach to a ticket.

It embeds the replay contract's document and draws it with the live page's own renderer (`exporter/web/render.js`),
inlined with the stylesheet so the file needs no network. A server-side table of every task, built with
`html.escape`, keeps it readable where scripts don't run. The text helpers here are shared with the console view.
"""

from __future__ import annotations

import json
from datetime import datetime
from html import escape
from importlib.resources import files
from typing import Any

from exporter.contract import ENDED, error_line
from exporter.contract import headline as contract_headline
from exporter.model import FAILED_STATES

__all__ = ["ENDED", "error_line", "failures", "format_duration", "headline", "render_report"]

_TOTALS = (
    "tasks_total",
    "tasks_completed",
    "tasks_done",
    "tasks_already_done",
    "tasks_failed",
    "tasks_running",
    "tasks_pending",
    "tasks_upstream_failed",
)


def format_duration(seconds: float) -> str:
    """4.2s, 42s, 2m10s, 1h05m: precise where it is short, the same as render.js's formatDuration."""
    s = max(0.0, seconds)
    if s < 10:
        return f"{s:.1f}s"
    r = round(s)
    if r < 60:
        return f"{r}s"
    if r < 3600:
        return f"{r // 60}m{r % 60:02d}s"
    return f"{r // 3600}h{r % 3600 // 60:02d}m"


def headline(run: dict[str, Any]) -> str:
    """A run document's headline (`contract.headline`), also for documents stored before the field was."""
    if "headline" in run:
        return run["headline"]
    running = sorted((t for t in run["tasks"] if t["state"] == "running"), key=lambda t: t["started_at"] or 0)
    return contract_headline(run["status"], run["tasks_total"], run["tasks_completed"], (t["family"] for t in running))


def failures(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The tasks counted in tasks_failed."""
    return [t for t in run["tasks"] if t["state"] in FAILED_STATES]


def render_report(document: dict[str, Any], *, title: str | None = None, jaeger_url: str | None = None) -> str:
    """The report of a replay contract document (`{"runs": [...], "lines_read": N, "lines_unparsed": N}`)."""
    web = files("exporter.web")
    style = web.joinpath("style.css").read_text("utf-8")
    script = web.joinpath("render.js").read_text("utf-8")
    title = title or ", ".join(r["run_id"] for r in document["runs"]) or "Luigi runs"
    boot = (
        "LuigiRender.render(document.getElementById('runs'),"
        " JSON.parse(document.getElementById('data').textContent),"
        " {jaegerUrl: JSON.parse(document.getElementById('config').textContent).jaeger_url, now: null});"
    )
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title>",
            f"<style>\n{style}</style>",
            "</head>",
            "<body>",
            f'<header class="page-header"><h1>{escape(title)}</h1></header>',
            '<main id="runs"></main>',
            '<section class="static">',
            "<h2>Tasks</h2>",
            *(_static_run(run) for run in document["runs"]),
            f'<p class="lines">{document["lines_read"]} lines read, {document["lines_unparsed"]} unparsed</p>',
            "</section>",
            f'<script type="application/json" id="data">{_json(document)}</script>',
            f'<script type="application/json" id="config">{_json({"jaeger_url": jaeger_url})}</script>',
            f"<script>\n{script}</script>",
            f"<script>{boot}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )


def _json(value: Any) -> str:
    """JSON safe inside a <script> element: no `<` at all, so no `</script>` or `<!--` can come from the data."""
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _time(epoch: float | None) -> str:
    if epoch is None:
        return "?"
    return datetime.fromtimestamp(epoch).astimezone().isoformat(sep=" ", timespec="seconds")


def _static_run(run: dict[str, Any]) -> str:
    run_id = escape(run["run_id"])
    status = escape(run["status"])
    meta = [f"pipeline {run['pipeline'] or '?'}", f"started {_time(run['started_at'])}"]
    if run["ended_at"] is not None:
        meta.append(f"ended {_time(run['ended_at'])}")
    if run["summary"] and run["summary"]["reason"]:
        meta.append(run["summary"]["reason"])
    totals = "".join(
        f'<tr><th>{key.removeprefix("tasks_").replace("_", " ")}</th><td class="number">{run[key]}</td></tr>'
        for key in _TOTALS
    )
    rows = "\n".join(_task_row(task) for task in run["tasks"])
    return "\n".join(
        [
            f'<h3>{run_id} <span class="badge status-{status}">{status}</span></h3>',
            f'<p class="meta">{escape(headline(run))} · {escape(" · ".join(meta))}</p>',
            f'<table class="totals" data-run="{run_id}"><tbody>{totals}</tbody></table>',
            f'<table class="tasks" data-run="{run_id}">',
            "<thead><tr><th>Task</th><th>State</th><th>Attempts</th><th>Duration</th><th>Error</th></tr></thead>",
            f"<tbody>\n{rows}\n</tbody></table>",
        ]
    )


def _task_row(task: dict[str, Any]) -> str:
    about = "\n".join([task["task_id"], *(f"{k}={v}" for k, v in task["params"].items())])
    duration = format_duration(task["duration_s"]) if task["duration_s"] is not None else ""
    error = escape(error_line(task["error"])) if task["error"] else ""
    return (
        f'<tr class="state-{escape(task["state"])}">'
        f'<td title="{escape(about)}">{escape(task["family"])}</td>'
        f"<td>{escape(task['state'])}</td>"
        f'<td class="number">{task["attempts"]}</td>'
        f'<td class="number">{duration}</td>'
        f'<td class="error">{error}</td></tr>'
    )
