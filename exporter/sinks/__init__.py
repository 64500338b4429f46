"""Sinks: what reads the model's changes (store, metrics, traces, console). Data never flows back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from exporter.model import Change

__all__ = ["Sink"]


class Sink(Protocol):
    """A consumer of model changes, plugged in like a SpanProcessor.

    `apply` runs on the pipeline thread with the changes of one batch of lines, after the model applied them; it must
    not block for long and must not raise (the pipeline counts and logs a sink that does, and goes on). `close` is
    called once at shutdown.
    """

    name: str

    def apply(self, changes: Sequence[Change]) -> None: ...

    def close(self) -> None: ...
