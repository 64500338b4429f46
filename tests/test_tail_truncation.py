"""Truncation and copytruncate: same inode, read again from 0 (potentially lossy, as in mtail)."""

from __future__ import annotations

import os
import shutil
from contextlib import closing
from pathlib import Path

from exporter.sources.tail import Batch, Tailer


def texts(batches: list[Batch]) -> list[str]:
    return [line.text for batch in batches for line in batch.lines]


def test_truncate_to_zero_and_write_again(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    log.write_text("one\ntwo\n")
    with closing(Tailer([str(log)], use_inotify=False)) as tailer:
        assert texts(tailer.poll()) == ["one", "two"]
        inode = log.stat().st_ino
        os.truncate(log, 0)
        (empty,) = tailer.poll()
        assert empty.restarted and empty.lines == [] and empty.position.offset == 0
        with log.open("a") as f:
            f.write("x\n")
        (batch,) = tailer.poll()
        assert texts([batch]) == ["x"] and not batch.restarted and batch.position.offset == 2
        assert log.stat().st_ino == inode
        assert tailer.counters()["truncations"] == 1
        assert tailer.counters()["rotations"] == 0


def test_copytruncate_with_shorter_new_content(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    log.write_text("old line 1\nold line 2\n")
    with closing(Tailer([str(log)], use_inotify=False)) as tailer:
        assert texts(tailer.poll()) == ["old line 1", "old line 2"]
        shutil.copyfile(log, tmp_path / "log.txt.1")
        with log.open("r+") as f:
            f.truncate(0)
            f.write("n1\n")
        (batch,) = tailer.poll()
        assert batch.restarted and texts([batch]) == ["n1"] and batch.position.offset == 3
        assert tailer.counters()["truncations"] == 1


def test_copytruncate_grown_past_the_old_offset_is_caught_by_the_fingerprint(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    log.write_text("old1\nold2\n")
    with closing(Tailer([str(log)], use_inotify=False)) as tailer:
        (first,) = tailer.poll()
        assert first.position.offset == 10
        shutil.copyfile(log, tmp_path / "log.txt.1")
        with log.open("r+") as f:
            f.truncate(0)
            f.write("new line 1\nnew line 2\n")  # already longer than the 10 bytes read before we look again
        (batch,) = tailer.poll()
        assert batch.restarted and texts([batch]) == ["new line 1", "new line 2"]
        assert batch.position.identity == first.position.identity
        assert batch.position.fingerprint != first.position.fingerprint
        assert tailer.counters()["truncations"] == 1


def test_truncation_drops_a_held_partial_line(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    log.write_text("a\npartial")
    with closing(Tailer([str(log)], use_inotify=False)) as tailer:
        assert texts(tailer.poll()) == ["a"]
        log.write_text("z\n")  # O_TRUNC: same inode
        (batch,) = tailer.poll()
        assert batch.restarted and texts([batch]) == ["z"]
