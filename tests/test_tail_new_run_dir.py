"""New run directories are picked up, and inotify (watchdog) wakes wait() promptly."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from exporter.sources.tail import Batch, Tailer


def texts(batches: list[Batch]) -> list[str]:
    return [line.text for batch in batches for line in batch.lines]


def later(action: Callable[[], None]) -> threading.Timer:
    """Run `action` shortly after the caller has started waiting."""
    timer = threading.Timer(0.1, action)
    timer.start()
    return timer


def test_run_directory_created_after_start_is_picked_up(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    (runs / "r1").mkdir(parents=True)
    (runs / "r1" / "log.txt").write_text("one\n")
    with closing(Tailer([str(runs / "*" / "log.txt")], use_inotify=False)) as tailer:
        assert texts(tailer.poll()) == ["one"]
        (runs / "r2").mkdir()
        (runs / "r2" / "log.txt").write_text("two\n")
        (batch,) = tailer.poll()
        assert batch.path == str(runs / "r2" / "log.txt") and texts([batch]) == ["two"] and not batch.restarted


def test_wait_is_woken_by_an_append(tmp_path: Path) -> None:
    log = tmp_path / "runs" / "r1" / "log.txt"
    log.parent.mkdir(parents=True)
    log.write_text("one\n")
    with closing(Tailer([str(tmp_path / "runs" / "*" / "log.txt")])) as tailer:
        assert texts(tailer.poll()) == ["one"]
        assert not tailer.wait(0)  # nothing pending: what wakes us below is the append

        def write() -> None:
            with log.open("a") as f:
                f.write("two\n")

        timer = later(write)
        start = time.monotonic()
        assert tailer.wait(5.0)
        assert time.monotonic() - start < 2.5
        timer.join()
        assert texts(tailer.poll()) == ["two"]


def test_wait_is_woken_by_a_run_directory_that_did_not_exist_at_start(tmp_path: Path) -> None:
    runs = tmp_path / "runs"  # not there yet: the nearest existing ancestor is watched until it is
    with closing(Tailer([str(runs / "*" / "log.txt")])) as tailer:
        assert tailer.poll() == []

        def create() -> None:
            (runs / "r1").mkdir(parents=True)
            (runs / "r1" / "log.txt").write_text("one\n")

        timer = later(create)
        assert tailer.wait(5.0)
        timer.join()
        seen: list[str] = []
        for _ in range(50):  # the directory event may come before the file: bounded re-polls
            seen += texts(tailer.poll())
            if seen:
                break
            tailer.wait(0.1)
        assert seen == ["one"]

        def write() -> None:  # now watched through runs/ itself
            with (runs / "r1" / "log.txt").open("a") as f:
                f.write("two\n")

        timer = later(write)
        assert tailer.wait(5.0)
        timer.join()
        assert texts(tailer.poll()) == ["two"]


def test_an_append_is_read_by_polls_alone(tmp_path: Path) -> None:
    """Idle polls skip the globbing and stat calls while inotify watches; the append's event makes the next poll
    look, whether or not `wait` was called in between."""
    log = tmp_path / "runs" / "r1" / "log.txt"
    log.parent.mkdir(parents=True)
    log.write_text("one\n")
    with closing(Tailer([str(tmp_path / "runs" / "*" / "log.txt")])) as tailer:
        assert texts(tailer.poll()) == ["one"]
        assert tailer.poll() == []
        with log.open("a") as f:
            f.write("two\n")
        seen: list[str] = []
        deadline = time.monotonic() + 2.5  # well within the 5 s safety net: the event did it
        while not seen and time.monotonic() < deadline:
            seen = texts(tailer.poll())
            time.sleep(0.01)
        assert seen == ["two"]
