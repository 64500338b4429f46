"""The table of Luigi's records against the Luigi installed: each origin names the line of Luigi's source that writes
the record, and that line holds the record's phrase (a Luigi release that rewords or moves a line fails here)."""

from __future__ import annotations

import re
from pathlib import Path

import luigi
import pytest

from exporter.records import MARKS, RECORDS, Record
from exporter.summary_block import SUMMARY_MARK

LUIGI = Path(luigi.__file__).parent
_ORIGIN = re.compile(r"^(\w+\.py):(\d+)")


def _source_line(origin: str) -> str:
    m = _ORIGIN.match(origin)
    assert m, f"an origin starts with FILE.py:LINE: {origin!r}"
    return (LUIGI / m[1]).read_text().splitlines()[int(m[2]) - 1]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.phrase.strip())
def test_each_record_is_quoted_from_the_luigi_line_that_writes_it(record: Record) -> None:
    assert record.phrase in _source_line(record.origin)


def test_phrases_are_distinct_and_the_summary_mark_is_luigis() -> None:
    phrases = [entry.phrase for entry in (*RECORDS, *MARKS)]
    assert len(set(phrases)) == len(phrases)
    assert SUMMARY_MARK in (LUIGI / "execution_summary.py").read_text()


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.phrase.strip())
def test_each_pattern_needs_its_phrase(record: Record) -> None:
    """The pre-filter passes over the lines without any phrase: a record's pattern must spell its phrase out."""
    assert record.phrase.strip() in record.pattern.pattern.replace("\\", "")
