"""The one value a source hands to the parser."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Line"]


class Line(NamedTuple):
    """One physical line of a log, without its line terminator.

    `offset` is the byte offset just past the line in its source, so a store can resume there; `arrival` is the
    wall-clock time the line was read when following a live file (None in replay, where only log times count).
    """

    source: str
    offset: int
    text: str
    arrival: float | None = None
