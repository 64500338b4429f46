"""Param values holding newlines and ANSI colours: Luigi writes their reprs across lines and with the escapes, and
one of them fails with a message of two lines."""

from __future__ import annotations

import hashlib
import os
import sys

import luigi
from harness import build

OUT = os.environ["PIPELINE_OUT"]
VALUES = ["first line\nsecond line", "\x1b[31mred\x1b[0m text", "tail\n", "plain", "a\nb, c=d\nis complete", "(open"]


class Leaf(luigi.Task):
    text = luigi.Parameter()
    n = luigi.IntParameter(default=1)

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(os.path.join(OUT, hashlib.md5(self.task_id.encode()).hexdigest()))

    def run(self) -> None:
        if self.text == "tail\n":
            raise ValueError("bad value\nspanning lines")
        with self.output().open("w") as f:
            f.write(self.text)


class Mid(luigi.Task):
    text = luigi.Parameter()

    def requires(self) -> Leaf:
        return Leaf(text=self.text)

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(os.path.join(OUT, "mid-" + hashlib.md5(self.task_id.encode()).hexdigest()))

    def run(self) -> None:
        with self.output().open("w") as f:
            f.write(self.text)


class Root(luigi.WrapperTask):
    def requires(self) -> list[Mid]:
        return [Mid(text=value) for value in VALUES]


if __name__ == "__main__":
    sys.exit(build(lambda: [Root()]))
