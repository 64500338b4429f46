"""Batch tasks: members sharing a `batch_method` param run as one `Item(item=a,b,c)` task of at most 3 members; with
`--fail`, the batch holding item `d` fails."""

from __future__ import annotations

import os
import sys

import luigi
from harness import build

OUT = os.environ["PIPELINE_OUT"]
FAIL = "--fail" in sys.argv
if FAIL:
    sys.argv.remove("--fail")


class Item(luigi.Task):
    item = luigi.Parameter(batch_method=",".join)
    size = luigi.IntParameter(default=1)
    max_batch_size = 3

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(os.path.join(OUT, f"item-{self.item}"))

    def run(self) -> None:
        items = self.item.split(",")
        if FAIL and "d" in items:
            raise RuntimeError(f"batch {self.item} fails on purpose")
        os.makedirs(OUT, exist_ok=True)
        for item in items:
            with open(os.path.join(OUT, f"item-{item}"), "w") as f:
                f.write(item)


class Root(luigi.WrapperTask):
    def requires(self) -> list[Item]:
        return [Item(item=c) for c in "abcdefgh"]


if __name__ == "__main__":
    sys.exit(build(lambda: [Root()]))
