"""Which finished runs the live model keeps (and /metrics shows); the store keeps them all."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.model import Run

__all__ = ["Retention", "retained"]


@dataclass(frozen=True)
class Retention:
    """How long finished runs stay on /metrics (they stay in the store): the newest `runs`, or those that ended
    within `seconds` when that is set."""

    runs: int = 20
    seconds: float | None = None


def retained(runs: list[Run], retention: Retention, now: float) -> list[Run]:
    """Unfinished runs, and the finished ones `retention` keeps (the latest to end; on a tie, the latest read)."""
    finished = [(r.ended_at or r.last_event_at or 0.0, i, r) for i, r in enumerate(runs) if r.ended]
    finished.sort(key=lambda item: item[:2], reverse=True)
    if retention.seconds is not None:
        keep = {id(r) for end, _, r in finished if end >= now - retention.seconds}
    else:
        keep = {id(r) for _, _, r in finished[: retention.runs]}
    return [r for r in runs if not r.ended or id(r) in keep]
