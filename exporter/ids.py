"""Deterministic trace and span ids: the same log gives the same ids on every replay and after every restart, so a
tracing backend dedupes a re-sent span instead of showing it twice (and metrics exemplars point at real traces)."""

from __future__ import annotations

import hashlib

__all__ = ["span_id", "trace_id"]


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("\x00".join(str(p) for p in parts).encode("utf-8", "surrogatepass")).digest()


def trace_id(source: str, run_id: str) -> int:
    """128-bit trace id of one run (never 0, as W3C trace context requires)."""
    return int.from_bytes(_digest("trace", source, run_id)[:16], "big") or 1


def span_id(source: str, run_id: str, *key: object) -> int:
    """64-bit span id of one part of a run: ("run",), ("scheduling",), or (task_id, attempt)."""
    return int.from_bytes(_digest("span", source, run_id, *key)[:8], "big") or 1
