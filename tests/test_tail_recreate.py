"""Delete and recreate: a new inode, handled like rotation; a vanished file is reported once."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

from exporter.sources.tail import Batch, Tailer


def texts(batches: list[Batch]) -> list[str]:
    return [line.text for batch in batches for line in batch.lines]


def test_deleted_and_recreated_between_polls(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    log.write_text("a1\n")
    with closing(Tailer([str(log)], use_inotify=False)) as tailer:
        assert texts(tailer.poll()) == ["a1"]
        with log.open("a") as f:
            f.write("a2\n")
        log.unlink()
        log.write_text("b1\n")
        old, new = tailer.poll()
        assert texts([old]) == ["a2"] and not old.restarted
        assert texts([new]) == ["b1"] and new.restarted and new.position.offset == 3
        assert old.position.identity != new.position.identity
        assert tailer.counters()["rotations"] == 1


def test_deleted_is_reported_once_then_recreated_is_read_from_zero(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    log.write_text("a1\n")
    with closing(Tailer([str(log)], use_inotify=False)) as tailer:
        assert texts(tailer.poll()) == ["a1"]
        log.unlink()
        (gone,) = tailer.poll()
        assert gone.error == f"{log}: no such file or directory" and gone.lines == []
        assert gone.position.offset == 3
        assert tailer.poll() == [] and tailer.poll() == []
        assert tailer.counters()["read_errors"] == 1
        log.write_text("b1\nb2\n")
        (batch,) = tailer.poll()
        assert texts([batch]) == ["b1", "b2"] and batch.restarted and batch.error is None
        assert tailer.counters()["rotations"] == 1


def test_run_directory_removed(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "log.txt").write_text("x\n")
    with closing(Tailer([str(tmp_path / "runs" / "*" / "log.txt")], use_inotify=False)) as tailer:
        assert texts(tailer.poll()) == ["x"]
        (run / "log.txt").unlink()
        run.rmdir()
        (gone,) = tailer.poll()
        assert gone.error is not None and gone.error.endswith("no such file or directory")
        assert tailer.poll() == [] and tailer.lag_bytes() == {}
