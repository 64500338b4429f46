"""The live page and its event streams in a real headless Chromium and over real HTTP, while `watch` follows real
demo builds: the run list puts the running build first, a run's own page shows its headline, the first paint
already holds the data, and an event stream delivers a task's `done` within 100 ms of its line."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from browser import chromium
from conftest import start_demo
from sidecar import Sidecar

from exporter.demo.copies import unique_workers

FINISHED = 20


def _main(dom: str) -> str:
    return dom[dom.index('<main id="runs">') : dom.index("</main>")]


def test_the_running_build_comes_first_and_its_page_shows_its_headline(tmp_path: Path, failing_demo_log: bytes) -> None:
    runs = tmp_path / "runs"
    (runs / "PlanExe_done").mkdir(parents=True)
    (runs / "PlanExe_done" / "log.txt").write_bytes(b"".join(unique_workers(failing_demo_log, i) for i in range(20)))
    sidecar = Sidecar("watch", str(runs / "*" / "log.txt"), "--state-dir", "none", log=tmp_path / "sidecar.log")
    build = start_demo(runs / "PlanExe_running", "--workers", "1", "--speed", "1")
    try:
        doc = sidecar.wait_for(
            lambda d: len(d["runs"]) == FINISHED + 1 and any(r["tasks_running"] for r in d["runs"]), timeout=90
        )
        assert [r["run_id"] for r in doc["runs"] if r["status"] == "failed"] == [
            "PlanExe_done" if i == 1 else f"PlanExe_done#{i}" for i in range(1, FINISHED + 1)
        ]
        listed = _main(chromium(tmp_path, "--dump-dom", sidecar.url + "/"))
        first = listed.index('data-run-id="PlanExe_running"')
        assert first < listed.index('class="run-collapsed"')
        assert listed.count('class="run-collapsed"') == FINISHED
        assert listed.count('href="runs/PlanExe_running"') == 1

        # Without virtual time: the page's open event stream would hold Chromium's virtual clock for ever.
        page = _main(chromium(tmp_path, "--dump-dom", sidecar.url + "/runs/PlanExe_running", wait=False))
        shown = page.split('<p class="headline">', 1)[1].split("</p>", 1)[0]
        assert shown.startswith("Task ") and " of 61: " in shown
        api = json.loads(sidecar.get("/api/runs/PlanExe_running"))
        assert api["headline"].startswith("Task ") and " of 61: " in api["headline"]
        assert page.count('data-run-id="') == 1 and "PlanExe_done" not in page

        # No wait at all: what Chromium has when the page has loaded is already the data, not a shell.
        plain = _main(chromium(tmp_path, "--dump-dom", sidecar.url + "/", wait=False))
        assert 'data-run-id="PlanExe_running"' in plain and plain.count('class="run-collapsed"') == FINISHED
        shot = tmp_path / "plain.png"
        chromium(tmp_path, "--window-size=1280,900", f"--screenshot={shot}", sidecar.url + "/", wait=False)
        empty = tmp_path / "empty.png"
        chromium(tmp_path, "--window-size=1280,900", f"--screenshot={empty}", "about:blank", wait=False)
        assert shot.stat().st_size > 4 * empty.stat().st_size
    finally:
        build.kill()
        build.wait(timeout=30)
        sidecar.close()


class Events:
    """A Server-Sent Events client on a plain socket (what EventSource does, in a few lines)."""

    def __init__(self, url: str, path: str, last_event_id: str | None = None) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        headers = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n"
        if last_event_id is not None:
            headers += f"Last-Event-ID: {last_event_id}\r\n"
        self.sock.sendall((headers + "\r\n").encode())
        self.file = self.sock.makefile("rb")
        self.status = self.file.readline().decode()
        self.headers: dict[str, str] = {}
        while (line := self.file.readline().decode().strip()) != "":
            name, _, value = line.partition(":")
            self.headers[name.lower()] = value.strip()

    def next(self, timeout: float = 10) -> tuple[str, dict[str, Any]]:
        """The next event's (id, document), comments skipped."""
        self.sock.settimeout(timeout)
        event_id, data = "", ""
        while True:
            line = self.file.readline().decode()
            if not line:
                raise EOFError("the stream ended")
            line = line.rstrip("\n")
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                data += line[6:]
            elif line == "" and data:
                return event_id, json.loads(data)

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def test_an_event_stream_delivers_a_tasks_done_within_100_ms_of_its_line(
    tmp_path: Path, failing_demo_log: bytes
) -> None:
    lines = failing_demo_log.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if b" done      " in line)  # the first task's success
    task = lines[at].split(b" done      ", 1)[1].split(b"(", 1)[0].decode()
    log = tmp_path / "PlanExe_sse" / "log.txt"
    log.parent.mkdir()
    log.write_bytes(b"".join(lines[:at]))
    sidecar = Sidecar(
        "watch", str(log), "--state-dir", "none", "--cors-origin", "http://app.test", log=tmp_path / "sidecar.log"
    )
    try:
        sidecar.wait_for(lambda d: bool(d["runs"]) and d["runs"][0]["tasks_running"] > 0)
        events = Events(sidecar.url, "/api/runs/PlanExe_sse/events")
        assert events.status.startswith("HTTP/1.0 200") or events.status.startswith("HTTP/1.1 200")
        assert events.headers["content-type"] == "text/event-stream"
        assert events.headers["access-control-allow-origin"] == "http://app.test"
        first_id, first = events.next()
        assert first == _without_eta(json.loads(sidecar.get("/api/runs/PlanExe_sse")), first)
        assert not any(t["family"] == task and t["state"] == "done" for t in first["tasks"])
        with log.open("ab") as f:
            f.write(lines[at])
            f.flush()
            written = time.monotonic()
        while True:
            event_id, run = events.next()
            if any(t["family"] == task and t["state"] == "done" for t in run["tasks"]):
                delay = time.monotonic() - written
                break
        assert delay < 0.1, f"{task} done {delay * 1000:.0f} ms after its line"
        assert int(event_id) > int(first_id)
        events.close()

        # Back with the id it last saw: nothing until the run changes; with an older one: the run at once.
        resumed = Events(sidecar.url, "/api/runs/PlanExe_sse/events", last_event_id=event_id)
        with pytest.raises(TimeoutError):
            resumed.next(timeout=0.5)
        resumed.close()
        older = Events(sidecar.url, "/api/runs/PlanExe_sse/events", last_event_id=first_id)
        assert older.next()[1]["tasks_done"] == run["tasks_done"]
        older.close()
        with log.open("ab") as f:
            f.write(b"".join(lines[at + 1 :]))
        end = Events(sidecar.url, "/api/runs/PlanExe_sse/events", last_event_id=event_id)
        while (final := end.next()[1])["status"] != "failed":
            pass
        assert final["headline"] == f"{final['tasks_completed']} of 61 complete"
        end.close()
        with pytest.raises(urllib.error.HTTPError) as missing:
            sidecar.get("/api/runs/no-such-run/events")
        assert missing.value.code == 404
    finally:
        sidecar.close()


def _without_eta(served: dict[str, Any], streamed: dict[str, Any]) -> dict[str, Any]:
    """`served` with the streamed document's ETA (a moment later, the estimate moves)."""
    return {**served, "eta_s": streamed["eta_s"]}
