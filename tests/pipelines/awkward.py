"""Tasks whose reprs are hard to read back: commas, quotes, brackets, `k=v` inside values, Windows paths, unicode,
list and dict params, a private param (printed in the repr, left out of the id), many instances of one family."""

from __future__ import annotations

import hashlib
import os
import sys

import luigi
from harness import build
from luigi.parameter import ParameterVisibility

OUT = os.environ["PIPELINE_OUT"]

VALUES = [
    "a, b",
    'say "hi", then go',
    "[x] (y) {z}",
    r"C:\Users\me\Planned Work\file.txt",
    "ünïcödé ✓ 日本語",
    "k=v, z=1",
    "",
    "x)",
    "a" * 40,
]


class Awkward(luigi.Task):
    text = luigi.Parameter()
    items = luigi.ListParameter(default=["p, q", 'r"s'])
    opts = luigi.DictParameter(default={"a, b": 1, "c": [1, 2]})
    token = luigi.Parameter(default="not-in-the-id", visibility=ParameterVisibility.PRIVATE)

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(os.path.join(OUT, hashlib.md5(self.task_id.encode()).hexdigest()))

    def run(self) -> None:
        with self.output().open("w") as f:
            f.write(self.text)


class AwkwardRoot(luigi.WrapperTask):
    def requires(self) -> list[Awkward]:
        return [Awkward(text=value) for value in VALUES]


if __name__ == "__main__":
    sys.exit(build(lambda: [AwkwardRoot()]))
