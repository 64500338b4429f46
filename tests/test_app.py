"""The composition root: options become a typed Config (bad ones refused before anything starts), an App built from
it starts no thread until `start`, and then serves what its pipeline was fed from a real build's log."""

from __future__ import annotations

import re
import socket
import threading
import urllib.request
from pathlib import Path

import pytest
from conftest import run_pipeline

from exporter.app import App
from exporter.cli import _parser
from exporter.config import Config, Live, Wrap
from exporter.lines import Line
from exporter.options import EXIT_PORT, UserError, config_of, live_of, wrap_of
from exporter.retention import Retention


def _names() -> set[str]:
    return {t.name for t in threading.enumerate()}


def test_options_fill_the_typed_config(tmp_path: Path) -> None:
    live = ["--tz", "UTC", "--retain-for", "2h", "--state-dir", str(tmp_path), "--listen", "127.0.0.1:0"]
    args = _parser().parse_args(["run", *live, "--run-metrics", "3", "--no-otlp", "--retries", "2", "--", "luigi", "T"])
    config = config_of(args, live_of(args))
    assert str(config.tz) == "UTC" and config.otlp is False and config.outbox_max == 100_000
    assert config.live is not None
    assert (config.live.host, config.live.port, config.live.run_metrics) == ("127.0.0.1", 0, 3)
    assert config.live.retention == Retention(20, 7200.0)
    assert config.live.store == tmp_path / "luigi-exporter.sqlite"
    assert wrap_of(args) == Wrap(argv=("luigi", "T"), retries=2)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["replay", "--tz", "Mars/Olympus", "x.log"], "--tz Mars/Olympus: unknown time zone"),
        (["replay", "--redact", "(", "x.log"], "--redact '(':"),
        (["run", "--retries", "-1", "--", "true"], "--retries and --retry-delay take a number of at least 0"),
        (["run"], "run needs a command after --"),
    ],
)
def test_bad_options_fail_before_anything_starts(argv: list[str], message: str) -> None:
    args = _parser().parse_args(argv)
    before = _names()
    with pytest.raises(UserError, match=re.escape(message)):
        config_of(args)
        if args.command == "run":
            wrap_of(args)
    assert _names() == before


def test_app_starts_its_threads_in_start_and_serves_the_build(tmp_path: Path) -> None:
    log, _, code = run_pipeline("secrets", tmp_path)
    assert code == 1
    before = _names()
    app = App(Config(live=Live(port=0, store=None)))
    try:
        assert _names() == before  # made: port bound, store open, nothing running
        app.start()
        assert {"http", "http-lobby"} <= _names() - before
        for n, text in enumerate(log.read_text().splitlines()):
            app.pipeline.feed(str(log), [Line(str(log), n, text)])
        app.pipeline.finish(str(log))
        app.pipeline.commit()
        host, port = app.server.address
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as response:
            body = response.read().decode()
        (run,) = app.documents.all()
        assert run["status"] == "failed"
        labels = f'pipeline="{run["pipeline"]}"'
        assert run["tasks_failed"] >= 1
        assert f'luigi_pipeline_last_run_tasks{{{labels},state="failed"}} {run["tasks_failed"]}.0' in body
        assert f'luigi_pipeline_last_run_info{{{labels},status="failed"}} 1.0' in body
    finally:
        app.close()
    assert not {"http", "http-lobby"} & _names()


def test_a_taken_port_is_one_error_and_leaves_nothing_running() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    before = _names()
    try:
        with pytest.raises(UserError, match="Address already in use") as raised:
            App(Config(otlp=True, live=Live(port=taken.getsockname()[1], store=None)))
    finally:
        taken.close()
    assert raised.value.code == EXIT_PORT
    assert _names() == before
