"""`Wrapped`: a real command's two pipes as one source of Blocks, split as files are."""

from __future__ import annotations

import io
import sys

from exporter.sources.files import MAX_LINE_BYTES
from exporter.sources.wrap import Wrapped

# stdout: a line, a 3 MiB line, a line; stderr meanwhile: two lines and an unterminated tail.
SCRIPT = (
    "import sys\n"
    "sys.stdout.buffer.write(b'first\\n'); sys.stdout.flush()\n"
    "sys.stderr.buffer.write(b'INFO: one\\n'); sys.stderr.flush()\n"
    "sys.stdout.buffer.write(b'x' * (3 << 20) + b'\\nlast\\n'); sys.stdout.flush()\n"
    "sys.stderr.buffer.write(b'INFO: two\\ntail'); sys.stderr.flush()\n"
)


def test_both_pipes_merge_into_one_source_with_a_long_line_cut() -> None:
    out, err = io.BytesIO(), io.BytesIO()
    command = Wrapped([sys.executable, "-c", SCRIPT], "cmd", out, err, clock=lambda: 12.5)
    command.start()
    blocks = []
    while not command.finished:
        blocks += command.blocks(timeout=0.25)
    assert command.wait() == 0
    assert out.getvalue() == b"first\n" + b"x" * (3 << 20) + b"\nlast\n"
    assert err.getvalue() == b"INFO: one\nINFO: two\ntail"
    (cut,) = [block for block in blocks if block.cut]
    assert cut.data == b"x" * MAX_LINE_BYTES
    lines = [line for block in blocks for line in block.lines("cmd")]
    texts = [line.text for line in lines]
    assert [t for t in texts if t in ("first", "last") or t.startswith("x")] == ["first", "x" * MAX_LINE_BYTES, "last"]
    assert [t for t in texts if t.startswith(("INFO", "tail"))] == ["INFO: one", "INFO: two", "tail"]
    # Offsets count every byte of both pipes, the cut line's whole length too, rising in the order lines came.
    offsets = [line.offset for line in lines]
    assert offsets == sorted(set(offsets))
    assert offsets[-1] == len(out.getvalue()) + len(err.getvalue())
    assert {line.arrival for line in lines} == {12.5}
