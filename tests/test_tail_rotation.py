"""Rotation by rename: the old file's remaining lines come first, then the new file from 0; none lost, none doubled."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

from exporter.sources.tail import Batch, Tailer


def texts(batches: list[Batch]) -> list[str]:
    return [line.text for batch in batches for line in batch.lines]


def append(path: Path, text: str) -> None:
    with path.open("a") as f:
        f.write(text)


def test_rename_then_new_file_drains_the_old_one_first(tmp_path: Path) -> None:
    log, rotated = tmp_path / "log.txt", tmp_path / "log.txt.1"
    log.write_text("a1\na2\n")
    with closing(Tailer([str(log)], use_inotify=False)) as tailer:
        assert texts(tailer.poll()) == ["a1", "a2"]
        append(log, "a3\n")
        log.rename(rotated)
        append(rotated, "a4\n")  # the writer has not reopened yet
        log.write_text("b1\nb2\n")

        old, new = tailer.poll()
        assert texts([old]) == ["a3", "a4"] and not old.restarted
        assert texts([new]) == ["b1", "b2"] and new.restarted
        assert old.path == new.path == str(log)
        assert old.position.identity != new.position.identity
        assert new.position.offset == new.lines[-1].offset == 6
        assert tailer.counters()["rotations"] == 1
        assert tailer.poll() == []

        append(log, "b3\n")
        (batch,) = tailer.poll()
        assert texts([batch]) == ["b3"] and not batch.restarted and batch.position.offset == 9


def test_unterminated_tail_of_the_old_file_is_handed_on_at_the_switch(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    log.write_text("a1\na2-no-newline")
    with closing(Tailer([str(log)], use_inotify=False)) as tailer:
        assert texts(tailer.poll()) == ["a1"]
        log.rename(tmp_path / "log.txt.1")
        log.write_text("b1\n")
        old, new = tailer.poll()
        assert texts([old]) == ["a2-no-newline"] and old.position.offset == len("a1\na2-no-newline")
        assert texts([new]) == ["b1"] and new.restarted


def test_glob_matching_both_names_reads_nothing_twice(tmp_path: Path) -> None:
    log, rotated = tmp_path / "app.log", tmp_path / "app.log.1"
    log.write_text("a1\n")
    with closing(Tailer([str(tmp_path / "app.log*")], use_inotify=False)) as tailer:
        seen = texts(tailer.poll())
        append(log, "a2\n")
        log.rename(rotated)
        log.write_text("b1\n")
        batches = tailer.poll()
        seen += texts(batches)
        append(rotated, "a3\n")
        append(log, "b2\n")
        later = tailer.poll()
        seen += texts(later)

        assert sorted(seen) == ["a1", "a2", "a3", "b1", "b2"]
        moved = [b for b in batches + later if b.path == str(rotated)]
        assert texts(moved) == ["a3"] and not any(b.restarted for b in moved)
        assert moved[-1].position.offset == rotated.stat().st_size
