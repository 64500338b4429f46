"""One client of a central scheduler (`luigid` on LUIGI_SCHEDULER_PORT): client CENTRAL_CLIENT builds its own chain of
steps (step 4 fails in the client CENTRAL_FAIL names); several clients at once append to one log file."""

from __future__ import annotations

import os
import sys
import time

import luigi
from harness import build

OUT = os.environ["PIPELINE_OUT"]
CLIENT = os.environ.get("CENTRAL_CLIENT", "c1")
FAILING = os.environ.get("CENTRAL_FAIL", "")


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


if __name__ == "__main__":
    sys.exit(build(lambda: [Top(client=CLIENT)]))
