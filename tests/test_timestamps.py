"""A line's time read from its timestamp: the same whether its second was read before (cached) or not."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from exporter.timestamps import Timestamps

DIGITS = st.text(st.sampled_from("0123456789٣"), min_size=1, max_size=7)  # ASCII, and another script's digit


@given(separator=st.sampled_from(",."), fraction=DIGITS, rest=st.sampled_from(["", " - luigi", "7", "٣", ","]))
def test_a_fraction_reads_the_same_on_a_second_already_seen(separator: str, fraction: str, rest: str) -> None:
    text = f"2026-11-24 23:05:17{separator}{fraction}{rest}"
    first = Timestamps(timezone.utc).of(text, None)  # the search, nothing cached
    seen = Timestamps(timezone.utc)
    seen.of("2026-11-24 23:05:17 - luigi-interface - INFO - the second's first line", None)
    assert seen.of(text, None) == first


def test_logging_default_format_and_whole_seconds() -> None:
    stamps = Timestamps(timezone.utc)
    second = datetime(2026, 11, 24, 23, 5, 17, tzinfo=timezone.utc).timestamp()
    assert stamps.of("2026-11-24 23:05:17,226 - luigi-interface - INFO - x", None) == second + 0.226
    assert stamps.of("2026-11-24 23:05:17,226 - luigi-interface - INFO - x", None) == second + 0.226  # cached
    assert stamps.of("2026-11-24 23:05:17 - luigi-interface - INFO - x", None) == second
    assert stamps.of("INFO: no time at all", 12.5) == 12.5
