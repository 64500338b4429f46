"""Tasks whose params carry credentials and markup: what the sidecar must never show as it came."""

from __future__ import annotations

import os
import sys

import luigi
from harness import build

OUT = os.environ["PIPELINE_OUT"]
API_KEY = "sk-live-4f9a2b7c1d"
DB_URL = "postgresql://admin:hunter2pass@db.internal:5432/plans"
MARKUP = "<script>alert('pwned')</script>"


class Fetch(luigi.Task):
    api_key = luigi.Parameter()
    db_url = luigi.Parameter()
    note = luigi.Parameter()

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(os.path.join(OUT, "fetch"))

    def run(self) -> None:
        raise ConnectionError(f"could not connect to {self.db_url}")


class Publish(luigi.Task):
    def requires(self) -> Fetch:
        return Fetch(api_key=API_KEY, db_url=DB_URL, note=MARKUP)

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(os.path.join(OUT, "publish"))


if __name__ == "__main__":
    sys.exit(build(lambda: [Publish()]))
