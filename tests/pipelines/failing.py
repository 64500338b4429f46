"""For the plain `luigi` command: `luigi --module failing Report --local-scheduler` fails one task and, like every
luigi command without a [retcode] section, still exits 0."""

from __future__ import annotations

import luigi


class Extract(luigi.Task):
    def run(self) -> None:
        raise RuntimeError("source database refused the connection")

    def complete(self) -> bool:
        return False


class Report(luigi.WrapperTask):
    def requires(self) -> Extract:
        return Extract()
