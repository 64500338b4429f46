"""The parser on Luigi's own line shapes (luigi 3.8.1, quoted in ../shared/LUIGI-LOGS.md) in every handler format."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.events import (
    Checking,
    CompleteError,
    Died,
    DoneScheduling,
    FailureDetail,
    Informed,
    MissingData,
    RunningWorker,
    SchedulerDisabled,
    SchedulerRetry,
    SchedulingError,
    Summary,
    TaskDone,
    TaskFailed,
    TaskNewRequirements,
    TaskStarted,
    TaskStatus,
    TimedOut,
    WorkerStopped,
)
from exporter.lines import Line
from exporter.parse import Parser

WORKER = "Worker(salt=2605623771, workers=2, host=vm, username=root, pid=7921)"
RUNNING = f'[pid 7923] Worker {WORKER} running   StartTimeTask(run_id_dir=/srv/plans/retry, llm_models=["a", "b"])'
INFORMED = "Informed scheduler that task   D__srv_demo_out_c615f55f90   has status   PENDING"


def parse(*texts: str, tz: timezone | None = timezone.utc) -> list[object]:
    parser = Parser(tz)
    events: list[object] = []
    for i, text in enumerate(texts):
        events.extend(parser.feed(Line("t", i + 1, text)))
    events.extend(parser.flush())
    return events


@pytest.mark.parametrize(
    "text",
    [
        f"INFO: {INFORMED}",
        f"2026-11-24 23:05:17,227 - luigi-interface - INFO - {INFORMED}",
        f"2026-11-24 23:05:17 - luigi-interface - INFO - {INFORMED}",
        f"INFO:luigi-interface:{INFORMED}",
        f"2023-04-28 18:29:04,311 INFO luigi-interface : {INFORMED}",
        f"[12:11:03 AM] [2025-10-03 04:11:03 - luigi-interface:179 - INFO] {INFORMED}",
        f"\x1b[32m2026-11-24 23:05:17 - luigi-interface - INFO - {INFORMED}\x1b[0m",
        f"INFO  [luigi-interface] {INFORMED}",
        f"            INFO: {INFORMED}",
        f"Scraping pages:   0%|          | 0/1 [00:00<?, ?it/s]INFO: {INFORMED}",
    ],
    ids=[
        "luigi-default",
        "asctime-ms",
        "asctime-s",
        "basic",
        "name-after-level",
        "browser",
        "ansi",
        "alembic",
        "indented",
        "glued-after-tqdm",
    ],
)
def test_informed_line_in_every_format(text: str) -> None:
    (event,) = parse(text)
    assert event == Informed(task_id="D__srv_demo_out_c615f55f90", status="PENDING")


def test_timestamps_with_and_without_milliseconds_and_zone() -> None:
    a, b = parse(
        f"2026-11-24 23:05:17,227 - luigi-interface - INFO - {INFORMED}",
        "2026-11-24 23:05:18 - luigi-interface - DEBUG - Checking if D(x=1) is complete",
    )
    base = datetime(2026, 11, 24, 23, 5, 17, tzinfo=timezone.utc).timestamp()
    assert a.time == pytest.approx(base + 0.227) and b.time == base + 1
    (local,) = parse(f"INFO: {INFORMED}")
    assert local.time is None


@settings(max_examples=500, deadline=None)
@given(
    values=st.tuples(*(st.integers(0, top) for top in (9999, 13, 32, 25, 61, 62))),
    foreign=st.none() | st.integers(0, 18),
    separator=st.sampled_from([" ", "T"]),
)
def test_a_timestamp_reads_as_strptime_reads_it(values: tuple[int, ...], foreign: int | None, separator: str) -> None:
    """Dates and times in and out of range, a digit of another script anywhere: the time strptime gives, or none
    where it refuses them."""
    key = "{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d}".format(*values)
    if foreign is not None and key[foreign].isdigit():
        key = key[:foreign] + "٠١٢٣٤٥٦٧٨٩"[int(key[foreign])] + key[foreign + 1 :]
    (event,) = parse(f"{key[:10]}{separator}{key[11:]} - luigi-interface - INFO - {INFORMED}")
    try:
        expected = datetime.strptime(key, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        assert event.time is None
    else:
        assert event.time == expected.replace(tzinfo=timezone.utc).timestamp()


def test_a_second_of_the_same_stamp_with_and_without_a_fraction() -> None:
    """The cached second: a fraction after a comma or a dot counts, a comma without digits does not."""
    tails = {"": "PENDING", ",x": "DONE", ".25": "FAILED", ",5": "UNKNOWN"}  # other statuses: no echoes
    events = parse(
        *(f"2026-11-24 23:05:17{tail} - luigi-interface - INFO - {INFORMED[:-7]}{s}" for tail, s in tails.items())
    )
    base = datetime(2026, 11, 24, 23, 5, 17, tzinfo=timezone.utc).timestamp()
    assert [e.time for e in events] == [base, base, base + 0.25, base + 0.5]


def test_worker_lines_carry_pid_worker_and_repr() -> None:
    events = parse(
        f"INFO: {RUNNING}",
        f"INFO: [pid 7923] Worker {WORKER} new requirements      A(x=1)",
        f"INFO: [pid 7923] Worker {WORKER} done      A(x=1)",
        f"ERROR: [pid 7935] Worker {WORKER} failed    B()",
    )
    assert [type(e) for e in events] == [TaskStarted, TaskNewRequirements, TaskDone, TaskFailed]
    assert events[0].pid == 7923 and events[0].worker == WORKER
    assert events[0].repr == 'StartTimeTask(run_id_dir=/srv/plans/retry, llm_models=["a", "b"])'


def test_checking_is_the_scheduling_walk_not_a_start() -> None:
    (event,) = parse("DEBUG: Checking if PotentialLeversTask(run_id_dir=/srv/x) is complete")
    assert event == Checking(repr="PotentialLeversTask(run_id_dir=/srv/x)")


def test_traceback_is_attached_after_the_failure() -> None:
    events = parse(
        f"2026-11-24 23:14:34 - luigi-interface - ERROR - [pid 7935] Worker {WORKER} failed    B()",
        "Traceback (most recent call last):",
        '  File ".../luigi/worker.py", line 215, in run',
        "Exception: Failed to run B with any of the LLMs in the list: ['a', 'b']",
        "2026-11-24 23:14:34 - luigi.scheduler - DEBUG - B__99914b932b task num failures is 1 and limit is 3",
    )
    assert [type(e) for e in events] == [TaskFailed, FailureDetail, SchedulerRetry]
    assert events[1].text.splitlines()[-1] == "Exception: Failed to run B with any of the LLMs in the list: ['a', 'b']"
    assert events[2] == SchedulerRetry(task_id="B__99914b932b", failures=1, limit=3)


def test_main_process_lines() -> None:
    events = parse(
        "INFO: Task Dies__99914b932b died unexpectedly with exit code 3",
        "INFO: Task Hangs__99914b932b timed out after 1 seconds and was terminated.",
        "WARNING: Data for RawData(day=2026-11-25) does not exist (yet?). The task is an external data dependency, "
        "so it cannot be run from this luigi process.",
        "WARNING: Will not run Broken() or any dependencies due to error in complete() method:",
        "OSError: storage unreachable",
        "ERROR: Luigi unexpected framework error while scheduling ExtractSalesData()",
        "DEBUG: X__99914b932b task num failures limit(2) is exceeded",
        "INFO: Done scheduling tasks",
        "INFO: Running Worker with 4 processes",
        f"INFO: Worker {WORKER} was stopped. Shutting down Keep-Alive thread",
    )
    assert events == [
        Died(task_id="Dies__99914b932b", exit_code=3),
        TimedOut(task_id="Hangs__99914b932b", seconds=1.0),
        MissingData(repr="RawData(day=2026-11-25)"),
        CompleteError(repr="Broken()"),
        FailureDetail(text="OSError: storage unreachable"),
        SchedulingError(repr="ExtractSalesData()"),
        SchedulerDisabled(task_id="X__99914b932b", limit=2),
        DoneScheduling(),
        RunningWorker(processes=4),
        WorkerStopped(worker=WORKER),
    ]


def test_echoes_of_one_record_count_once() -> None:
    events = parse(
        f"INFO: {INFORMED}",
        f"[2025-10-03 04:11:03 - luigi-interface:179 - INFO] {INFORMED}",
        f"\x1b[32m2025-10-03 04:11:03 - luigi-interface - INFO - {INFORMED}",
        "INFO: Done scheduling tasks",
        "INFO: Done scheduling tasks",
    )
    # The first copy has no time; the second brings it (the model keeps one), the third is dropped.
    assert [type(e) for e in events] == [Informed, Informed, DoneScheduling]


def test_crlf_and_bare_carriage_returns() -> None:
    events = parse(f"INFO: {INFORMED}\r", "progress 10%\rprogress 90%\rINFO: Running Worker with 1 processes")
    assert [type(e) for e in events] == [Informed, RunningWorker]


SUMMARY_3X = """
===== Luigi Execution Summary =====

Scheduled 61 tasks of which:
* 3 complete ones were encountered:
    - 3 SetupTask(...)
* 54 ran successfully:
    - 1 CandidateScenariosTask(run_id_dir=/srv/plans/w4_fail, ...)
    ...
* 1 failed:
    - 1 SWOTAnalysisTask(run_id_dir=/srv/plans/w4_fail, ...)
* 3 were left pending, among these:
    * 3 had failed dependencies:
        - 1 ExecutiveSummaryTask(run_id_dir=/srv/plans/w4_fail, ...)
        ...

This progress looks :( because there were failed tasks

===== Luigi Execution Summary =====
"""


def test_execution_summary_block() -> None:
    events = parse("2026-11-24 23:05:17,336 - luigi-interface - INFO - ", *SUMMARY_3X.splitlines())
    (summary,) = events
    assert isinstance(summary, Summary)
    assert summary.scheduled == 61
    assert dict(summary.counts) == {
        "already_done": 3,
        "completed": 54,
        "failed": 1,
        "still_pending": 3,
        "upstream_failure": 3,
    }
    assert summary.truncated == ("completed", "upstream_failure")
    assert summary.smiley == ":(" and summary.reason == "there were failed tasks"
    assert summary.listed("failed") == ("SWOTAnalysisTask(run_id_dir=/srv/plans/w4_fail, ...)",)


@pytest.mark.parametrize(
    ("wording", "category"),
    [
        ("present dependencies were encountered", "already_done"),
        ("were missing external dependencies", "still_pending_ext"),
        ("were being run by another worker", "run_by_other_worker"),
        ("failed scheduling", "scheduling_error"),
        ("had missing dependencies", "upstream_missing_dependency"),
        ("had dependencies that were being run by other worker", "upstream_run_by_other_worker"),
        ("had dependencies whose scheduling failed", "upstream_scheduling_error"),
        ("was not granted run permission by the scheduler", "not_run"),
    ],
)
def test_every_summary_wording(wording: str, category: str) -> None:
    block = [
        "INFO: ",
        "===== Luigi Execution Summary =====",
        "Scheduled 2 tasks of which:",
        f"* 2 {wording}:",
        "    - 2 A(i=0...1)",
        "This progress looks :| because x",
        "===== Luigi Execution Summary =====",
    ]
    (summary,) = parse(*block)
    assert summary.count(category) == 2


def test_nothing_scheduled_and_nothing_run() -> None:
    (empty,) = parse(
        "INFO: ",
        "===== Luigi Execution Summary =====",
        "Did not schedule any tasks",
        "===== Luigi Execution Summary =====",
    )
    assert empty.scheduled == 0
    (idle,) = parse(
        "INFO: ",
        "===== Luigi Execution Summary =====",
        "Scheduled 1 tasks of which:",
        "* 1 complete ones were encountered:",
        "    - 1 MyTask(name=Bob)",
        "",
        "Did not run any tasks",
        "This progress looks :) because there were no failed tasks or missing dependencies",
        "===== Luigi Execution Summary =====",
    )
    assert idle.did_not_run and idle.count("already_done") == 1


def test_application_chatter_is_ignored_and_unknown_worker_verbs_counted() -> None:
    parser = Parser()
    assert parser.feed(Line("t", 1, "2026-11-24 23:05:17 - httpx - DEBUG - HTTP Request: POST https://x")) == []
    assert parser.feed(Line("t", 2, f"INFO: [pid 1] Worker {WORKER} exploded   A()")) == []
    assert parser.lines_unparsed == 1 and parser.lines_read == 2


def test_a_status_luigi_does_not_write_is_counted_not_taken() -> None:
    """luigi/task_status.py's words only: `Pending1` or `DONEX` would make a task of a status nothing reads."""
    parser = Parser()
    for i, status in enumerate(("Pending1", "DONEX", "DONE日")):
        assert parser.feed(Line("t", i, f"INFO: Informed scheduler that task   D_1   has status   {status}")) == []
    assert parser.lines_unparsed == 3
    (event,) = parser.feed(Line("t", 9, "INFO: Informed scheduler that task   D_1   has status   BATCH_RUNNING"))
    assert event == Informed(task_id="D_1", status=TaskStatus.BATCH_RUNNING)
