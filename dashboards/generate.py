"""Grafana dashboards as code: `python dashboards/generate.py` writes the JSON files beside this script.

The JSON is committed so that Grafana's file provisioning (deploy/grafana) needs no Python; `--check` exits 1 when
the committed JSON is not what this code generates, so the two cannot drift apart unnoticed.

Built with grafana-foundation-sdk for Grafana 11.6. Every query reads the exporter's metrics as they are served
(names and labels fixed by the exporter's contract); task totals always come from the `*_tasks_scheduled` gauges,
never from a constant, since every pipeline schedules its own number of tasks. The overview reads the per-pipeline
series the exporter always serves; the run dashboard reads the per-run ones (`--run-metrics N`).
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import (
    bargauge,
    heatmap,
    stat,
    statetimeline,
    table,
    timeseries,
)
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common, prometheus
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import heatmap as heatmap_models

HERE = Path(__file__).resolve().parent
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
RUNS_UID = "luigi-runs"
RUN_UID = "luigi-run"
# The trace service name the deployment gives the exporter (OTEL_SERVICE_NAME in deploy/compose.yaml).
TRACE_SERVICE = "luigi-exporter"

# Every selector names the job and instance variables: the dashboards work whatever the scrape job is called, and
# show one exporter or all of them.
TARGET = 'job=~"$job", instance=~"$instance"'
PIPELINE = f'{TARGET}, pipeline=~"$pipeline"'
RUN = f'{TARGET}, run_id="$run_id"'

# Run status (label of luigi_run_info) -> colour, shared by every panel that shows one.
STATUS_COLOURS = {
    "scheduling": "purple",
    "running": "blue",
    "succeeded": "green",
    "failed": "red",
    "blocked": "orange",
    "incomplete": "yellow",
}


# --- small helpers -------------------------------------------------------------------------------------------------


def prom(
    expr: str,
    legend: str | None = None,
    *,
    ref: str = "A",
    instant: bool = False,
    fmt: prometheus.PromQueryFormat | None = None,
    exemplar: bool = False,
) -> Dataquery:
    """A Prometheus query on the dashboard's `$datasource`."""
    query = Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    query = query.instant() if instant else query.range()
    if legend is not None:
        query = query.legend_format(legend)
    if fmt is not None:
        query = query.format(fmt)
    if exemplar:
        query = query.exemplar(True)
    return query


def table_query(expr: str, ref: str) -> Dataquery:
    """An instant query in table format: one row per series, labels as columns (what the run tables join on)."""
    return prom(expr, ref=ref, instant=True, fmt=prometheus.PromQueryFormat.TABLE)


def thresholds(*steps: tuple[float | None, str]) -> dash.ThresholdsConfig:
    return (
        dash.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=colour) for value, colour in steps])
    )


def status_mappings() -> list[model.ValueMapping]:
    return [
        model.ValueMap(
            options={
                status: model.ValueMappingResult(text=status, color=colour, index=i)
                for i, (status, colour) in enumerate(STATUS_COLOURS.items())
            }
        )
    ]


def prop(name: str, value: object) -> model.DynamicConfigValue:
    return model.DynamicConfigValue(id_val=name, value=value)


def link(title: str, url: str, *, new_tab: bool = False) -> dash.DashboardLink:
    return dash.DashboardLink(title).url(url).target_blank(new_tab)


def organize(rename: dict[str, str], *, hide: Sequence[str] = ()) -> model.DataTransformerConfig:
    """Grafana's `organize` transformation: order and rename the joined columns, hide the rest."""
    return model.DataTransformerConfig(
        id_val="organize",
        options={
            "excludeByName": dict.fromkeys(hide, True),
            "renameByName": rename,
            "indexByName": {name: i for i, name in enumerate(rename)},
        },
    )


MERGE = model.DataTransformerConfig(id_val="merge", options={})


class Layout:
    """Places panels left to right on Grafana's 24-column grid and numbers them (ids must be unique per dashboard)."""

    def __init__(self, builder: dash.Dashboard) -> None:
        self.builder = builder
        self.next_id = 1
        self.x = 0
        self.y = 0
        self.row_height = 0

    def row(self, title: str) -> None:
        self.newline()
        self.builder.with_row(dash.Row(title).id(self._id()).grid_pos(model.GridPos(h=1, w=24, x=0, y=self.y)))
        self.y += 1

    def add(self, panel: Any, w: int, h: int) -> None:
        if self.x + w > 24:
            self.newline()
        panel.id(self._id()).grid_pos(model.GridPos(h=h, w=w, x=self.x, y=self.y))
        self.builder.with_panel(panel)
        self.x += w
        self.row_height = max(self.row_height, h)

    def newline(self) -> None:
        if self.x:
            self.y += self.row_height
        self.x, self.row_height = 0, 0

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


def datasource_variable() -> dash.DatasourceVariable:
    return dash.DatasourceVariable("datasource").label("Prometheus").type("prometheus")


def all_of(variable: dash.QueryVariable) -> dash.QueryVariable:
    """A variable of any number of values, "All" as a regex rather than a list of every value: queries stay short and
    match values seen later."""
    return (
        variable.datasource(DATASOURCE)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(model.VariableOption(selected=True, text="All", value="$__all"))
    )


def target_variables() -> list[dash.QueryVariable]:
    """The scrape job and the instance (one sidecar each): from the exporter's build info, whatever they are named."""
    return [
        all_of(dash.QueryVariable("job").label("Job").query("label_values(luigi_exporter_build_info, job)")),
        all_of(
            dash.QueryVariable("instance")
            .label("Instance")
            .query('label_values(luigi_exporter_build_info{job=~"$job"}, instance)')
        ),
    ]


def pipeline_variable() -> dash.QueryVariable:
    return all_of(
        dash.QueryVariable("pipeline")
        .label("Pipeline")
        .query(f"label_values(luigi_pipeline_last_run_info{{{TARGET}}}, pipeline)")
    )


def run_variable() -> dash.QueryVariable:
    return (
        dash.QueryVariable("run_id")
        .label("Run")
        .datasource(DATASOURCE)
        .query(f"label_values(luigi_run_info{{{PIPELINE}}}, run_id)")
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        # Run directories are usually named by start time: newest first.
        .sort(model.VariableSort.ALPHABETICAL_DESC)
    )


def jaeger_variable() -> dash.TextBoxVariable:
    return (
        dash.TextBoxVariable("jaeger_url")
        .label("Jaeger UI")
        .description("Base URL of the Jaeger UI, for the links to traces (the browser opens it, not Grafana).")
        .default_value("http://localhost:16686")
    )


def base(uid: str, title: str, description: str) -> dash.Dashboard:
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["luigi", "luigi-exporter", "generated"])
        .editable()
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .refresh("30s")
        .time("now-6h", "now")
        .timezone(common.TimeZoneBrowser)
    )


# --- dashboard 1: every recent run ------------------------------------------------------------------------------


def runs_table() -> table.Panel:
    """One row per pipeline, its latest run: status, "completed of scheduled", a progress bar, running and failed
    counts, ETA, and how long ago it last succeeded.

    Each column is its own instant query aggregated to the same label (pipeline) and merged on it; the merge keys on
    the columns every query has, so the status label that only the info metric carries comes along.
    """
    by = "max by (pipeline)"
    last = "luigi_pipeline_last_run"
    succeeded = f'{PIPELINE}, status="succeeded"'
    columns = {
        "B": ("Completed", f"{by} ({last}_tasks_completed{{{PIPELINE}}})"),
        "C": ("Scheduled", f"{by} ({last}_tasks_scheduled{{{PIPELINE}}})"),
        "D": ("Progress", f"{by} ({last}_progress_ratio{{{PIPELINE}}})"),
        "E": ("Running", f'{by} ({last}_tasks{{{PIPELINE}, state="running"}})'),
        "F": ("Failed", f'{by} ({last}_tasks{{{PIPELINE}, state="failed"}})'),
        "G": ("Upstream failed", f'{by} ({last}_tasks{{{PIPELINE}, state="upstream_failed"}})'),
        "H": ("Elapsed", f"{by} ({last}_duration_seconds{{{PIPELINE}}})"),
        "I": ("ETA", f"{by} ({last}_eta_seconds{{{PIPELINE}}})"),
        # LuigiRunSlow's baseline, as its recording rule computes it (the dashboard does not need the rules loaded).
        "J": (
            "Usual duration",
            " / ".join(
                f"sum by (pipeline) (increase(luigi_pipeline_run_duration_seconds_{part}{{{succeeded}}}[7d]))"
                for part in ("sum", "count")
            ),
        ),
        "K": ("Started", f"{by} ({last}_start_time_seconds{{{PIPELINE}}}) * 1000"),
        "L": ("Last event", f"time() - {by} ({last}_last_event_time_seconds{{{PIPELINE}}})"),
        "M": ("Last success", f"time() - {by} (luigi_pipeline_last_success_time_seconds{{{PIPELINE}}})"),
    }
    panel = (
        table.Panel()
        .title("Pipelines")
        .description(
            "Each pipeline's latest run. Completed counts done and already-done tasks, Scheduled is the run's own "
            "total; Usual duration is the mean of its runs that succeeded in the last 7 days (LuigiRunSlow's "
            "baseline), Last event how long ago its latest run last logged (LuigiRunStalled's measure), Last "
            "success how long ago its latest successful run ended. Click a pipeline for its runs (per-run series: "
            "--run-metrics)."
        )
        .unit("none")
        .with_target(table_query(f"max by (pipeline, status) ({last}_info{{{PIPELINE}}})", "A"))
        .with_transformation(MERGE)
        .with_transformation(
            organize(
                {
                    "pipeline": "Pipeline",
                    "status": "Status",
                    **{f"Value #{ref}": name for ref, (name, _) in columns.items()},
                },
                hide=["Time", "Value #A"],
            )
        )
        .sort_by([common_builders.TableSortByFieldState().display_name("Started").desc(True)])
        .override_by_name(
            "Pipeline",
            [
                prop(
                    "links",
                    [
                        {
                            "title": "Open its runs",
                            "url": f"/d/{RUN_UID}/luigi-run?${{datasource:queryparam}}&${{job:queryparam}}"
                            "&${instance:queryparam}&var-pipeline=${__value.raw}&${__url_time_range}",
                        }
                    ],
                )
            ],
        )
        .override_by_name(
            "Status",
            [
                prop("unit", "string"),
                prop("mappings", status_mappings()),
                prop("custom.cellOptions", {"type": "color-background", "mode": "basic"}),
            ],
        )
        .override_by_name(
            "Progress",
            [
                prop("unit", "percentunit"),
                prop("min", 0),
                prop("max", 1),
                prop("custom.cellOptions", {"type": "gauge", "mode": "gradient", "valueDisplayMode": "text"}),
                prop("custom.minWidth", 160),
                prop("color", {"mode": "continuous-RdYlGr"}),
            ],
        )
        .override_by_name(
            "Failed",
            [
                prop("thresholds", thresholds((None, "transparent"), (1, "red")).build()),
                prop("custom.cellOptions", {"type": "color-text"}),
            ],
        )
        .override_by_name("Elapsed", [prop("unit", "s")])
        .override_by_name("ETA", [prop("unit", "s"), prop("noValue", "—")])
        .override_by_name(
            "Usual duration",
            [
                prop("unit", "s"),
                prop("noValue", "—"),
                # 0 / 0 while no succeeded run ended within the range.
                prop(
                    "mappings",
                    [
                        model.SpecialValueMap(
                            options=dash.DashboardSpecialValueMapOptions()
                            .match(model.SpecialValueMatch.NA_N)
                            .result(model.ValueMappingResult(text="—", index=0))
                            .build()
                        )
                    ],
                ),
            ],
        )
        .override_by_name("Started", [prop("unit", "dateTimeAsIso")])
        .override_by_name("Last event", [prop("unit", "s")])
        .override_by_name("Last success", [prop("unit", "s"), prop("noValue", "never")])
    )
    for ref, (_, expr) in columns.items():
        panel.with_target(table_query(expr, ref))
    return panel


def runs_dashboard() -> dash.Dashboard:
    builder = base(
        RUNS_UID,
        "Luigi runs",
        "Every pipeline seen by luigi-exporter: its latest run's progress and status, running tasks, runs and "
        "failures over time, last success; and the exporter's own health.",
    )
    builder.with_variable(datasource_variable())
    for variable in target_variables():
        builder.with_variable(variable)
    builder.with_variable(pipeline_variable())
    builder.link(
        dash.DashboardLink("Luigi run").type(model.DashboardLinkType.DASHBOARDS).tags(["luigi"]).include_vars(True)
    )
    grid = Layout(builder)

    grid.row("Runs")
    grid.add(runs_table(), 24, 10)
    grid.add(
        bargauge.Panel()
        .title("Progress per pipeline")
        .description(
            "Completed of scheduled tasks of each pipeline's latest run (luigi_pipeline_last_run_progress_ratio); "
            "the bar is full when every task is done."
        )
        .unit("percentunit")
        .min(0)
        .max(1)
        .with_target(
            prom(
                f"max by (pipeline) (luigi_pipeline_last_run_progress_ratio{{{PIPELINE}}})",
                "{{pipeline}}",
                instant=True,
            )
        )
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .orientation(common.VizOrientation.HORIZONTAL)
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.CONTINUOUS_RD_YL_GR))
        .show_unfilled(True),
        12,
        9,
    )
    grid.add(
        table.Panel()
        .title("Running tasks")
        .description("Tasks running right now, per pipeline and family (luigi_pipeline_tasks_running).")
        .unit("none")
        .with_target(table_query(f"sum by (pipeline, family) (luigi_pipeline_tasks_running{{{PIPELINE}}})", "A"))
        .with_transformation(organize({"pipeline": "Pipeline", "family": "Family", "Value": "Running"}, hide=["Time"])),
        12,
        9,
    )
    grid.add(
        timeseries.Panel()
        .title("Runs ended per status")
        .description("Runs that ended, per status, per interval (increase of luigi_pipeline_runs_total).")
        .unit("none")
        .min(0)
        .with_target(
            prom(f"sum by (status) (increase(luigi_pipeline_runs_total{{{PIPELINE}}}[$__rate_interval]))", "{{status}}")
        )
        .stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
        .fill_opacity(40)
        .overrides(
            [
                dash.DashboardFieldConfigSourceOverrides()
                .matcher(model.MatcherConfig(id_val="byName", options=status))
                .properties([prop("color", {"mode": "fixed", "fixedColor": colour})])
                for status, colour in STATUS_COLOURS.items()
            ]
        ),
        12,
        8,
    )
    grid.add(
        timeseries.Panel()
        .title("Task failure rate per family")
        .description("Failed task attempts per second, by task family (rate of luigi_task_failures_total).")
        .unit("cps")
        .min(0)
        .with_target(
            prom(
                f"sum by (pipeline, family) (rate(luigi_task_failures_total{{{PIPELINE}}}[$__rate_interval]))",
                "{{pipeline}} / {{family}}",
            )
        ),
        12,
        8,
    )

    grid.row("Exporter health")
    grid.add(
        stat.Panel()
        .title("Exporter up")
        .description("Whether Prometheus could scrape every exporter (up of the targets serving its build info).")
        .unit("none")
        .with_target(prom(f"min(up{{{TARGET}}} and on (job, instance) luigi_exporter_build_info)", "up"))
        .mappings(
            [
                model.ValueMap(
                    options={
                        "0": model.ValueMappingResult(text="DOWN", color="red", index=0),
                        "1": model.ValueMappingResult(text="UP", color="green", index=1),
                    }
                ),
                model.SpecialValueMap(
                    options=dash.DashboardSpecialValueMapOptions()
                    .match(model.SpecialValueMatch.NULL)
                    .result(model.ValueMappingResult(text="ABSENT", color="red", index=2))
                    .build()
                ),
            ]
        )
        .color_mode(common.BigValueColorMode.BACKGROUND),
        4,
        4,
    )
    grid.add(
        stat.Panel()
        .title("Version")
        .description("luigi_exporter_build_info")
        .unit("none")
        .with_target(prom(f"max by (version) (luigi_exporter_build_info{{{TARGET}}})", "{{version}}", instant=True))
        .text_mode(common.BigValueTextMode.NAME)
        .color_mode(common.BigValueColorMode.NONE),
        4,
        4,
    )
    grid.add(
        stat.Panel()
        .title("Files followed")
        .description("Log files the exporter follows (luigi_exporter_sources).")
        .unit("none")
        .decimals(0)
        .with_target(prom(f"sum(luigi_exporter_sources{{{TARGET}}})", "files")),
        4,
        4,
    )
    grid.add(
        stat.Panel()
        .title("Lines read")
        .description("Log lines read per second.")
        .unit("cps")
        .with_target(prom(f"sum(rate(luigi_exporter_lines_total{{{TARGET}}}[$__rate_interval]))", "lines/s")),
        4,
        4,
    )
    grid.add(
        stat.Panel()
        .title("Unparsed lines")
        .description("Lines per second the parser could not read: a new Luigi log format, or a different logger setup.")
        .unit("cps")
        .with_target(
            prom(f"sum(rate(luigi_exporter_lines_unparsed_total{{{TARGET}}}[$__rate_interval]))", "unparsed/s")
        )
        .thresholds(thresholds((None, "green"), (0.001, "orange"))),
        4,
        4,
    )
    grid.add(
        stat.Panel()
        .title("Sink errors")
        .description("Failed deliveries per second, by sink (e.g. the OTLP trace exporter).")
        .unit("cps")
        .with_target(prom(f"sum(rate(luigi_exporter_sink_errors_total{{{TARGET}}}[$__rate_interval]))", "errors/s"))
        .thresholds(thresholds((None, "green"), (0.001, "red"))),
        4,
        4,
    )
    grid.add(
        timeseries.Panel()
        .title("Lines read and unparsed")
        .description("luigi_exporter_lines_total and luigi_exporter_lines_unparsed_total, per second.")
        .unit("cps")
        .min(0)
        .with_target(prom(f"sum(rate(luigi_exporter_lines_total{{{TARGET}}}[$__rate_interval]))", "read"))
        .with_target(
            prom(f"sum(rate(luigi_exporter_lines_unparsed_total{{{TARGET}}}[$__rate_interval]))", "unparsed", ref="B")
        ),
        12,
        8,
    )
    grid.add(
        timeseries.Panel()
        .title("Source lag")
        .description("Bytes written to the followed files that each exporter has not read yet.")
        .unit("bytes")
        .min(0)
        .with_target(prom(f"max by (instance) (luigi_exporter_source_lag_bytes{{{TARGET}}})", "{{instance}}"))
        .thresholds_style(common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.LINE))
        .thresholds(thresholds((None, "green"), (1048576, "red"))),
        12,
        8,
    )
    grid.add(
        timeseries.Panel()
        .title("File rotations and truncations")
        .description(
            "Followed files replaced under their path (rotations) or cut and rewritten in place (truncations), "
            "per interval: luigi_exporter_file_rotations_total, luigi_exporter_file_truncations_total."
        )
        .unit("none")
        .min(0)
        .with_target(
            prom(f"sum(increase(luigi_exporter_file_rotations_total{{{TARGET}}}[$__rate_interval]))", "rotations")
        )
        .with_target(
            prom(
                f"sum(increase(luigi_exporter_file_truncations_total{{{TARGET}}}[$__rate_interval]))",
                "truncations",
                ref="B",
            )
        ),
        24,
        6,
    )
    return builder


# --- dashboard 2: one run ---------------------------------------------------------------------------------------


def run_dashboard() -> dash.Dashboard:
    builder = base(
        RUN_UID,
        "Luigi run",
        "One Luigi run: progress, task states over time, running tasks; and its pipeline's task families "
        "(durations, attempts, retries, failures with links to their traces in Jaeger).",
    )
    builder.with_variable(datasource_variable())
    for variable in target_variables():
        builder.with_variable(variable)
    builder.with_variable(pipeline_variable()).with_variable(run_variable())
    builder.with_variable(jaeger_variable())
    builder.link(link("All runs", f"/d/{RUNS_UID}/luigi-runs?${{datasource:queryparam}}&${{__url_time_range}}"))
    builder.link(link("Jaeger", "${jaeger_url}", new_tab=True))
    grid = Layout(builder)

    grid.row("Run $run_id")
    grid.add(
        table.Panel()
        .title("Trace")
        .description("The run's trace (luigi_run_info's trace_id): click it to open the trace in Jaeger.")
        .unit("string")
        .with_target(table_query(f"max by (run_id, status, trace_id) (luigi_run_info{{{RUN}}})", "A"))
        .with_transformation(
            organize({"run_id": "Run", "status": "Status", "trace_id": "Trace"}, hide=["Time", "Value"])
        )
        .override_by_name(
            "Trace",
            [
                prop(
                    "links",
                    [
                        {
                            "title": "Open this run's trace",
                            "url": "${jaeger_url}/trace/${__value.raw}",
                            "targetBlank": True,
                        }
                    ],
                )
            ],
        ),
        24,
        3,
    )
    grid.add(
        stat.Panel()
        .title("Status")
        .description("luigi_run_info's status label.")
        .unit("none")
        .with_target(prom(f"max by (status) (luigi_run_info{{{RUN}}})", "{{status}}", instant=True))
        .text_mode(common.BigValueTextMode.NAME)
        .color_mode(common.BigValueColorMode.NONE),
        4,
        4,
    )
    grid.add(
        stat.Panel()
        .title("Tasks completed")
        .description("Completed (done + already done) of the run's scheduled tasks.")
        .unit("none")
        .decimals(0)
        .with_target(prom(f"max(luigi_run_tasks_completed{{{RUN}}})", "completed", instant=True))
        .with_target(prom(f"max(luigi_run_tasks_scheduled{{{RUN}}})", "of scheduled", instant=True, ref="B"))
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .color_mode(common.BigValueColorMode.NONE),
        6,
        4,
    )
    grid.add(
        bargauge.Panel()
        .title("Progress")
        .description("luigi_run_progress_ratio: completed / scheduled.")
        .unit("percentunit")
        .min(0)
        .max(1)
        .with_target(prom(f"max(luigi_run_progress_ratio{{{RUN}}})", "progress", instant=True))
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.CONTINUOUS_RD_YL_GR))
        .show_unfilled(True),
        6,
        4,
    )
    grid.add(
        stat.Panel()
        .title("Failed")
        .description("Tasks failed in this run (upstream failures are counted in the task states below).")
        .unit("none")
        .decimals(0)
        .with_target(prom(f'max(luigi_run_tasks{{{RUN}, state="failed"}})', "failed", instant=True))
        .thresholds(thresholds((None, "green"), (1, "red")))
        .color_mode(common.BigValueColorMode.BACKGROUND),
        2,
        4,
    )
    grid.add(
        stat.Panel()
        .title("Elapsed")
        .description("luigi_run_duration_seconds: end (or last event) minus start.")
        .unit("s")
        .with_target(prom(f"max(luigi_run_duration_seconds{{{RUN}}})", "elapsed", instant=True))
        .color_mode(common.BigValueColorMode.NONE),
        3,
        4,
    )
    grid.add(
        stat.Panel()
        .title("ETA")
        .description("luigi_run_eta_seconds: estimated remaining time; empty when the exporter cannot tell.")
        .unit("s")
        .no_value("—")
        .with_target(prom(f"max(luigi_run_eta_seconds{{{RUN}}})", "remaining", instant=True))
        .color_mode(common.BigValueColorMode.NONE),
        3,
        4,
    )
    grid.add(
        timeseries.Panel()
        .title("Task states")
        .description("Tasks of the run in each state, stacked: the stack's height is the scheduled total.")
        .unit("none")
        .decimals(0)
        .min(0)
        .with_target(prom(f"max by (state) (luigi_run_tasks{{{RUN}}})", "{{state}}"))
        .stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
        .fill_opacity(60)
        .line_width(0)
        .overrides(
            [
                dash.DashboardFieldConfigSourceOverrides()
                .matcher(model.MatcherConfig(id_val="byName", options=state))
                .properties([prop("color", {"mode": "fixed", "fixedColor": colour})])
                for state, colour in {
                    "done": "green",
                    "already_done": "dark-green",
                    "running": "blue",
                    "pending": "text",
                    "failed": "red",
                    "upstream_failed": "orange",
                    "disabled": "dark-red",
                    "missing_input": "purple",
                    "unknown": "yellow",
                }.items()
            ]
        ),
        12,
        9,
    )
    grid.add(
        timeseries.Panel()
        .title("Completed of scheduled")
        .description("luigi_run_tasks_completed against luigi_run_tasks_scheduled over time.")
        .unit("none")
        .decimals(0)
        .min(0)
        .with_target(prom(f"max(luigi_run_tasks_completed{{{RUN}}})", "completed"))
        .with_target(prom(f"max(luigi_run_tasks_scheduled{{{RUN}}})", "scheduled", ref="B")),
        12,
        9,
    )
    grid.add(
        statetimeline.Panel()
        .title("Running tasks over time")
        .description("How many tasks of each family were running (luigi_run_tasks_running), one lane per family.")
        .unit("none")
        .with_target(prom(f"max by (family) (luigi_run_tasks_running{{{RUN}}})", "{{family}}"))
        .show_value(common.VisibilityMode.AUTO)
        .merge_values(True)
        .row_height(0.8),
        16,
        10,
    )
    grid.add(
        table.Panel()
        .title("Running now")
        .description("Tasks running at the end of the time range, per family.")
        .unit("none")
        .with_target(table_query(f"max by (family) (luigi_run_tasks_running{{{RUN}}})", "A"))
        .with_transformation(organize({"family": "Family", "Value": "Running"}, hide=["Time"])),
        8,
        10,
    )

    grid.row("Task families of $pipeline")
    grid.add(
        bargauge.Panel()
        .title("Mean duration per family")
        .description(
            "Mean attempt duration per task family (luigi_task_duration_seconds sum / count, since the exporter "
            "started): histograms are per pipeline and family, not per run."
        )
        .unit("s")
        .min(0)
        .with_target(
            prom(
                f"sum by (family) (luigi_task_duration_seconds_sum{{{PIPELINE}}})"
                f" / sum by (family) (luigi_task_duration_seconds_count{{{PIPELINE}}})",
                "{{family}}",
                instant=True,
            )
        )
        .display_mode(common.BarGaugeDisplayMode.BASIC)
        .orientation(common.VizOrientation.HORIZONTAL)
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.CONTINUOUS_BL_YL_RD)),
        12,
        12,
    )
    grid.add(
        table.Panel()
        .title("Slowest task families")
        .description("The ten families with the highest p95 attempt duration since the exporter started.")
        .unit("s")
        .with_target(
            table_query(
                "topk(10, histogram_quantile(0.95, sum by (family, le) "
                f"(luigi_task_duration_seconds_bucket{{{PIPELINE}}})))",
                "A",
            )
        )
        .with_target(
            table_query(
                f"sum by (family) (luigi_task_duration_seconds_sum{{{PIPELINE}}})"
                f" / sum by (family) (luigi_task_duration_seconds_count{{{PIPELINE}}})",
                "B",
            )
        )
        # Merged on family; the mean of families outside the top ten is dropped with its empty p95.
        .with_transformation(MERGE)
        .with_transformation(
            model.DataTransformerConfig(id_val="filterByValue", options=_drop_rows_without("Value #A"))
        )
        .with_transformation(organize({"family": "Family", "Value #A": "p95", "Value #B": "Mean"}, hide=["Time"]))
        .sort_by([common_builders.TableSortByFieldState().display_name("p95").desc(True)])
        .override_by_name("Family", [prop("unit", "string")]),
        12,
        12,
    )
    grid.add(
        heatmap.Panel()
        .title("Attempt durations")
        .description(
            "Attempts per duration bucket over time (luigi_task_duration_seconds). Exemplars (dots) carry the "
            "attempt's trace_id: hover one for its trace in Jaeger."
        )
        .unit("s")
        .with_target(
            prom(
                f"sum by (le) (increase(luigi_task_duration_seconds_bucket{{{PIPELINE}}}[$__rate_interval]))",
                "{{le}}",
                fmt=prometheus.PromQueryFormat.HEATMAP,
                exemplar=True,
            )
        )
        .calculate(False)
        .y_axis(heatmap.YAxisConfig().unit("s"))
        .cell_values(heatmap.CellValues().unit("none"))
        .color(
            heatmap.HeatmapColorOptions()
            .mode(heatmap_models.HeatmapColorMode.SCHEME)
            .scheme("Oranges")
            .scale(heatmap_models.HeatmapColorScale.EXPONENTIAL)
            .exponent(0.5)
            .steps(64)
            .fill("dark-orange")
        )
        .exemplars_color("rgba(255,0,255,0.7)"),
        12,
        10,
    )
    grid.add(
        timeseries.Panel()
        .title("p95 attempt duration per family")
        .description("With exemplars: each dot is one attempt, linked to its trace in Jaeger.")
        .unit("s")
        .min(0)
        .with_target(
            prom(
                "histogram_quantile(0.95, sum by (family, le) "
                f"(rate(luigi_task_duration_seconds_bucket{{{PIPELINE}}}[$__rate_interval])))",
                "{{family}}",
                exemplar=True,
            )
        ),
        12,
        10,
    )
    grid.add(
        timeseries.Panel()
        .title("Attempts by result")
        .description("Task attempts per interval by result: success, failure, died (worker process lost), timeout.")
        .unit("none")
        .min(0)
        .with_target(
            prom(
                f"sum by (result) (increase(luigi_task_attempts_total{{{PIPELINE}}}[$__rate_interval]))",
                "{{result}}",
            )
        )
        .draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(80)
        .stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
        .overrides(
            [
                dash.DashboardFieldConfigSourceOverrides()
                .matcher(model.MatcherConfig(id_val="byName", options=result))
                .properties([prop("color", {"mode": "fixed", "fixedColor": colour})])
                for result, colour in {
                    "success": "green",
                    "failure": "red",
                    "died": "dark-red",
                    "timeout": "orange",
                }.items()
            ]
        ),
        12,
        9,
    )
    grid.add(
        table.Panel()
        .title("Attempts and retries per family")
        .description("Since the exporter started: attempts by result, and retries (attempts after the first).")
        .unit("none")
        .with_target(table_query(f"sum by (family) (luigi_task_attempts_total{{{PIPELINE}}})", "A"))
        .with_target(table_query(f"sum by (family) (luigi_task_retries_total{{{PIPELINE}}})", "B"))
        .with_target(table_query(f"sum by (family) (luigi_task_failures_total{{{PIPELINE}}})", "C"))
        .with_transformation(MERGE)
        .with_transformation(
            organize(
                {"family": "Family", "Value #A": "Attempts", "Value #B": "Retries", "Value #C": "Failures"},
                hide=["Time"],
            )
        )
        .sort_by([common_builders.TableSortByFieldState().display_name("Retries").desc(True)])
        .override_by_name("Family", [prop("unit", "string")])
        .override_by_name(
            "Failures",
            [
                prop("thresholds", thresholds((None, "transparent"), (1, "red")).build()),
                prop("custom.cellOptions", {"type": "color-text"}),
            ],
        ),
        12,
        9,
    )

    grid.row("Failures")
    grid.add(
        timeseries.Panel()
        .title("Failed attempt durations — click a dot for its trace")
        .description(
            "Attempts that did not succeed (failure, died, timeout). Each exemplar dot carries the attempt's "
            "trace_id; the Prometheus data source links it to Jaeger."
        )
        .unit("s")
        .min(0)
        .with_target(
            prom(
                "histogram_quantile(0.5, sum by (family, le) (rate(luigi_task_duration_seconds_bucket"
                f'{{{PIPELINE}, result!="success"}}[$__rate_interval])))',
                "{{family}}",
                exemplar=True,
            )
        )
        .draw_style(common.GraphDrawStyle.POINTS)
        .point_size(6),
        12,
        9,
    )
    grid.add(
        table.Panel()
        .title("Failing task families")
        .description("Families with failed attempts since the exporter started; click one for its failed traces.")
        .unit("none")
        .with_target(table_query(f"sum by (family) (luigi_task_failures_total{{{PIPELINE}}}) > 0", "A"))
        .with_transformation(organize({"family": "Family", "Value": "Failures"}, hide=["Time"]))
        .sort_by([common_builders.TableSortByFieldState().display_name("Failures").desc(True)])
        .override_by_name(
            "Family",
            [
                prop("unit", "string"),
                prop(
                    "links",
                    [
                        {
                            "title": "Failed traces of ${__value.raw} in Jaeger",
                            "targetBlank": True,
                            # Jaeger's search page; start/end are microseconds, Grafana's range is milliseconds.
                            # Assumes a task attempt's span is named after its family (a low-cardinality span
                            # name, as OpenTelemetry recommends) and failed spans carry error=true.
                            "url": f"${{jaeger_url}}/search?service={TRACE_SERVICE}&tags=%7B%22error%22%3A%22true%22%7D"
                            "&operation=${__value.raw}&start=${__from}000&end=${__to}000&limit=20",
                        }
                    ],
                ),
            ],
        ),
        12,
        9,
    )
    return builder


def _drop_rows_without(field: str) -> dict[str, Any]:
    """filterByValue options: drop joined rows without a value in `field` (families outside the topk)."""
    return {
        "type": "exclude",
        "match": "any",
        "filters": [{"fieldName": field, "config": {"id": "isNull", "options": {}}}],
    }


# --- output --------------------------------------------------------------------------------------------------------

DASHBOARDS: dict[str, Callable[[], Builder[model.Dashboard]]] = {
    "luigi-runs.json": runs_dashboard,
    "luigi-run.json": run_dashboard,
}


def render(build: Callable[[], Builder[model.Dashboard]]) -> str:
    """The dashboard as committed: sorted keys and a final newline, so the output is stable and diffs stay small."""
    return json.dumps(build().build(), cls=JSONEncoder, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def rendered() -> dict[str, str]:
    return {name: render(build) for name, build in DASHBOARDS.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed JSON differs from the code")
    parser.add_argument("--out", type=Path, default=HERE, help="directory to write to (default: beside this script)")
    args = parser.parse_args(argv)
    stale = []
    for name, text in rendered().items():
        path = args.out / name
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current == text:
            continue
        if args.check:
            stale.append(name)
            diff = difflib.unified_diff(current.splitlines(), text.splitlines(), f"{name} (committed)", name, n=1)
            sys.stderr.writelines(line + "\n" for line in list(diff)[:40])
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"stale: {', '.join(stale)}; run python dashboards/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
