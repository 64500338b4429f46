"""One build of many tasks of one family (`--tasks N`, default 2,000) under a root, one of them failing: the shape
whose cost grew with the square of its task count."""

from __future__ import annotations

import os
import sys

import luigi
from harness import build

OUT = os.environ["PIPELINE_OUT"]
TASKS = int(os.environ.get("WIDE_TASKS", "2000"))


class Leaf(luigi.Task):
    i = luigi.IntParameter()
    run_dir = luigi.Parameter(default=OUT)

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(os.path.join(self.run_dir, f"leaf-{self.i}"))

    def run(self) -> None:
        if self.i == 7:
            raise RuntimeError("leaf 7 fails on purpose")
        with self.output().open("w") as f:
            f.write(str(self.i))


class Root(luigi.WrapperTask):
    def requires(self) -> list[Leaf]:
        return [Leaf(i=i) for i in range(TASKS)]


if __name__ == "__main__":
    sys.exit(build(lambda: [Root()]))
