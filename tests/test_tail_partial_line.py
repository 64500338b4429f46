"""Only complete lines are handed on: a partial line waits for its newline; CRLF; overlong lines are cut."""

from __future__ import annotations

import tracemalloc
from contextlib import closing
from pathlib import Path

from exporter.sources.files import MAX_LINE_BYTES
from exporter.sources.tail import Batch, Tailer


def texts(batches: list[Batch]) -> list[str]:
    return [line.text for batch in batches for line in batch.lines]


def test_line_written_in_two_parts_is_handed_on_once_whole(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    log.write_text("first\nhel")
    with closing(Tailer([str(log)], use_inotify=False, clock=lambda: 42.0)) as tailer:
        (batch,) = tailer.poll()
        assert texts([batch]) == ["first"] and batch.position.offset == 6
        assert tailer.lag_bytes() == {str(log): 3}
        with log.open("a") as f:
            f.write("lo")
        assert tailer.poll() == []
        with log.open("a") as f:
            f.write(" world\n")
        (batch,) = tailer.poll()
        (line,) = batch.lines
        assert line.text == "hello world" and line.offset == 18 and line.arrival == 42.0
        assert line.source == str(log) and batch.position.offset == 18
        assert tailer.poll() == [] and tailer.lag_bytes() == {str(log): 0}


def test_crlf_is_stripped(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    log.write_bytes(b"a\r\nb\r\n\r\nc\r")
    with closing(Tailer([str(log)], use_inotify=False)) as tailer:
        (batch,) = tailer.poll()
        assert texts([batch]) == ["a", "b", ""] and batch.position.offset == 8
        with log.open("ab") as f:
            f.write(b"\n")
        assert texts(tailer.poll()) == ["c"]


def test_overlong_line_is_cut_counted_and_never_held_whole(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    size = 20 * MAX_LINE_BYTES
    with log.open("wb") as f:
        f.write(b"x" * size + b"\nafter\n")
    with closing(Tailer([str(log)], use_inotify=False)) as tailer:
        tracemalloc.start()
        try:
            batches = tailer.poll()
            assert batches == [] and tailer.wait(0)  # nothing complete yet; more to read, so no waiting
            for _ in range(40):  # a poll reads at most 1 MiB of one file
                batches += tailer.poll()
                if texts(batches)[-1:] == ["after"]:
                    break
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        cut, after = (line for batch in batches for line in batch.lines)
        assert cut.text == "x" * MAX_LINE_BYTES and cut.offset == size + 1
        assert after.text == "after" and after.offset == size + 7
        assert tailer.counters()["lines_cut"] == 1
        assert peak < 5 * MAX_LINE_BYTES, peak  # the line is 20 MiB: only its head is ever held
