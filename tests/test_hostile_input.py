"""Hostile input for `replay` and `watch`: garbage between real builds, a 100 MB line, cut records, interleaved writers.

The real builds around the garbage must come out exactly as when each is replayed alone; memory stays bounded (a
line longer than MAX_LINE_BYTES is cut and counted, never buffered whole); no traceback ever reaches the user.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, replay, start_demo
from luigi.task import task_id_str
from sidecar import Sidecar

from exporter.lines import Line
from exporter.parse import Parser
from exporter.sources.files import MAX_LINE_BYTES

BIG = 100 << 20  # the 100 MB line
PEAK_LIMIT_MB = 300
HEADER = re.compile(rb"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
# A unit of the 100 MB line: fragments of every Luigi phrase, so that its 1 MiB head reaches every pattern.
EVIL = (
    "Checking if Informed scheduler that task [pid 1] Worker Worker(x Data for Will not run task num failures "
    "x task num failures limit( Task died unexpectedly timed out after " + "-" * 40 + " " * 40 + "a" * 40
)
# A summary with no build before it (and a timestamp years back).
GHOST_SUMMARY = b"""2020-01-01 00:00:00,000 - luigi-interface - INFO -
===== Luigi Execution Summary =====

Scheduled 3 tasks of which:
* 2 ran successfully:
    - 2 Ghost(n=1,2)
* 1 failed:
    - 1 Ghost(n=3)

This progress looks :( because there were failed tasks

===== Luigi Execution Summary =====

"""


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three real demo builds run side by side (so their times overlap): A fails a task, B succeeds, C (a smaller
    build) is cut mid-record before its summary, its last line half written."""
    base = tmp_path_factory.mktemp("builds")
    procs = {
        "A": start_demo(base / "A", "--workers", "2", "--speed", "0", "--ms", "--fail", "SWOTAnalysisTask"),
        "B": start_demo(base / "B", "--workers", "1", "--speed", "0"),
        "C": start_demo(base / "C", "--workers", "2", "--speed", "0", "--task", "SWOTAnalysisTask"),
    }
    for proc in procs.values():
        proc.communicate(timeout=120)
    logs = {name: base / name / "log.txt" for name in procs}
    data = logs["C"].read_bytes()
    running = [m.start() for m in re.finditer(rb"\] Worker Worker\(.*\) running ", data)]
    start = data.rindex(b"\n", 0, running[len(running) // 2]) + 1
    end = data.index(b"\n", start) + 1
    half = data[start : data.index(b"wor", data.index(b"Worker(", start)) + 3]  # the next line, cut mid-record
    logs["C"].write_bytes(data[:end] + half + b"\n")  # a task running; a worker line cut inside its worker id
    return logs


def _garbage(seed: int) -> bytes:
    """Random bytes, NULs, invalid UTF-8, bare CRs, colours, a Luigi-looking line from 1999."""
    rnd = random.Random(seed)
    return b"".join(
        [
            rnd.randbytes(64 << 10),
            b"\n" + b"\x00" * 4096 + b"\n",
            b"\xff\xfe\xfd\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\x28\n",
            b"\r\r\r\n\x1b[31m\x1b[A\x1b[0m\n",
            b"1999-01-01 00:00:00 - root - INFO - " + "é".encode()[:1] + b"\n",
        ]
    )


def _hostile(path: Path, builds: dict[str, Path], big: bytes) -> None:
    """A, garbage, a summary with no build, C (no summary, cut mid-record), the 100 MB line, garbage, B."""
    with open(path, "wb") as f:
        f.write(builds["A"].read_bytes())
        f.write(_garbage(1))
        f.write(GHOST_SUMMARY)
        f.write(builds["C"].read_bytes())
        f.write(big)
        f.write(_garbage(2))
        f.write(builds["B"].read_bytes())


def _big_line() -> bytes:
    """100 MB with no newline, then one."""
    unit = EVIL.encode()
    return (unit * (BIG // len(unit) + 1))[:BIG] + b"\n"


def _alone(run: dict[str, Any], *drop: str) -> dict[str, Any]:
    """A run without what depends on the file it was read from (and without the live-only fields)."""
    return {k: v for k, v in run.items() if k not in ("run_id", "source", "eta_s", "trace_id", *drop)}


def _clean_runs(capsys: pytest.CaptureFixture[str], builds: dict[str, Path]) -> dict[str, dict[str, Any]]:
    return {name: replay(capsys, path)["runs"][0] for name, path in builds.items()}


def _measured(*args: str, timeout: float = 120) -> tuple[int, str, str, float]:
    """Run `luigi-exporter ARGS` in a fresh parent that reports its child's peak RSS (MB): nothing else is counted."""
    probe = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "sys.stdout.buffer.write(p.stdout)\n"
        "sys.stderr.buffer.write(p.stderr)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(p.returncode)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, sys.executable, "-m", "exporter", *args],
        cwd=ROOT,
        capture_output=True,
        timeout=timeout,
    )
    *err, peak_kb = proc.stderr.decode(errors="replace").rstrip("\n").split("\n")
    return proc.returncode, proc.stdout.decode(errors="replace"), "\n".join(err), int(peak_kb) / 1024


def _check_hostile_runs(runs: list[dict[str, Any]], clean: dict[str, dict[str, Any]]) -> None:
    """[A, the summary's run, C, B]: the real builds exactly as alone, the ghost summary a run of its own."""
    a, ghost, c, b = runs
    assert _alone(a) == _alone(clean["A"])
    assert _alone(b) == _alone(clean["B"])
    assert _alone(c, "status") == _alone(clean["C"], "status") and c["status"] == "incomplete"
    assert clean["C"]["status"] == "incomplete" and clean["C"]["tasks_running"] > 0
    assert (ghost["status"], ghost["tasks"], ghost["tasks_total"]) == ("failed", [], 3)
    assert (ghost["tasks_done"], ghost["tasks_failed"], ghost["progress_ratio"]) == (2, 1, round(2 / 3, 6))


# -- the parser alone ---------------------------------------------------------------------------------------------

PATHOLOGICAL = {
    "dashes": "-",
    "dash words": "a-",
    "evil": EVIL,
    "checking": "Checking if ",
    "worker ids": "[pid 1] Worker Worker(",
    "missing data": "Data for ",
    "complete error": "Will not run ",
    "informed": "Informed scheduler that task ",
    "retry": "x task num failures limit(",
    "blanks": "Luigi unexpected framework error while scheduling x" + " " * 64,
    "summary": "* 1 x" + " " * 64,
}


@pytest.mark.parametrize("unit", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_pathological_lines_parse_in_linear_time(unit: str) -> None:
    """A line of MAX_LINE_BYTES built to make a backtracking pattern explode parses in well under a second (before:
    120 dashes took 7 s in the header pattern, a 20 KB line 10 s in the retry pattern, 1 MiB would have taken hours).
    """
    text = (unit * (MAX_LINE_BYTES // len(unit) + 1))[:MAX_LINE_BYTES]
    for variant in (text, text + " is complete", "2024-01-02 03:04:05 INFO " + text, "-" * 120):
        parser = Parser()
        start = time.perf_counter()
        parser.feed(Line("log", 0, "===== Luigi Execution Summary ====="))
        parser.feed(Line("log", 1, variant))  # inside a summary block
        parser.flush()
        parser.feed(Line("log", 2, variant))  # outside one
        parser.flush()
        assert time.perf_counter() - start < 1.0, unit


def test_long_traceback_is_bounded() -> None:
    """A failure followed by 50 lines of 1 MiB keeps a bounded traceback (at most 400 lines of 1 MiB before)."""
    parser = Parser()
    head = "2024-01-02 03:04:05 - luigi-interface - ERROR - [pid 7] Worker Worker(salt=1, workers=1, host=h, "
    parser.feed(Line("log", 0, head + "username=u, pid=7) failed    A(x=1)"))
    for i in range(50):
        parser.feed(Line("log", i + 1, "x" * MAX_LINE_BYTES))
    (detail,) = parser.flush()
    assert 0 < len(detail.text) <= 1 << 18


# -- replay --------------------------------------------------------------------------------------------------------


def test_replay_hostile_file(tmp_path: Path, builds: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """Real builds around garbage and a 100 MB line: exit 0, no traceback, peak RSS < 300 MB, every real build as
    when replayed alone, the cut lines counted."""
    log = tmp_path / "hostile.log"
    _hostile(log, builds, _big_line())
    try:
        code, out, err, peak = _measured("replay", "--json", str(log))
    finally:
        log.unlink()
    assert code == 0 and "Traceback" not in err, err
    assert peak < PEAK_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    with capsys.disabled():
        print(f"\nreplay of a {BIG >> 20} MB line between real builds: peak RSS {peak:.0f} MB")
    doc = json.loads(out)
    _check_hostile_runs(doc["runs"], _clean_runs(capsys, builds))
    assert doc["lines_unparsed"] >= 2  # C's half-written worker line, the 100 MB line cut to 1 MiB


def test_long_reprs_leave_memory_with_their_runs(tmp_path: Path) -> None:
    """Builds one after another, each with a task whose repr is 300 KB (a hostile line, or huge params): replay
    drops each run as it ends, and nothing else keeps its reprs (the caches of reprs and ids kept 151 MB here)."""
    header = "2026-01-02 03:04:05 - luigi-interface - "
    values = random.Random(5)
    log = tmp_path / "long-reprs.log"
    with log.open("w") as f:
        for i in range(100):
            value = "".join(values.choices("abcdefghij", k=300_000))
            f.write(f"{header}DEBUG - Checking if T{i}(a={value}, b=x{i}) is complete\n")
            task_id = task_id_str(f"T{i}", {"a": value, "b": f"x{i}"})  # Luigi's own
            f.write(f"{header}INFO - Informed scheduler that task   {task_id}   has status   DONE\n")
            f.write(f"{header}INFO - Done scheduling tasks\n{header}INFO - \n===== Luigi Execution Summary =====\n\n")
            f.write(f"Scheduled 1 tasks of which:\n* 1 complete ones were encountered:\n    - 1 T{i}(a=...)\n\n")
            f.write("Did not run any tasks\nThis progress looks :) because there were no failed tasks or missing ")
            f.write("dependencies\n\n===== Luigi Execution Summary =====\n\n")
    code, out, err, peak = _measured("replay", "--json", str(log))
    assert code == 0 and "Traceback" not in err, err
    runs = json.loads(out)["runs"]
    assert len(runs) == 100 and {(r["status"], r["tasks_total"], r["tasks_already_done"]) for r in runs} == {
        ("succeeded", 1, 1)
    }
    assert runs[7]["tasks"][0]["params"]["b"] == "x7"
    assert peak < 80, f"peak RSS {peak:.0f} MB"


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00" * 10_000, random.Random(3).randbytes(200_000), b"\xff\xfe" * 1000 + b"\n", b"\n\n\r\n"],
    ids=["empty", "nuls", "random", "invalid-utf8", "blank"],
)
def test_replay_garbage_only(tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "garbage.log"
    log.write_bytes(content)
    doc = replay(capsys, log)
    assert doc["runs"] == [] and doc["lines_unparsed"] == 0


def test_replay_summary_without_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "ghost.log"
    log.write_bytes(GHOST_SUMMARY)
    (run,) = replay(capsys, log)["runs"]
    assert (run["status"], run["tasks_total"], run["tasks_done"], run["tasks_failed"]) == ("failed", 3, 2, 1)


def test_replay_summary_that_contradicts_itself(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A hand-written block claiming more than it scheduled is read as a consistent one: never 5 of 1 complete."""
    block = GHOST_SUMMARY.replace(b"Scheduled 3", b"Scheduled 1").replace(b"* 2 ran", b"* 5 ran")
    block = block.replace(b"* 1 failed:", b"* 7 had failed dependencies:")
    (tmp_path / "liar.log").write_bytes(block)
    (run,) = replay(capsys, tmp_path / "liar.log")["runs"]
    assert run["tasks_completed"] <= run["tasks_total"] and 0 <= run["progress_ratio"] <= 1
    assert min(v for k, v in run.items() if k.startswith("tasks_") and isinstance(v, int)) >= 0


def test_replay_summary_with_a_header_on_every_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Some handlers prefix every line of a record: such a block is not taken for a cut one (see the test below)."""
    head = b"2020-01-01 00:00:00,000 - luigi-interface - INFO - "
    (tmp_path / "prefixed.log").write_bytes(b"".join(head + line for line in GHOST_SUMMARY.splitlines(keepends=True)))
    (run,) = replay(capsys, tmp_path / "prefixed.log")["runs"]
    assert (run["status"], run["summary"]["scheduled"]) == ("failed", 3)


def test_replay_cut_summary_does_not_swallow_the_next_build(
    tmp_path: Path, builds: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A's summary cut mid-block (its writer died), then B: B is whole (it used to vanish into A's summary)."""
    a = builds["A"].read_bytes()
    log = tmp_path / "cut-summary.log"
    log.write_bytes(a[: a.index(b"* 1 failed:")] + b"* 1 fai\n" + builds["B"].read_bytes())
    first, second = replay(capsys, log)["runs"]
    assert _alone(second) == _alone(_clean_runs(capsys, {"B": builds["B"]})["B"])
    assert first["status"] == "failed" and first["summary"]["scheduled"] == 61


def test_replay_unreadable_inputs(tmp_path: Path) -> None:
    """A directory or a missing file: exit 2 and one line saying what is wrong, no traceback."""
    for target in (tmp_path, tmp_path / "missing.log"):
        proc = subprocess.run(
            [sys.executable, "-m", "exporter", "replay", str(target)], cwd=ROOT, capture_output=True, timeout=60
        )
        err = proc.stderr.decode()
        assert proc.returncode == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def _records(data: bytes) -> list[bytes]:
    """Whole log records: a line with a timestamp and the lines (traceback, summary) that continue it."""
    records: list[bytes] = []
    for line in data.splitlines(keepends=True):
        if HEADER.match(line) or not records:
            records.append(line)
        else:
            records[-1] += line
    return records


@pytest.mark.parametrize("start", ["done scheduling", "right after a failure"])
@pytest.mark.parametrize("seed", [0, 1])
def test_interleaved_writers(
    tmp_path: Path, builds: dict[str, Path], capsys: pytest.CaptureFixture[str], start: str, seed: int
) -> None:
    """Two builds writing whole records into one file at once, the second starting while the first runs (or just
    after it failed a task, when Luigi may re-add tasks): each build comes out as when replayed alone."""
    a, b = _records(builds["A"].read_bytes()), _records(builds["B"].read_bytes())
    mark = b"Done scheduling tasks" if start == "done scheduling" else b"has status   FAILED"
    k = next(i for i, r in enumerate(a) if mark in r) + 1
    rnd = random.Random(seed)
    out, rest_a, rest_b = a[:k], a[k:], b
    if start != "done scheduling":  # the second build's whole dependency walk before the first goes on
        kb = next(i for i, r in enumerate(b) if b"Done scheduling tasks" in r) + 1
        out, rest_b = out + b[:kb], b[kb:]
    while rest_a or rest_b:
        if rest_a and (not rest_b or rnd.random() < 0.5):
            out.append(rest_a.pop(0))
        else:
            out.append(rest_b.pop(0))
    log = tmp_path / "interleaved.log"
    log.write_bytes(b"".join(out))
    first, second = replay(capsys, log)["runs"]
    clean = _clean_runs(capsys, {"A": builds["A"], "B": builds["B"]})
    assert _alone(first) == _alone(clean["A"])
    assert _alone(second) == _alone(clean["B"])


# -- watch ---------------------------------------------------------------------------------------------------------


def _metric(text: str, name: str) -> float:
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert m is not None, name
    return float(m[1])


def _vm_hwm_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    assert m is not None
    return int(m[1]) / 1024


def test_watch_hostile_file_appended_live(
    tmp_path: Path, builds: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The same hostile content appended to a followed file while `watch` runs: the sidecar lives, serves the same
    runs as replay (C incomplete: B began after C's last line and ended, so no line will end C), counts the cut
    lines, and stays under 300 MB."""
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "hostile.log"
    log.touch()
    sidecar = Sidecar("watch", str(logs / "*.log"), "--state-dir", "none", log=tmp_path / "sidecar.log")
    try:
        with open(log, "ab") as f:
            for part in (builds["A"].read_bytes(), _garbage(1), GHOST_SUMMARY, builds["C"].read_bytes()):
                f.write(part)
                f.flush()
            sidecar.wait_for(lambda d: len(d["runs"]) == 3, timeout=30)
            unit = EVIL.encode()
            chunk = (unit * ((8 << 20) // len(unit) + 1))[: 8 << 20]
            for _ in range(BIG // len(chunk)):  # the 100 MB line, written 8 MB at a time
                f.write(chunk)
                f.flush()
            f.write(b"\n" + _garbage(2))
            f.flush()
            f.write(builds["B"].read_bytes())
        doc = sidecar.wait_for(lambda d: len(d["runs"]) == 4 and d["runs"][3]["status"] == "succeeded", timeout=60)
        assert sidecar.proc.poll() is None, "the sidecar died"
        peak = _vm_hwm_mb(sidecar.proc.pid)
        metrics = sidecar.get("/metrics").decode()
        assert sidecar.stop() == 0
    finally:
        sidecar.close()
        log.unlink()
    err = (tmp_path / "sidecar.log").read_text(errors="replace")
    assert "Traceback" not in err, err
    assert peak < PEAK_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    with capsys.disabled():
        print(f"\nwatch of a {BIG >> 20} MB line appended live: peak RSS {peak:.0f} MB")
    assert _metric(metrics, "luigi_exporter_lines_unparsed_total") >= 2
    _check_hostile_runs(doc["runs"], _clean_runs(capsys, builds))


def test_watch_directory_where_a_file_was_expected(tmp_path: Path, builds: dict[str, Path]) -> None:
    """The followed path is a directory: said once, the sidecar keeps serving; once a log replaces the directory,
    it is followed from its first byte."""
    target = tmp_path / "luigi.log"
    target.mkdir()
    err = tmp_path / "sidecar.log"
    sidecar = Sidecar("watch", str(target), "--state-dir", "none", log=err)
    try:
        deadline = time.monotonic() + 10
        while "is a directory" not in err.read_text():
            assert time.monotonic() < deadline, err.read_text()
            time.sleep(0.05)
        assert sidecar.get("/healthz") == b"ok\n" and sidecar.runs()["runs"] == []
        target.rmdir()
        target.write_bytes(builds["B"].read_bytes())
        doc = sidecar.wait_for(lambda d: bool(d["runs"]) and d["runs"][0]["status"] == "succeeded", timeout=20)
        assert doc["lines_read"] == builds["B"].read_bytes().count(b"\n")
        assert sidecar.stop() == 0
    finally:
        sidecar.close()
    text = err.read_text()
    assert text.count("is a directory") == 1 and "Traceback" not in text, text
