"""The HTML report of a real demo build: its server-side tables equal the replay, its data round-trips, untrusted
text stays text, and (where Chromium is installed) the shared renderer draws it."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from html.parser import HTMLParser
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from browser import chromium
from conftest import run_demo

from exporter.cli import main
from exporter.report import error_line, render_report

EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`replay --json` of a 4-worker build whose SWOTAnalysisTask fails (23 tasks then never run)."""
    run_dir = tmp_path_factory.mktemp("report") / "PlanExe_report"
    proc = run_demo(run_dir, "--speed", "0.01", "--workers", "4", "--ms", "--fail", "SWOTAnalysisTask")
    assert proc.returncode == 1, proc.stderr[-2000:]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["replay", "--json", str(run_dir / "log.txt")]) == 0
    return json.loads(out.getvalue())


class Page(HTMLParser):
    """The parts of a report the tests read: tables (by class) as rows of cell texts, scripts, and every start tag."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self.scripts: dict[str | None, str] = {}
        self.tags: list[str] = []
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self._script: str | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        attr = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(attr.get("class") or "", [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
        elif tag == "script":
            self._script = attr.get("id") or f"inline-{len(self.scripts)}"
            self.scripts[self._script] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self._table[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._script is not None:
            self.scripts[self._script] += data


def test_tables_show_the_replayed_totals_and_every_task(document: dict[str, Any]) -> None:
    (run,) = document["runs"]
    page = Page(render_report(document))
    totals = {label: int(value) for label, value in page.tables["totals"]}
    assert totals == {
        "total": run["tasks_total"],
        "completed": run["tasks_completed"],
        "done": run["tasks_done"],
        "already done": run["tasks_already_done"],
        "failed": run["tasks_failed"],
        "running": run["tasks_running"],
        "pending": run["tasks_pending"],
        "upstream failed": run["tasks_upstream_failed"],
    }
    assert (totals["total"], totals["done"], totals["failed"], totals["upstream failed"]) == (61, 37, 1, 23)
    header, *rows = page.tables["tasks"]
    assert header == ["Task", "State", "Attempts", "Duration", "Error"]
    assert [(r[0], r[1], int(r[2])) for r in rows] == [(t["family"], t["state"], t["attempts"]) for t in run["tasks"]]
    (failed,) = [r for r in rows if r[1] == "failed"]
    assert failed[0] == "SWOTAnalysisTask"
    assert failed[4] == error_line(run["tasks"][[t["state"] for t in run["tasks"]].index("failed")]["error"])
    assert failed[4].startswith("Exception: Failed to run SWOTAnalysisTask with any of the LLMs in the list")


def test_embedded_data_round_trips(document: dict[str, Any]) -> None:
    page = Page(render_report(document, jaeger_url="http://jaeger:16686"))
    assert json.loads(page.scripts["data"]) == document
    assert json.loads(page.scripts["config"]) == {"jaeger_url": "http://jaeger:16686"}


def test_untrusted_param_and_error_stay_text(document: dict[str, Any]) -> None:
    evil = copy.deepcopy(document)
    (run,) = evil["runs"]
    run["tasks"][0]["params"]["note"] = EVIL
    failed = next(t for t in run["tasks"] if t["state"] == "failed")
    failed["error"] += "\n</script><script>alert(2)</script>"
    html = render_report(evil, title=EVIL)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the title and the task's hover text
    assert "&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in html  # the error column
    page = Page(html)
    assert page.tags.count("script") == 4  # data, config, render.js, the call to it: nothing from the data
    assert json.loads(page.scripts["data"]) == evil


def test_report_is_self_contained(document: dict[str, Any]) -> None:
    html = render_report(document)
    web = files("exporter.web")
    assert web.joinpath("render.js").read_text("utf-8") in html
    assert web.joinpath("style.css").read_text("utf-8") in html
    assert "<link" not in html
    assert " src=" not in html
    # Data reaches the DOM as text only (task params and tracebacks are untrusted).
    assert "innerHTML" not in web.joinpath("render.js").read_text("utf-8")


def test_browser_draws_the_report(document: dict[str, Any], tmp_path: Path) -> None:
    evil = copy.deepcopy(document)
    (run,) = evil["runs"]
    run["tasks"][0]["params"]["note"] = EVIL
    run["trace_id"] = "4bf92f3577b34da6a3ce929d0e0e4736"
    report = tmp_path / "report.html"
    report.write_text(render_report(evil, jaeger_url="http://jaeger:16686/"), "utf-8")
    dom = chromium(tmp_path, "--dump-dom", report.as_uri())
    drawn = dom[dom.index('<main id="runs">') : dom.index("</main>")]
    attempts = sum(t["attempts"] for t in run["tasks"])
    assert drawn.count('class="bar result-') == attempts == 38
    assert drawn.count('class="bar result-failure"') == 1
    assert drawn.count('class="chip state-upstream_failed"') == run["tasks_upstream_failed"]
    assert '<p class="headline">37 of 61 complete</p>' in drawn
    assert '<p class="counts">37/61 done · 1 failed · 23 upstream failed</p>' in drawn
    assert 'href="http://jaeger:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736"' in drawn
    assert "Exception: Failed to run SWOTAnalysisTask with any of the LLMs" in drawn
    assert "<script" not in drawn
