"""One client of a central scheduler (`luigid` on LUIGI_SCHEDULER_PORT): client CENTRAL_CLIENT builds its own chain of
steps (step 4 fails in the client CENTRAL_FAIL names); several clients at once append to one log file.

With CENTRAL_GO (a path), the client first says it is ready (CENTRAL_GO.CLIENT) and waits for that file, then for
CENTRAL_AFTER builds to have announced themselves in the log: clients started together build together, however long
their start-up took, and no two announce themselves in the same millisecond (which reads as one record written by
two handlers)."""

from __future__ import annotations

import os
import sys
import time

import luigi
from harness import build

OUT = os.environ["PIPELINE_OUT"]
CLIENT = os.environ.get("CENTRAL_CLIENT", "c1")
FAILING = os.environ.get("CENTRAL_FAIL", "")
ANNOUNCED = "logging disabled in settings"  # what Luigi logs first in a build (harness.py turns its logging off)


class Step(luigi.Task):
    client = luigi.Parameter()
    i = luigi.IntParameter()

    def requires(self) -> list[Step]:
        return [Step(client=self.client, i=self.i - 1)] if self.i > 0 else []

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(os.path.join(OUT, f"{self.client}-{self.i}"))

    def run(self) -> None:
        time.sleep(0.02)
        if self.client == FAILING and self.i == 4:
            raise RuntimeError(f"{self.client} step 4 fails on purpose")
        with self.output().open("w") as f:
            f.write(self.client)


class Top(luigi.WrapperTask):
    client = luigi.Parameter()

    def requires(self) -> list[Step]:
        return [Step(client=self.client, i=5), Step(client=self.client, i=7)]


def _announced(log: str) -> int:
    try:
        with open(log, encoding="utf-8") as f:
            return f.read().count(ANNOUNCED)
    except FileNotFoundError:
        return 0


def wait_for_go(go: str, log: str, after: int) -> None:
    with open(f"{go}.{CLIENT}", "w"):
        pass
    while not os.path.exists(go):
        time.sleep(0.005)
    while after and _announced(log) < after:
        time.sleep(0.002)
    time.sleep(0.002)  # past the millisecond of the last announcement


if __name__ == "__main__":
    if go := os.environ.get("CENTRAL_GO"):
        wait_for_go(go, sys.argv[1], int(os.environ.get("CENTRAL_AFTER", "0")))
    sys.exit(build(lambda: [Top(client=CLIENT)]))
