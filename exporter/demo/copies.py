"""Copies of a recorded build as further builds would write them, for logs of many builds (tests, benchmarks)."""

from __future__ import annotations

import re

__all__ = ["unique_workers"]

_SALT = re.compile(rb"Worker\(salt=(\d+)")


def unique_workers(blob: bytes, copy: int) -> bytes:
    """A copy of a build as another build would write it: Luigi draws a new worker salt per build, and the model
    routes worker lines by worker id, so copies sharing ids would be one build's worker running in all of them."""
    return _SALT.sub(lambda m: b"Worker(salt=%s%06d" % (m[1], copy), blob)
