"""OpenTelemetry traces: one trace per run, one span per task attempt, delivered exactly once through the store.

On the pipeline thread, as the model changes: `exporter.sinks.spans` says which spans a batch finished,
`exporter.sinks.otlp` encodes each to OTLP protobuf, and `exporter.sinks.outbox` queues it in the batch's own
transaction, from where its delivery thread sends it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from exporter.model import Change
from exporter.sinks.spans import Span, SpanBuilder

if TYPE_CHECKING:
    from exporter.sinks.outbox import Outbox

__all__ = ["TraceSink"]


class TraceSink:
    """A Sink that turns runs into spans queued in `outbox`; `encode` makes a span's payload."""

    name = "traces"

    def __init__(self, outbox: Outbox, encode: Callable[[Span], bytes], external_url: str | None = None) -> None:
        self.outbox = outbox
        self._encode = encode
        self._spans = SpanBuilder(external_url)

    def apply(self, changes: Sequence[Change]) -> None:
        for span in self._spans.apply(changes):
            self.outbox.add(span.key, self._encode(span))

    def close(self) -> None:
        """Nothing to let go of: the outbox is closed by whoever started it."""
