"""The time of a log line: the timestamp its handler wrote, read the way Python's logging writes `%(asctime)s`.

`logging.Formatter.formatTime` writes `YYYY-mm-dd HH:MM:SS,mmm` by default; applications set other separators
(`T`, `.`) and fractions, or drop the fraction (PlanExe's `%Y-%m-%d %H:%M:%S`). A timestamp carries no zone, so the
reader is given one (None: the machine's local zone). Lines without one take the time they were read.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

__all__ = ["Timestamps"]

_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:[,.](\d{1,6}))?")
_FRACTION = re.compile(r"(?:[,.](\d{1,6}))?")  # _TIMESTAMP's tail, matched after a cached head
_SEARCHED = 64  # a timestamp further into a line is part of its message, not its header
_CACHED = 4096  # distinct seconds remembered: a log's lines come in time order, so a few would do


class Timestamps:
    """Reads lines' timestamps into epoch seconds, remembering each second already converted: a build writes many
    lines a second, and converting a naive time in a zone costs far more than a dict lookup."""

    def __init__(self, tz: tzinfo | None = None) -> None:
        self._tz = tz
        self._epochs: dict[str, float] = {}

    def of(self, text: str, arrival: float | None) -> float | None:
        """The line's own timestamp, else the time it was read (`arrival`, None in replay)."""
        epoch = self._epochs.get(text[:19])  # most lines start with their timestamp: no search for those
        if epoch is not None:
            if text[19:20] not in (",", "."):  # whole seconds: what _FRACTION would find is nothing
                return epoch
            millis = text[20:23]  # logging's default `,mmm`: what _FRACTION finds there, read without the regex
            if len(millis) == 3 and millis.isascii() and millis.isdecimal() and not text[23:24].isdecimal():
                return epoch + int(millis) / 10**3
            m = _FRACTION.match(text, 19)
            return epoch + (int(m[1]) / 10 ** len(m[1]) if m and m[1] else 0.0)
        m = _TIMESTAMP.search(text, 0, _SEARCHED)
        if m is None:
            return arrival
        key = f"{m[1]} {m[2]}"
        epoch = self._epochs.get(key)
        if epoch is None:
            epoch = self._epoch(key)
            if epoch is None:
                return arrival
            if len(self._epochs) > _CACHED:
                self._epochs.clear()
            self._epochs[key] = epoch
            if m.start() == 0:
                self._epochs[m[0][:19]] = epoch  # as written (`T` or space), for the lookup above
        fraction = m[3]
        return epoch + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)

    def _epoch(self, key: str) -> float | None:
        """`YYYY-mm-dd HH:MM:SS` in the reader's zone as epoch seconds; None for a date that does not exist."""
        try:
            if key.isascii():  # what strptime gives, at a tenth of its cost (and without importing it on a line)
                naive = datetime(
                    int(key[:4]), int(key[5:7]), int(key[8:10]), int(key[11:13]), int(key[14:16]), int(key[17:])
                )
            else:  # digits of other scripts, which strptime takes in some places and not in others
                naive = datetime.strptime(key, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return None
        return (naive.replace(tzinfo=self._tz) if self._tz is not None else naive).timestamp()
