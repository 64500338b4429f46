"""The fast path reads exactly what the line-by-line path reads.

`read_blocks` hands whole lines in bytes and `Parser.feed_block` passes over the lines that hold no Luigi phrase;
both must be invisible: same lines, offsets and cuts as splitting the file by hand, same events (times of tracebacks
and summaries included), lines read and lines unparsed as `Parser.feed` on every line.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from pathlib import Path

import pytest
from conftest import run_demo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.events import Event, Summary, TaskFailed
from exporter.lines import Block, Line, count_lines, decode_line
from exporter.parse import Parser
from exporter.prefilter import PHRASES, held_by_line, new_scratch
from exporter.sources import files, tail

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _by_hand(content: bytes, start: int, end: int, limit: int) -> list[tuple[int, bytes, bool]]:
    """(offset past the line, kept bytes, cut) for every line of content[start:end], split by hand."""
    out = []
    offset = start
    pieces = content[start:end].split(b"\n")
    for i, raw in enumerate(pieces):
        last = i == len(pieces) - 1
        if last and not raw:
            break
        offset += len(raw) + (0 if last else 1)
        out.append((offset, raw[:limit], len(raw) > limit))
    return out


@SETTINGS
@given(
    content=st.lists(st.sampled_from([b"", b"a", b"bc", b"\n", b"\n\n", b"x" * 9, b"\r", b"y" * 20]), max_size=40),
    chunk=st.integers(1, 12),
    limit=st.integers(12, 16),
    bounds=st.tuples(st.integers(0, 400), st.integers(0, 400)),
)
def test_read_blocks_splits_like_by_hand(
    tmp_path_factory: pytest.TempPathFactory, content: list[bytes], chunk: int, limit: int, bounds: tuple[int, int]
) -> None:
    """Any bytes, any chunk size up to the line limit, any start and end: the same lines, offsets and cuts."""
    data = b"".join(content)
    start, end = min(bounds[0], len(data)), min(max(bounds), len(data))
    path = tmp_path_factory.mktemp("blocks") / "log"
    path.write_bytes(data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(files, "_CHUNK", chunk)
        patch.setattr(files, "MAX_LINE_BYTES", limit)
        got = [(line.offset, line.text, cut) for line, cut in files.read_lines(str(path), "s", start, end)]
        blocks = list(files.read_blocks(str(path), start, end))
    assert got == [(offset, decode_line(raw), cut) for offset, raw, cut in _by_hand(data, start, end, limit)]
    for block in blocks:  # whole lines only, each within the limit unless cut
        assert block.cut or all(len(raw) <= limit for raw in block.data.split(b"\n"))
        assert block.cut or block.data.endswith(b"\n") or block.end == end


@pytest.fixture(scope="module")
def demo_lines(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """A real build with a failure (traceback) and its summary, as lines."""
    run_dir = tmp_path_factory.mktemp("fast") / "run"
    run_demo(run_dir, "--workers", "2", "--speed", "0", "--ms", "--fail", "SWOTAnalysisTask")
    return (run_dir / "log.txt").read_text().splitlines()


# Lines the fast path must get right around the real ones: chatter with and without a header (a header passed
# over still sets the time of a following summary), a browser prefix, glued tqdm records, colours, NUL, CRLF,
# a header line just before a summary mark, and Luigi words in chatter.
OTHERS = [
    "2026-01-02 03:04:05 - app - INFO - chatter",
    "2026-01-02 03:04:06,789 - app - DEBUG - more chatter",
    "[9:56:38 PM] 2026-01-02 03:04:07 - app - INFO - from a browser",
    "no header at all",
    "INFO: a header without time",
    "  indented continuation",
    "100%|##| 5/5\r2026-01-02 03:04:08 - luigi-interface - INFO - Done scheduling tasks",
    "\x1b[32m2026-01-02 03:04:09 - app - INFO - coloured\x1b[0m",
    "nul\x00byte",
    "crlf line\r",
    "2026-01-02 03:04:10 - app - INFO - a Worker and a Task in chatter",
    "===== Luigi Execution Summary =====",
    "",
    # every other line Luigi writes (each found by its own literal), and near misses that make no event
    "2026-01-02 03:04:11 - luigi-interface - INFO - Running Worker with 2 processes",
    "2026-01-02 03:04:11 - luigi-interface - INFO - Task D_1_0123456789 died unexpectedly with exit code -9",
    "2026-01-02 03:04:11 - luigi-interface - INFO - Task D_1_0123456789 died unexpectedly",
    "ERROR: Task D_1_0123456789 timed out after 2.5 seconds and was terminated.",
    "2026-01-02 03:04:12 - luigi-interface - WARNING - Data for D(x=1) does not exist (yet?). The task is an "
    "external data dependency, so it cannot be run and must be created elsewhere.",
    "2026-01-02 03:04:12 - luigi-interface - ERROR - Will not run D(x=1) or any dependencies due to error in "
    "deps() method:",
    "2026-01-02 03:04:12 - luigi-interface - ERROR - Luigi unexpected framework error while scheduling D(x=1)",
    "2026-01-02 03:04:13 - luigi.scheduler - DEBUG - D_1_0123456789 task num failures is 1 and limit is 3",
    "2026-01-02 03:04:13 - luigi.scheduler - DEBUG - D_1_0123456789 task num failures limit(3) is exceeded",
    "2026-01-02 03:04:13 - luigi-interface - INFO - Worker Worker(salt=1, workers=1, host=h, username=u, pid=1) was "
    "stopped. Shutting down Keep-Alive thread",
    "2026-01-02 03:04:14 - luigi-interface - INFO - Done scheduling",
    # Luigi's lines with what its patterns must not misread: blanks, long fractions, other digits, phrases in reprs
    "2026-01-02 03:04:15 - luigi-interface - INFO - Informed scheduler that task   D_1_0123456789   has status   DONE ",
    "2026-01-02 03:04:15,1234567 - luigi-interface - INFO - Informed scheduler that task   D_2_0123456789   has "
    "status   PENDING",
    "2026-01-02 03:04:15.5 - luigi-interface - INFO - Informed scheduler that task   D_3   has status   Pending1",
    "2026-01-02 03:04:16 - luigi-interface - INFO - [pid 7] Worker Worker(salt=1, workers=1, host=h, username=u, "
    "pid=1) done      D(x=Informed scheduler that task   D_1_0123456789   has status   FAILED)",
    "2026-01-02 03:04:16 - luigi-interface - INFO - [pid ٣] Worker Worker(salt=1, workers=1, host=h, username=u, "
    "pid=1) running   D(x=1)",
    "2026-01-02 03:04:16 - luigi-interface - INFO - [pid 7] Worker Worker(salt=1, workers=1, host=h, username=u, "
    "pid=1) running\tD(x=1)",
    "2026-01-02 03:04:16 - luigi-interface - INFO - [pid 7] Worker Worker(salt=1, workers=1, host=h, username=u, "
    "pid=1) new requirements      D(x=日本)",
    "2026-01-02 03:04:17 - luigi-interface - DEBUG - Checking if D(x=] Worker is here) is complete",
    "2026-01-02 03:04:17 - luigi-interface - DEBUG - Checking if D(x===== Luigi Execution Summary =====) is complete",
    "2026-01-02 03:04:17 - luigi-interface - DEBUG - Checking if D(x=日本, y=is complete) is complete",
    "2026-01-02 03:04:17 - my app - DEBUG - Checking if D(x=1) is complete",
    "2026-01-02 03:04:17 - luigi-interface - DEBUG - Checking if  is complete",
    # a line holding one of the three commonest phrases alone: with a browser's prefix, CRLF, trailing blanks of any
    # kind, Unicode spaces inside, and near misses that `feed` counts unparsed
    "[9:56:38 PM] 2026-01-02 03:04:18 - luigi-interface - INFO - Informed scheduler that task D_4 has status DONE",
    "[9:56:38 PM] a browser's console, a long logger name - 2026-01-02 03:04:18 Informed scheduler that task D_4 "
    "has status DONE",  # its time is within the first 64 characters only once the prefix is gone
    "[9:56:38 PM] INFO: [pid 7] Worker Worker(salt=1, workers=1, host=h, username=u, pid=1) done D(x=1)",
    "[9:56:38 PM] DEBUG: Checking if D(x=1) is complete",
    "2026-01-02 03:04:18 - luigi-interface - INFO - Informed scheduler that task D_5 has status FAILED\r",
    "2026-01-02 03:04:18 - luigi-interface - INFO - Informed scheduler that task D_6 has status \u00a0DONE\t",
    "2026-01-02 03:04:18 - luigi-interface - INFO - Informed scheduler that task D_7\u2003has status DONE\u3000",
    "2026-01-02 03:04:18 - luigi-interface - INFO - Informed scheduler that task D_8 has status",
    "2026-01-02 03:04:19 - luigi-interface - INFO - [pid 7] Worker Worker(salt=1, workers=1, host=h, username=u, "
    "pid=1) done      D(x=1)   \t\u3000",
    "2026-01-02 03:04:19 - luigi-interface - INFO - [pid 7] Worker Worker(salt=1, workers=1, host=h, username=u, "
    "pid=1) done      D(x=1)\r",
    "2026-01-02 03:04:19 - luigi-interface - INFO - [pid 7] Worker Worker(salt=1) started D(x=1)",
    "2026-01-02 03:04:20 - luigi-interface - DEBUG - Checking if D(x=1) is complete \t\u3000",
    "2026-01-02 03:04:20 - luigi-interface - DEBUG - Checking if D(x=1) is complete\r",
    "2026-01-02 03:04:20 - luigi-interface - DEBUG - Checking if D(x=1) is complete yet",
]


Read = tuple[list[tuple[object, ...]], int, int]


def _whole(events: list[Event]) -> list[tuple[object, ...]]:
    """Events with every field, time and offset too (which their equality leaves out: copies equal the first)."""
    return [(type(e), *(getattr(e, f.name) for f in fields(e))) for e in events]


def _events_line_by_line(data: bytes) -> Read:
    parser = Parser()
    events: list[Event] = []
    for offset, raw, _ in _by_hand(data, 0, len(data), len(data) + 1):
        events.extend(parser.feed(Line("s", offset, decode_line(raw))))
    events.extend(parser.flush())
    return _whole(events), parser.lines_read, parser.lines_unparsed


def _events_in_blocks(path: Path) -> Read:
    """What the fast path reads of a file, read in blocks: the events, lines read and lines unparsed."""
    parser = Parser()
    events = [e for block in files.read_blocks(str(path)) for e in parser.feed_block(block, "s")]
    events.extend(parser.flush())
    return _whole(events), parser.lines_read, parser.lines_unparsed


WORDS = tuple(phrase.encode() for phrase in PHRASES)


def _candidates_by_hand(data: bytes) -> dict[int, int]:
    """What `held_by_line` must find, line by line: the phrases each line holds (a CR only when no LF follows it),
    one bit each."""
    found: dict[int, int] = {}
    start = 0
    for piece in data.split(b"\n"):
        line = data[start : start + len(piece) + 1]  # with its LF, if any: a CR before it is no candidate
        held = sum(
            1 << k for k, word in enumerate(WORDS) if word in (line.replace(b"\r\n", b"\n") if word == b"\r" else line)
        )
        if held:
            found[start] = held
        start += len(piece) + 1
    return found


@SETTINGS
@given(
    st.lists(
        st.sampled_from([*WORDS, b"\n", b"\r\n", b"\r", b"x", b" ", b"]", b"Checking", b"Informed sc"]),
        max_size=60,
    )
)
def test_scanner_finds_the_lines_a_search_by_hand_finds(pieces: list[bytes]) -> None:
    """One Hyperscan pass finds every candidate of every line, as one search per line and literal would."""
    data = b"".join(pieces)
    assert held_by_line(data, new_scratch()) == _candidates_by_hand(data)


@SETTINGS
@given(st.lists(st.sampled_from([b"\n", b"\r\n", b"\r", b"x", b"\n\n", b"\x00"]), max_size=40))
def test_count_lines_counts_the_lines_split_by_hand(pieces: list[bytes]) -> None:
    """A block's line count, its last line perhaps unterminated, as splitting it by hand gives."""
    data = b"".join(pieces)
    assert count_lines(data) == len(_by_hand(data, 0, len(data), len(data)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_feed_block_reads_what_feed_reads(
    tmp_path_factory: pytest.TempPathFactory, demo_lines: list[str], data: st.DataObject
) -> None:
    """Real lines in order with others mixed in, read in blocks of any size: the same events and counts."""
    n = len(demo_lines)
    start = data.draw(st.integers(0, n - 1))
    window = demo_lines[start : start + data.draw(st.integers(1, 400))]
    texts = list(window)
    for _ in range(data.draw(st.integers(0, 30))):
        texts.insert(data.draw(st.integers(0, len(texts))), data.draw(st.sampled_from(OTHERS)))
    content = "\n".join(texts).encode() + data.draw(st.sampled_from([b"", b"\n"]))
    path = tmp_path_factory.mktemp("feed") / "log"
    path.write_bytes(content)
    chunk = data.draw(st.integers(64, 4096))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(files, "_CHUNK", chunk)
        assert _events_in_blocks(path) == _events_line_by_line(content)


def test_luigi_lines_with_bytes_that_are_not_utf8(tmp_path: Path, demo_lines: list[str]) -> None:
    """Invalid UTF-8 inside a repr, an id and a worker's host: what `feed` gives after decoding the whole line."""
    head = b"2026-01-02 03:04:05,678 - luigi-interface - "
    worker = b"Worker(salt=1, workers=1, host=h\xff\xfe, username=u, pid=1)"
    lines = [
        head + b"DEBUG - Checking if D(x=\xe6\x97, y=\xc3) is complete",
        head + b"INFO - [pid 9] Worker " + worker + b" running   D(x=\xe6\x97, y=\xc3)",
        head + b"INFO - Informed scheduler that task   D_\xe6_0123456789   has status   DONE",
        head + b"INFO - [pid 9] Worker " + worker + b" failed    D(x=\xe6\x97, y=\xc3)\xe6",
    ]
    content = b"\n".join([*(line.encode() for line in demo_lines[:50]), *lines, b"Traceback: x"]) + b"\n"
    path = tmp_path / "log"
    path.write_bytes(content)
    read = _events_in_blocks(path)
    assert read == _events_line_by_line(content)
    assert any(e[0] is TaskFailed for e in read[0])


def test_a_summary_cut_by_a_record_in_the_common_layout(tmp_path: Path, demo_lines: list[str]) -> None:
    """A summary block whose writer died (its mark, then other records): the first Luigi record after the mark ends
    the block, and what follows is chatter, on the fast path too."""
    texts = [
        *demo_lines[:30],
        "===== Luigi Execution Summary =====",
        "2026-01-02 03:04:05 - luigi-interface - DEBUG - Checking if D(x=1) is complete",
        "Scheduled 3 tasks of which:",
        "* 3 ran successfully:",
        "INFO: Done scheduling tasks",
    ]
    content = "\n".join(texts).encode() + b"\n"
    path = tmp_path / "log"
    path.write_bytes(content)
    read = _events_in_blocks(path)
    assert read == _events_line_by_line(content)
    assert not any(e[0] is Summary for e in read[0])


def test_whole_real_build_in_one_block(tmp_path: Path, demo_lines: list[str]) -> None:
    """The unmangled build: most lines are passed over, and nothing differs (a baseline the property starts from)."""
    content = ("\n".join(demo_lines) + "\n").encode()
    parser = Parser()
    events = parser.feed_block(Block(content, len(content)), "s") + parser.flush()
    assert (_whole(events), parser.lines_read, parser.lines_unparsed) == _events_line_by_line(content)
    assert parser.lines_read == len(demo_lines) and len(events) > 200


def test_summary_takes_the_time_of_a_header_passed_over(demo_lines: list[str]) -> None:
    """Luigi's summary record starts with a header line of its own; when the fast path passed over that line, the
    summary still ends the build at its time (read back from the bytes when the mark comes)."""
    mark = next(i for i, text in enumerate(demo_lines) if "===== Luigi Execution Summary" in text)
    texts = [*demo_lines[:mark], "2030-01-02 03:04:05,250 - app - INFO - the summary's own header", *demo_lines[mark:]]
    content = ("\n".join(texts) + "\n").encode()
    parser = Parser()
    events = parser.feed_block(Block(content, len(content)), "s") + parser.flush()
    summary = next(e for e in events if isinstance(e, Summary))
    assert summary.time == datetime(2030, 1, 2, 3, 4, 5, 250000).timestamp()
    assert _whole(events) == _events_line_by_line(content)[0]


@SETTINGS
@given(
    writes=st.lists(st.lists(st.sampled_from([b"a", b"bc", b"\n", b"x" * 9, b"y" * 20]), max_size=8), max_size=12),
    chunk=st.integers(1, 12),
    limit=st.integers(12, 16),
)
def test_tailer_blocks_split_like_by_hand(
    tmp_path_factory: pytest.TempPathFactory, writes: list[list[bytes]], chunk: int, limit: int
) -> None:
    """Any writes, polled after each: the followed file's complete lines, offsets and cuts, each once."""
    path = tmp_path_factory.mktemp("tail") / "log"
    path.write_bytes(b"")
    got = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tail, "_CHUNK", chunk)
        patch.setattr(files, "MAX_LINE_BYTES", limit)  # the splitter the tailer shares with read_blocks
        tailer = tail.Tailer([str(path)], use_inotify=False)
        try:
            for write in writes:
                with path.open("ab") as f:
                    f.write(b"".join(write))
                for block in (block for batch in tailer.poll() for block in batch.blocks):
                    cut = [(block.end, True)] if block.cut else []
                    got.extend(cut or [(line.offset, line.text) for line in block.lines(str(path))])
        finally:
            tailer.close()
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    expected = [
        (offset, True) if cut else (offset, decode_line(raw))
        for offset, raw, cut in _by_hand(complete, 0, len(complete), limit)
    ]
    assert got == expected
