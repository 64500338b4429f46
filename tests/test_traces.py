"""Traces over real OTLP (gRPC and HTTP receivers on loopback) from real 4-worker demo builds watched by a real
`luigi-exporter watch`: one trace per run, one span per attempt, times within the log's resolution of Luigi's own
event handlers, and every span delivered exactly once through collector outages and a SIGKILL of the sidecar."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, replay, run_demo, start_demo
from otlp_receiver import OtlpReceiver, ReceivedSpan
from sidecar import Sidecar
from truth import SLACK, expected_states, load, starts_and_ends

from exporter import ids
from exporter.pipeline import Pipeline
from exporter.sinks import otlp
from exporter.sinks.outbox import Outbox
from exporter.sinks.store import Store
from exporter.sinks.traces import TraceSink
from exporter.sources.files import read_blocks, read_lines

RESOLUTION = 0.001  # --ms: the log's times are Luigi's truncated to the millisecond
# Luigi logs `running` before it checks its dependencies' complete() and fires START after: on a busy 2-CPU machine
# that took up to 90 ms for tasks with many dependencies (the model's start is the log's, see the exact check).
DEPS_CHECK = 0.25
SERVER, INTERNAL = 2, 1  # OTLP SpanKind
UNSET, ERROR = 0, 2  # OTLP StatusCode
ENDED = ("succeeded", "failed", "blocked")
FAIL = ("--fail", "SWOTAnalysisTask")
EXTERNAL = "http://luigi-exporter.test:9588"  # --external-url: where the spans' run links point


def _build(run_dir: Path, truth: Path, *args: str, speed: str = "0.05") -> subprocess.Popen[bytes]:
    """The 61-task demo as a real Luigi build with 4 worker processes and millisecond timestamps."""
    return start_demo(run_dir, "--workers", "4", "--speed", speed, "--ms", "--truth", str(truth), *args)


def _attempts(events: list[dict[str, Any]]) -> dict[tuple[str, int], tuple[dict[str, Any], dict[str, Any]]]:
    """(task_id, attempt number) -> (START, end event) as Luigi's event handlers recorded them."""
    starts, ends = starts_and_ends(events)
    return {(tid, n): (s, ends[tid][n - 1]) for tid, ss in starts.items() for n, s in enumerate(ss, 1)}


def _expected_ids(log: Path, events: list[dict[str, Any]]) -> set[str]:
    """Every span the run must give: root, scheduling and one per attempt, by the deterministic ids."""
    source, run_id = str(log), log.parent.name
    keys = [("run",), ("scheduling",), *_attempts(events)]
    return {f"{ids.span_id(source, run_id, *key):016x}" for key in keys}


def _outbox(state: Path) -> int:
    with sqlite3.connect(state / "luigi-exporter.sqlite") as db:
        return db.execute("SELECT count(*) FROM outbox").fetchone()[0]


def _metric(text: str, name: str) -> float:
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(f"{name} "))


def _close(true: float, span_time: float, what: object, late: float = 0.0) -> None:
    """A span time is Luigi's event time truncated to the log's resolution (plus the handler's delay)."""
    assert -SLACK <= true - span_time < RESOLUTION + SLACK + late, (what, span_time, true)


def _metrics_when(sidecar: Sidecar, condition: Callable[[str], bool], timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while not condition(text := sidecar.get("/metrics").decode()):
        assert time.monotonic() < deadline, text
        time.sleep(0.05)
    return text


def _trace_sink(store: Store, external_url: str | None = None) -> TraceSink:
    """A trace sink on `store`, its outbox delivering as the sidecar's does."""
    outbox = Outbox(store, otlp.sender(), limit=100_000)
    outbox.start()
    return TraceSink(outbox, otlp.Encoder(), external_url)


def _same(span: ReceivedSpan) -> ReceivedSpan:
    """A span without its resource, which names the sending process (service.instance.id)."""
    return dataclasses.replace(span, resource={})


@dataclass
class Watched:
    protocol: str
    env: dict[str, str]
    log: Path
    events: list[dict[str, Any]]
    spans: list[ReceivedSpan]
    metrics: str


CASES = [
    pytest.param(("grpc", FAIL, {}), id="grpc-failure"),
    pytest.param(
        ("http", ("--flaky", "SWOTAnalysisTask", "--retry-count", "3"), {"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}),
        id="http-gzip-retry",
    ),
]


@pytest.fixture(scope="module", params=CASES)
def watched(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watched]:
    """A build watched live by `luigi-exporter watch` sending to a receiver, until every span arrived."""
    protocol, build_args, extra_env = request.param
    tmp = tmp_path_factory.mktemp("watched")
    runs = tmp / "runs"
    runs.mkdir()
    with contextlib.ExitStack() as cleanup:
        receiver = OtlpReceiver(protocol).start()
        cleanup.callback(receiver.stop)
        build = _build(runs / "PlanExe_live", tmp / "truth.jsonl", *build_args)  # the sidecar starts as it runs
        cleanup.callback(build.kill)
        env = {**receiver.env, **extra_env}
        sidecar = Sidecar(
            "watch",
            str(runs / "*" / "log.txt"),
            "--state-dir",
            str(tmp / "state"),
            "--external-url",
            EXTERNAL + "/",
            "--run-metrics",
            "1",  # luigi_run_info, whose trace_id the run dashboard links to
            log=tmp / "s",
            env=env,
        )
        cleanup.callback(sidecar.close)
        build.wait(timeout=60)
        events = load(str(tmp / "truth.jsonl"))
        expected = len(_expected_ids(runs / "PlanExe_live" / "log.txt", events))
        receiver.wait_for(lambda spans: len(spans) >= expected, timeout=20)
        sidecar.wait_for(lambda d: d["runs"][0]["status"] in ENDED, timeout=10)
        # The receiver has them a moment before the sidecar has its acknowledgement and deleted them.
        metrics = _metrics_when(sidecar, lambda m: _metric(m, "luigi_exporter_spans_sent_total") >= expected)
        assert sidecar.stop() == 0
        yield Watched(protocol, env, runs / "PlanExe_live" / "log.txt", events, receiver.spans(), metrics)


def test_watch_sends_one_trace_with_a_span_per_attempt(watched: Watched, capsys: pytest.CaptureFixture[str]) -> None:
    spans, events, log = watched.spans, watched.events, watched.log
    source, run_id = str(log), log.parent.name
    ids_seen = Counter(s.span_id for s in spans)
    assert max(ids_seen.values()) == 1, "a span arrived twice"
    assert set(ids_seen) == _expected_ids(log, events)
    assert {s.trace_id for s in spans} == {f"{ids.trace_id(source, run_id):032x}"}
    assert _metric(watched.metrics, "luigi_exporter_spans_sent_total") == len(spans)
    assert _metric(watched.metrics, "luigi_exporter_spans_queued") == 0

    (root,) = (s for s in spans if not s.parent_span_id)
    failed = "failed" in expected_states(events).values()
    assert root.name == "RUN FullPlanPipeline" and root.kind == SERVER
    assert root.span_id == f"{ids.span_id(source, run_id, 'run'):016x}"
    assert root.resource["service.name"] == "luigi-exporter"
    assert root.attributes["cicd.pipeline.name"] == "FullPlanPipeline"
    assert root.attributes["cicd.pipeline.run.id"] == run_id
    assert root.attributes["luigi.run.status"] == ("failed" if failed else "succeeded")
    assert root.status_code == (ERROR if failed else UNSET)
    assert root.attributes.get("error.type") == ("failed" if failed else None)
    run_url = f"{EXTERNAL}/api/runs/{run_id}"
    assert root.attributes["cicd.pipeline.run.url.full"] == run_url
    assert root.attributes["luigi.tasks.scheduled"] == 61
    assert root.attributes["luigi.tasks.failed"] == int(failed)
    assert all(s.parent_span_id == root.span_id for s in spans if s is not root)
    # The run dashboard's trace link: the trace_id /metrics gives the run is the trace its spans came in.
    (info,) = (line for line in watched.metrics.splitlines() if line.startswith("luigi_run_info{"))
    assert f'trace_id="{root.trace_id}"' in info and f'run_id="{run_id}"' in info
    assert all(root.start <= s.start <= s.end <= root.end for s in spans)

    attempts = _attempts(events)
    assert any(n > 1 for _, n in attempts) == (not failed)  # the flaky case retried, the failing one did not
    (scheduling,) = (s for s in spans if s.name == "scheduling")
    assert scheduling.start == root.start
    assert scheduling.end == min(s.start for s in spans if "luigi.task_id" in s.attributes)  # the first attempt's
    _close(min(start["time"] for start, _ in attempts.values()), scheduling.end, "scheduling end", late=DEPS_CHECK)

    tasks = [s for s in spans if "luigi.task_id" in s.attributes]
    by_key = {(s.attributes["luigi.task_id"], s.attributes["luigi.task.attempt"]): s for s in tasks}
    assert set(by_key) == set(attempts)
    (replayed,) = replay(capsys, log)["runs"]
    logged = {(t["task_id"], a["attempt"]): a for t in replayed["tasks"] for a in t["attempt_history"]}
    results = {"SUCCESS": "success", "FAILURE": "failure"}
    for (task_id, number), (start, end) in attempts.items():
        span = by_key[task_id, number]
        assert span.name == start["family"] and span.kind == INTERNAL
        assert span.attributes["cicd.pipeline.task.name"] == start["family"]
        assert span.attributes["cicd.pipeline.task.run.id"] == f"{task_id}#{number}"
        assert span.attributes["cicd.pipeline.task.run.result"] == results[end["event"]]
        assert span.attributes["luigi.worker.pid"] == start["pid"]
        assert span.attributes["cicd.pipeline.task.run.url.full"] == f"{run_url}#{urllib.parse.quote(task_id, safe='')}"
        assert span.attributes["luigi.param.run_id_dir"] == str(log.parent)
        assert (span.start, span.end) == pytest.approx(
            (logged[task_id, number]["started_at"], logged[task_id, number]["ended_at"]), abs=1e-6
        )
        _close(start["time"], span.start, (task_id, number, "start"), late=DEPS_CHECK)
        _close(end["time"], span.end, (task_id, number, "end"))
        previous = [(root.trace_id, f"{ids.span_id(source, run_id, task_id, number - 1):016x}")] if number > 1 else []
        assert list(span.links) == previous  # a retry links to the attempt before it
        if end["event"] == "SUCCESS":
            assert span.status_code == UNSET and not span.events and "error.type" not in span.attributes
            continue
        assert span.status_code == ERROR
        assert span.attributes["error.type"] == "Exception"  # the traceback's exception type
        (exception,) = span.events
        assert exception.name == "exception" and exception.time == span.end
        assert exception.attributes["exception.type"] == "Exception"
        assert exception.attributes["exception.message"].startswith("Failed to run SWOTAnalysisTask with any of")
        assert exception.attributes["exception.stacktrace"].startswith("Traceback (most recent call last):")
        assert span.status_message == "Exception: " + exception.attributes["exception.message"]


def test_replay_sends_the_same_trace_every_time(watched: Watched) -> None:
    receiver = OtlpReceiver(watched.protocol).start()
    sent = []
    try:
        for _ in range(2):
            proc = subprocess.run(
                [sys.executable, "-m", "exporter", "replay", str(watched.log), "--otlp", "--external-url", EXTERNAL],
                cwd=ROOT,
                env={**os.environ, **watched.env, **receiver.env},
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert proc.returncode == 0 and proc.stderr == "", proc.stderr
            sent.append(sorted(map(_same, receiver.spans()), key=lambda s: s.span_id))
            receiver.clear()
    finally:
        receiver.stop()
    assert sent[0] == sent[1]
    assert sent[0] == sorted(map(_same, watched.spans), key=lambda s: s.span_id)


def test_spans_do_not_depend_on_how_lines_come_in(watched: Watched, monkeypatch: pytest.MonkeyPatch) -> None:
    """One line per batch, each committed: a failed attempt's traceback (its exception event) always comes in a later
    batch than its `failed` line, so the span waits for it; the spans are the same as watch's."""
    receiver = OtlpReceiver(watched.protocol).start()
    for name, value in {**watched.env, **receiver.env}.items():
        monkeypatch.setenv(name, value)
    store = Store(None)
    traces = _trace_sink(store, EXTERNAL)
    pipeline = Pipeline(store, [traces])
    source = str(watched.log)
    try:
        for line, _ in read_lines(source, source):
            pipeline.feed(source, [line])
            pipeline.commit()
        pipeline.finish(source)
        pipeline.commit()
        traces.outbox.close(timeout=10)
    finally:
        store.close()
        receiver.stop()
    received = receiver.spans()
    failed = [s for s in received if s.attributes.get("cicd.pipeline.task.run.result") == "failure"]
    assert failed and all(s.events[0].attributes["exception.stacktrace"].startswith("Traceback") for s in failed)
    assert sorted(map(_same, received), key=lambda s: s.span_id) == sorted(
        map(_same, watched.spans), key=lambda s: s.span_id
    )


def _read_into_sinks(log: Path, receiver: OtlpReceiver, one_line_per_batch: bool) -> tuple[object, ...]:
    """`log` through a store and a trace sink, in blocks or a line per committed batch: what each sink wrote."""
    store = Store(None)
    traces = _trace_sink(store)
    pipeline = Pipeline(store, [traces])
    source = str(log)
    try:
        if one_line_per_batch:
            for line, _ in read_lines(source, source):
                pipeline.feed(source, [line])
                pipeline.commit()
        else:
            for block in read_blocks(source):
                pipeline.feed_blocks(source, [block])
                pipeline.commit()
        pipeline.finish(source)
        pipeline.commit()
        traces.outbox.close(timeout=10)
        # Attempts' rows: a task's state rows (attempt 0) take the run's latest time when the store learns the state,
        # which depends on the batch by design.
        columns = "run_id, task_id, attempt, event, time, worker_pid, error"
        query = f"SELECT {columns} FROM task_events WHERE attempt > 0 ORDER BY run_id, task_id, attempt, event"
        rows = store.connect().execute(query)
        return sorted(map(_same, receiver.spans()), key=lambda s: s.span_id), store.stats(), rows.fetchall()
    finally:
        store.close()
        receiver.clear()


def test_a_second_handlers_time_reaches_every_sink_in_any_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Luigi's own `LEVEL: msg` handler writes each record first, without a time, and a second handler's copy
    carries it. Read a line per batch, that copy comes in a later batch than the record it completes: the spans, the
    store's event rows and its duration counters are still those of the log read whole, each written once."""
    run_dir = tmp_path / "PlanExe_dual"
    run_demo(run_dir, "--workers", "2", "--speed", "0.01", "--ms", "--dual-handlers", "--fail", "SWOTAnalysisTask")
    log = run_dir / "log.txt"
    assert "\nDEBUG: Checking if" in log.read_text()  # the time-less copy, first
    receiver = OtlpReceiver("http").start()
    for name, value in receiver.env.items():
        monkeypatch.setenv(name, value)
    try:
        whole = _read_into_sinks(log, receiver, one_line_per_batch=False)
        by_line = _read_into_sinks(log, receiver, one_line_per_batch=True)
    finally:
        receiver.stop()
    spans, stats, rows = whole
    assert len(spans) > 30 and all(row[4] is not None for row in rows)  # every event row has its time
    assert sum(sum(s.buckets) for s in stats.values()) == sum(s.attempts for s in stats.values()) > 30
    assert by_line[0] == spans
    assert by_line[1] == stats
    assert by_line[2] == rows


@pytest.mark.parametrize(("protocol", "kill"), [("http", False), ("grpc", True)], ids=["http", "grpc-sigkill"])
def test_collector_down_then_up_every_span_exactly_once(protocol: str, kill: bool, tmp_path: Path) -> None:
    runs, state = tmp_path / "runs", tmp_path / "state"
    runs.mkdir()
    receiver = OtlpReceiver(protocol).start()
    receiver.stop()  # its port is known, nobody listens: the collector is down
    watch_args = ("watch", str(runs / "*" / "log.txt"), "--state-dir", str(state))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(receiver.stop)
        build = _build(runs / "PlanExe_down", tmp_path / "truth.jsonl", *FAIL)
        cleanup.callback(build.kill)
        sidecar = Sidecar(*watch_args, log=tmp_path / "s.log", env=receiver.env)
        cleanup.callback(lambda: sidecar.close())  # the one running at the end
        sidecar.wait_for(lambda d: bool(d["runs"]) and d["runs"][0]["tasks_done"] >= 10, timeout=60)
        if kill:
            sidecar.kill()
            assert _outbox(state) > 0
            sidecar = Sidecar(*watch_args, log=tmp_path / "s.log", env=receiver.env)
        sidecar.wait_for(lambda d: bool(d["runs"]) and d["runs"][0]["tasks_done"] >= 20, timeout=60)  # caught up
        assert receiver.spans() == [] and _outbox(state) > 0
        receiver.start()
        assert build.wait(timeout=60) == 1
        expected = _expected_ids(runs / "PlanExe_down" / "log.txt", load(str(tmp_path / "truth.jsonl")))
        receiver.wait_for(lambda spans: len(spans) >= len(expected), timeout=30)
        assert sidecar.stop() == 0
    received = Counter(s.span_id for s in receiver.spans())
    assert set(received) == expected and max(received.values()) == 1
    assert _outbox(state) == 0


def test_outbox_is_bounded_while_the_collector_is_down(tmp_path: Path) -> None:
    runs, state = tmp_path / "runs", tmp_path / "state"
    build = _build(runs / "PlanExe_small", tmp_path / "truth.jsonl", "--task", "ScenariosMarkdownTask", speed="0.01")
    assert build.wait(timeout=60) == 0
    expected = _expected_ids(runs / "PlanExe_small" / "log.txt", load(str(tmp_path / "truth.jsonl")))
    receiver = OtlpReceiver("grpc").start()
    receiver.stop()
    watch_args = ("watch", str(runs / "*" / "log.txt"), "--state-dir", str(state), "--outbox-max", "5")
    # Exports fail at once (the exporter's own retries stop at its timeout): errors count before the collector is up.
    env = {**receiver.env, "OTEL_EXPORTER_OTLP_TIMEOUT": "1"}
    sidecar = Sidecar(*watch_args, log=tmp_path / "s.log", env=env)
    try:
        _metrics_when(sidecar, lambda m: _metric(m, "luigi_exporter_span_export_errors_total") >= 1)
        metrics = _metrics_when(
            sidecar, lambda m: _metric(m, "luigi_exporter_spans_dropped_total") >= len(expected) - 5
        )
        assert _metric(metrics, "luigi_exporter_spans_dropped_total") == len(expected) - 5
        assert _metric(metrics, "luigi_exporter_spans_queued") == 5
        receiver.start()
        spans = receiver.wait_for(lambda spans: len(spans) >= 5, timeout=20)
        assert sidecar.stop() == 0
    finally:
        sidecar.close()
        receiver.stop()
    assert len(receiver.spans()) == 5 and {s.span_id for s in spans} <= expected
    assert any(not s.parent_span_id for s in spans)  # the newest kept: the root, made last
