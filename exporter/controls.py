"""Log text made safe for a terminal: no byte of it may drive the terminal it is shown on.

An error or a task param can hold any escape sequence (ECMA-48): an OSC sets the window title, writes the
clipboard (`ESC ]52`) or makes a hyperlink; `ESC c` resets the terminal; a DCS queries it and has the answer typed
in; C1 bytes (U+0080-U+009F) do the same as their ESC forms on many terminals. Whole sequences are removed (what
they would do is no text), and every control character left is shown escaped (`\\x07`), as `repr` would.
"""

from __future__ import annotations

import logging
import re

__all__ = ["PrintableFormatter", "printable"]

_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI: parameters, intermediates, a final byte
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC, DCS, SOS, PM, APC
    r"|\x1b[ -/]*[0-~]"  # the other escapes: ESC c, ESC 7, ESC ( B
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with escape sequences removed and other control characters (newlines and tabs too: a line shown
    must stay one line) written as `\\xNN`."""
    if text.isprintable():
        return text
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", _SEQUENCE.sub("", text))


class PrintableFormatter(logging.Formatter):
    """The sidecar's own messages go to a terminal too, and quote paths and errors that may come from a log."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))
