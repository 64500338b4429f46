"""Prometheus metrics: a custom Collector that reads the model and the store's counters at scrape time.

No state lives in metric objects (prometheus_client's custom-collector pattern): each scrape builds fresh families.
Per-run series exist for unfinished runs and the most recent finished ones (`Retention`), so cardinality stays
bounded; per-family counters come from the store, so they survive a restart and `rate()` sees no reset.
`Exposition` renders the per-family series again only when those counters change.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Exemplar

from exporter import __version__
from exporter.model import FAILED_RESULTS, Run
from exporter.retention import Retention, retained
from exporter.sinks.family_stats import DURATION_BUCKETS, FamilyStats
from exporter.sinks.run_families import SERIES_PER_RUN, Figures, pipeline_metrics, run_metrics
from exporter.sinks.store import Store

__all__ = ["SERIES_PER_RUN", "Exposition", "FamilyCollector", "LuigiCollector", "OutboxCollector"]


class Readable(Protocol):
    """What the collector reads of the pipeline (structurally: sinks never import the wiring above them)."""

    lock: AbstractContextManager[Any]
    lines_read: int
    lines_unparsed: int
    read_errors: int
    sink_errors: Counter[str]

    def runs(self) -> list[Run]: ...

    def sources(self) -> list[str]: ...

    def sink_names(self) -> list[str]: ...


class LuigiCollector:
    """The runs and the exporter itself; `lag` gives unread bytes per followed file, `files` the tailer's counters
    (both empty for a wrapped command).

    Series are bounded by design: per pipeline (its latest run, its tasks running, its last success) always, per
    run (`run_id`) only with `run_series` > 0, for the runs still going and the `run_series` newest finished ones
    the retention keeps (each run: `SERIES_PER_RUN` series plus one per family running)."""

    def __init__(
        self,
        pipeline: Readable,
        store: Store,
        retention: Retention = Retention(),
        lag: Callable[[], dict[str, int]] = dict,
        clock: Callable[[], float] = time.time,
        run_series: int = 0,
        files: Callable[[], dict[str, int]] = dict,
    ) -> None:
        self._pipeline = pipeline
        self._store = store
        self._retention = retention
        self._lag = lag
        self._clock = clock
        self._run_series = run_series
        self._files = files

    def collect(self) -> Iterator[Metric]:
        now = self._clock()
        with self._pipeline.lock:
            runs = retained(self._pipeline.runs(), self._retention, now)
            figures = {id(run): Figures.of(run, self._store, now) for run in runs}
            per_run = retained(runs, Retention(self._run_series), now) if self._run_series > 0 else []
        yield from pipeline_metrics(runs, figures, self._store.run_totals())
        if self._run_series > 0:
            yield from run_metrics(per_run, figures)
        yield from self._exporter_metrics()

    def _exporter_metrics(self) -> Iterator[Metric]:
        p = self._pipeline
        yield CounterMetricFamily("luigi_exporter_lines", "Lines read.", value=p.lines_read)
        yield CounterMetricFamily(
            "luigi_exporter_lines_unparsed",
            "Lines that looked like Luigi's but could not be read.",
            value=p.lines_unparsed,
        )
        yield CounterMetricFamily("luigi_exporter_read_errors", "Failed reads of a source.", value=p.read_errors)
        yield GaugeMetricFamily("luigi_exporter_sources", "Sources followed.", value=len(p.sources()))
        yield GaugeMetricFamily(
            "luigi_exporter_source_lag_bytes", "Bytes not read yet, over every source.", value=sum(self._lag().values())
        )
        files = self._files()
        yield CounterMetricFamily(
            "luigi_exporter_file_rotations",
            "Followed files replaced by a new file under their path (read on from its start).",
            value=files.get("rotations", 0),
        )
        yield CounterMetricFamily(
            "luigi_exporter_file_truncations",
            "Followed files cut shorter or rewritten in place (read again from byte 0).",
            value=files.get("truncations", 0),
        )
        sink_errors = CounterMetricFamily("luigi_exporter_sink_errors", "Failures of a sink.", labels=["sink"])
        for sink in sorted({"store", *p.sink_names(), *p.sink_errors}):
            sink_errors.add_metric([sink], p.sink_errors[sink])
        yield sink_errors
        build = InfoMetricFamily("luigi_exporter_build", "luigi-exporter's version.")
        build.add_metric([], {"version": __version__})
        yield build


class FamilyCollector:
    """Per-family attempts, failures, retries and durations, from the store's counters (they survive restarts)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        stats = self._store.stats()
        labels = ["pipeline", "family"]
        durations = HistogramMetricFamily(
            "luigi_task_duration_seconds", "Duration of task attempts.", labels=[*labels, "result"]
        )
        attempts = CounterMetricFamily("luigi_task_attempts", "Task attempts by result.", labels=[*labels, "result"])
        failures = CounterMetricFamily("luigi_task_failures", "Failed task attempts.", labels=labels)
        retries = CounterMetricFamily("luigi_task_retries", "Attempts after a failed one.", labels=labels)
        failed: dict[tuple[str, str], int] = {}
        retried: dict[tuple[str, str], int] = {}
        for (pipeline, family, result), s in sorted(stats.items()):
            retried[(pipeline, family)] = retried.get((pipeline, family), 0) + s.retries
            if result == "":  # the row that only counts retries
                continue
            attempts.add_metric([pipeline, family, result], s.attempts)
            failed_now = s.attempts if result in FAILED_RESULTS else 0
            failed[(pipeline, family)] = failed.get((pipeline, family), 0) + failed_now
            durations.add_metric([pipeline, family, result], _buckets(s), sum_value=s.duration_sum)
        for key, n in failed.items():  # zeros included: alerts and dashboards see a family before it fails
            failures.add_metric(list(key), n)
        for key, n in retried.items():
            retries.add_metric(list(key), n)
        yield from (durations, attempts, failures, retries)


class Delivering(Protocol):
    """What the outbox collector reads of the span outbox (`exporter.sinks.outbox.Outbox`)."""

    @property
    def spans_queued(self) -> int: ...

    @property
    def spans_dropped_total(self) -> int: ...

    spans_sent_total: int
    export_errors_total: int


class OutboxCollector:
    """The span outbox: what waits for the collector, what it took, what was dropped and what failed."""

    def __init__(self, outbox: Delivering) -> None:
        self._outbox = outbox

    def collect(self) -> Iterator[Metric]:
        o = self._outbox
        yield GaugeMetricFamily(
            "luigi_exporter_spans_queued", "Spans in the outbox, waiting for the collector", value=o.spans_queued
        )
        yield CounterMetricFamily(
            "luigi_exporter_spans_sent", "Spans the collector acknowledged", value=o.spans_sent_total
        )
        yield CounterMetricFamily(
            "luigi_exporter_spans_dropped",
            "Spans dropped, oldest first, because the outbox was full",
            value=o.spans_dropped_total,
        )
        yield CounterMetricFamily(
            "luigi_exporter_span_export_errors", "Failed span export requests", value=o.export_errors_total
        )


_EOF = b"# EOF\n"


class Exposition:
    """What /metrics serves: the live collectors rendered at every scrape, the per-family ones (most of the series:
    a histogram per family and result) again only when the store's counters changed. prometheus_client renders
    sample by sample, so a scrape costs what it renders: the per-family series, rendered once per change, stay out
    of the way of every scrape."""

    def __init__(self, live: Iterable[Collector], families: FamilyCollector, version: Callable[[], int]) -> None:
        self._live = CollectorRegistry(auto_describe=False)
        for collector in live:
            self._live.register(collector)
        self._families = CollectorRegistry(auto_describe=False)
        self._families.register(families)
        self._version = version
        self._rendered: dict[str, tuple[int, bytes]] = {}  # content type -> (counters' version, per-family part)
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        """Every metric family (push_to_gateway, tests)."""
        yield from self._live.collect()
        yield from self._families.collect()

    def render(self, accept: str) -> tuple[bytes, str]:
        """The body and content type for a request's Accept header (OpenMetrics or text format)."""
        encoder, content_type = choose_encoder(accept)
        version = self._version()  # read first: a change while rendering makes the next scrape render again
        with self._lock:
            rendered = self._rendered.get(content_type)
            if rendered is None or rendered[0] != version:
                rendered = self._rendered[content_type] = (version, encoder(self._families))
        return encoder(self._live).removesuffix(_EOF) + rendered[1], content_type


def _buckets(s: FamilyStats) -> list[_Bucket]:
    """Cumulative buckets; the latest attempt's trace id rides on the bucket its duration fell in."""
    out: list[_Bucket] = []
    total = 0
    exemplar_le = None
    if s.exemplar is not None:
        exemplar_le = next((le for le in DURATION_BUCKETS if s.exemplar[1] <= le), float("inf"))
    for le, n in zip(DURATION_BUCKETS, s.buckets, strict=True):
        total += n
        out.append(_bucket(str(le), total, s, exemplar_le == le))
    out.append(_bucket("+Inf", s.attempts, s, exemplar_le == float("inf")))
    return out


_Bucket = tuple[str, float] | tuple[str, float, Exemplar]


def _bucket(le: str, value: float, s: FamilyStats, with_exemplar: bool) -> _Bucket:
    if not with_exemplar or s.exemplar is None:
        return (le, value)
    trace, duration, at = s.exemplar
    return (le, value, Exemplar({"trace_id": trace}, duration, at))
