"""A worker process that dies (`os._exit(3)`) and one killed by Luigi's worker_timeout: no `failed` line for either,
only the main process's `died unexpectedly with exit code` / `timed out after` lines."""

from __future__ import annotations

import os
import sys
import time

import luigi
from harness import build

OUT = os.environ["PIPELINE_OUT"]


class Dies(luigi.Task):
    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(os.path.join(OUT, "dies"))

    def run(self) -> None:
        os._exit(3)


class Hangs(luigi.Task):
    worker_timeout = 1

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(os.path.join(OUT, "hangs"))

    def run(self) -> None:
        time.sleep(30)


class Fine(luigi.Task):
    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(os.path.join(OUT, "fine"))

    def run(self) -> None:
        with self.output().open("w") as f:
            f.write("ok")


class AfterDeath(luigi.Task):
    def requires(self) -> list[luigi.Task]:
        return [Dies(), Hangs(), Fine()]

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(os.path.join(OUT, "after"))

    def run(self) -> None:
        with self.output().open("w") as f:
            f.write("never")


if __name__ == "__main__":
    sys.exit(build(lambda: [AfterDeath()], {"worker": {"force_multiprocessing": "true"}}))
