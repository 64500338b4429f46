"""Restart: positions from a previous Tailer resume exactly, unless the file was rotated or rewritten meanwhile."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

from exporter.lines import Position
from exporter.sources.tail import Batch, Tailer


def texts(batches: list[Batch]) -> list[str]:
    return [line.text for batch in batches for line in batch.lines]


def first_run(pattern: str) -> dict[str, Position]:
    """What a store holds after a Tailer ran: the last position of each path."""
    with closing(Tailer([pattern], use_inotify=False)) as tailer:
        return {batch.path: batch.position for batch in tailer.poll()}


def test_resumes_exactly_where_the_previous_tailer_stopped(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    log.write_text("a\nb\nc-start")
    positions = first_run(str(log))
    assert positions[str(log)].offset == 4  # the held partial line is not included
    with log.open("a") as f:
        f.write("-end\nd\n")
    with closing(Tailer([str(log)], positions, use_inotify=False)) as tailer:
        (batch,) = tailer.poll()
        assert texts([batch]) == ["c-start-end", "d"] and not batch.restarted
        assert [line.offset for line in batch.lines] == [16, 18]
        assert tailer.counters() == {"truncations": 0, "rotations": 0, "read_errors": 0, "lines_cut": 0}


def test_rotated_while_down_starts_from_zero(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    log.write_text("a\nb\n")
    positions = first_run(str(log))
    log.rename(tmp_path / "log.txt.1")
    log.write_text("c\n")
    with closing(Tailer([str(log)], positions, use_inotify=False)) as tailer:
        (batch,) = tailer.poll()
        assert texts([batch]) == ["c"] and batch.restarted
        assert tailer.counters()["rotations"] == 1


def test_rewritten_while_down_starts_from_zero(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    log.write_text("a\nb\n")
    positions = first_run(str(log))
    log.write_text("another file, longer\n")  # same inode, different first bytes, past the old offset
    with closing(Tailer([str(log)], positions, use_inotify=False)) as tailer:
        (batch,) = tailer.poll()
        assert texts([batch]) == ["another file, longer"] and batch.restarted
        assert tailer.counters()["truncations"] == 1


def test_rotated_while_down_with_a_glob_matching_both_names(tmp_path: Path) -> None:
    log, rotated = tmp_path / "app.log", tmp_path / "app.log.1"
    log.write_text("a1\n")
    positions = first_run(str(tmp_path / "app.log*"))
    with log.open("a") as f:
        f.write("a2\n")
    log.rename(rotated)
    log.write_text("b1\n")
    with closing(Tailer([str(tmp_path / "app.log*")], positions, use_inotify=False)) as tailer:
        by_path = {batch.path: batch for batch in tailer.poll()}
        assert texts([by_path[str(rotated)]]) == ["a2"] and not by_path[str(rotated)].restarted
        assert texts([by_path[str(log)]]) == ["b1"] and by_path[str(log)].restarted
