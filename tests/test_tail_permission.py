"""Unreadable files and directories matching the glob: reported once as an error batch, retried silently."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from exporter.sources.tail import Batch, Tailer


def texts(batches: list[Batch]) -> list[str]:
    return [line.text for batch in batches for line in batch.lines]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


@contextmanager
def file_permissions_apply() -> Iterator[None]:
    """Make mode bits bind this thread even as root (tests run as root here, where chmod 000 blocks nothing).

    Root reads anything through CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH; they are dropped from this thread's
    effective set only (capabilities are per thread) and stay permitted, so they are restored afterwards. Without
    them root is an ordinary owner: its own 0700 directories stay usable, a 000 file is refused with EACCES.
    """
    if os.geteuid() != 0:
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    assert libc.capget(ctypes.byref(header), data) == 0, os.strerror(ctypes.get_errno())
    saved = data[0].effective
    data[0].effective &= ~(1 << _CAP_DAC_OVERRIDE | 1 << _CAP_DAC_READ_SEARCH)
    assert libc.capset(ctypes.byref(header), data) == 0, os.strerror(ctypes.get_errno())
    try:
        yield
    finally:
        data[0].effective = saved
        assert libc.capset(ctypes.byref(header), data) == 0, os.strerror(ctypes.get_errno())


def test_permission_denied_is_reported_once_then_read_when_readable(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    log.write_text("one\ntwo\n")
    log.chmod(0o000)
    with file_permissions_apply(), closing(Tailer([str(log)], use_inotify=False)) as tailer:
        with pytest.raises(PermissionError):
            log.open("rb")  # the denial is real
        (denied,) = tailer.poll()
        assert denied.error == f"{log}: permission denied" and denied.lines == []
        assert tailer.poll() == [] and tailer.poll() == []
        assert tailer.counters()["read_errors"] == 1

        log.chmod(0o644)
        (batch,) = tailer.poll()
        assert texts([batch]) == ["one", "two"] and batch.error is None and not batch.restarted
        assert tailer.counters()["read_errors"] == 1


def test_directory_matching_the_glob_is_reported_once_and_others_are_read(tmp_path: Path) -> None:
    (tmp_path / "dir.log").mkdir()
    (tmp_path / "b.log").write_text("b\n")
    with closing(Tailer([str(tmp_path / "*.log")], use_inotify=False)) as tailer:
        batches = tailer.poll()
        errors = [b.error for b in batches if b.error]
        assert errors == [f"{tmp_path / 'dir.log'}: is a directory"]
        assert texts(batches) == ["b"]
        assert tailer.poll() == []
        assert tailer.lag_bytes() == {str(tmp_path / "b.log"): 0}


def test_missing_literal_path_is_reported_once_then_read_when_created(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    with closing(Tailer([str(log)], use_inotify=False)) as tailer:
        (missing,) = tailer.poll()
        assert missing.error == f"{log}: no such file or directory"
        assert tailer.poll() == []
        log.write_text("one\n")
        (batch,) = tailer.poll()
        assert texts([batch]) == ["one"] and not batch.restarted
