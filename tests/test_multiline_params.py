"""Param values holding newlines, ANSI colours or an open bracket: Luigi writes their reprs over several lines and
with the escapes in them; every task is found under Luigi's own id, none made up from a piece of a repr."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import replay, run_pipeline
from truth import assert_run_matches, load

from exporter.documents import Documents
from exporter.lines import Line
from exporter.pipeline import Pipeline


def test_multiline_and_coloured_params_replay_exactly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log, truth, code = run_pipeline("multiline", tmp_path)
    assert code == 1  # Leaf(text="tail\n") fails on purpose
    (run,) = replay(capsys, log)["runs"]
    assert run["tasks_total"] == run["summary"]["scheduled"]
    assert_run_matches(run, load(str(truth)), 0.001)
    params = {t["params"].get("text") for t in run["tasks"] if t["family"] == "Leaf"}
    assert {"first line\nsecond line", "\x1b[31mred\x1b[0m text", "a\nb, c=d\nis complete"} <= params
    (failed,) = [t for t in run["tasks"] if t["state"] == "failed"]
    assert failed["error"].startswith("Traceback") and failed["error"].endswith("ValueError: bad value\nspanning lines")


def test_a_repr_continued_line_by_line_reads_as_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same log fed a line at a time (the live path) gives the document of the file read in blocks."""
    log, _, _ = run_pipeline("multiline", tmp_path)
    (whole,) = replay(capsys, log)["runs"]
    pipeline = Pipeline()
    offset = 0
    for text in log.read_text().split("\n")[:-1]:
        offset += len(text.encode()) + 1
        pipeline.feed(str(log), [Line(str(log), offset, text)])
    pipeline.finish(str(log))
    (document,) = Documents(pipeline).all()
    assert {t["task_id"]: t for t in document["tasks"]} == {t["task_id"]: t for t in whole["tasks"]}
