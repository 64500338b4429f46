"""An external input that does not exist, a task whose complete() raises, and tasks downstream of both."""

from __future__ import annotations

import os
import sys

import luigi
from harness import build

OUT = os.environ["PIPELINE_OUT"]


class RawData(luigi.ExternalTask):
    day = luigi.Parameter(default="2026-11-25")

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(os.path.join(OUT, "raw", self.day))


class Broken(luigi.Task):
    def complete(self) -> bool:
        raise OSError("storage unreachable")


class Clean(luigi.Task):
    def requires(self) -> RawData:
        return RawData()

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(os.path.join(OUT, "clean"))


class Present(luigi.Task):
    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(os.path.join(OUT, "present"))

    def run(self) -> None:
        with self.output().open("w") as f:
            f.write("ok")


class Report(luigi.Task):
    def requires(self) -> list[luigi.Task]:
        return [Clean(), Broken(), Present()]

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(os.path.join(OUT, "report"))


if __name__ == "__main__":
    sys.exit(build(lambda: [Report()]))
