"""Tasks whose params and errors carry credentials, markup and terminal escapes: what the sidecar must never show
as it came.

`Fetch` has its secrets in params it can read back; `Leaf` has one beside a param with a newline, so its repr can't be
read and only Luigi's id (whose readable part starts with the key) names it; `Leak`'s error quotes secrets by name
and a secret param's value, and holds every kind of escape sequence a terminal obeys.
"""

from __future__ import annotations

import os
import sys

import luigi
from harness import build

OUT = os.environ["PIPELINE_OUT"]
API_KEY = "sk-live-4f9a2b7c1d"
DB_URL = "postgresql://admin:hunter2pass@db.internal:5432/plans"
MARKUP = "<script>alert('pwned')</script>"
LEAF_KEY = "sk-LEAKED-APIKEY-9f8e7d"
TOKEN = "tok-LEAKED-5b6c7d"
PASSWORD = "pw-LEAKED-8e9f0a"
BEARER = "eyJLEAKED.bearer.3c4d5e"
SECRET_PARAM = "hush-LEAKED-1a2b3c"
# OSC title, clipboard write, hyperlink; full reset; DCS; CSI clear; C1 CSI and OSC; bell, backspace. (A CR
# would end the record where it stands, as tqdm's redraws do: `Fine` has one in its title.)
ESCAPES = (
    "\x1b]0;pwned-title\x07"
    "\x1b]52;c;cHduZWQ=\x07"
    "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\"
    "\x1bc"
    "\x1bP1$qm\x1b\\"
    "\x1b[2J\x1b[31m"
    "\x9b31m\x9d0;c1-title\x9c"
    "\x07\x08 end"
)
SECRETS = (API_KEY, "hunter2pass", LEAF_KEY, TOKEN, PASSWORD, BEARER, SECRET_PARAM)


class Fetch(luigi.Task):
    api_key = luigi.Parameter()
    db_url = luigi.Parameter()
    note = luigi.Parameter()

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(os.path.join(OUT, "fetch"))

    def run(self) -> None:
        raise ConnectionError(f"could not connect to {self.db_url}")


class Leaf(luigi.Task):
    """The key first by name, so it is the readable part of Luigi's id; the note's newline breaks the repr's line."""

    api_key = luigi.Parameter()
    note = luigi.Parameter()

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(os.path.join(OUT, "leaf"))

    def run(self) -> None:
        raise PermissionError(f"key {self.api_key} was refused")


class Leak(luigi.Task):
    secret = luigi.Parameter()
    title = luigi.Parameter()

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(os.path.join(OUT, "leak"))

    def run(self) -> None:
        raise RuntimeError(
            f"upstream said token={TOKEN} password: {PASSWORD}\n"
            f"request had Authorization: Bearer {BEARER}\n"
            f"and secret {self.secret} {MARKUP} {ESCAPES}"
        )


class Fine(luigi.Task):
    """A task that succeeds, with an escape in a param: its id and params reach the terminal too."""

    title = luigi.Parameter()

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(os.path.join(OUT, "fine"))

    def run(self) -> None:
        with self.output().open("w") as f:
            f.write("ok")


class Publish(luigi.Task):
    def requires(self) -> list[luigi.Task]:
        return [
            Fetch(api_key=API_KEY, db_url=DB_URL, note=MARKUP),
            Leaf(api_key=LEAF_KEY, note="line one\nline two"),
            Leak(secret=SECRET_PARAM, title=ESCAPES),
            Fine(title=ESCAPES + "\rover"),
        ]

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(os.path.join(OUT, "publish"))


if __name__ == "__main__":
    sys.exit(build(lambda: [Publish()]))
