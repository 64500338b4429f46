"""Where replay's time goes, stage by stage, in one process: reading, parsing, the model, documents, JSON (CPU s).

`python -m benchmarks.stages FILE` (e.g. benchmarks/.data/big-1400000.log). Each stage runs on the previous one's
output held in memory, so its time is its own; a change to one layer shows here before it shows in `make bench`.
For a sampling profile of the whole command: `py-spy record -o replay.svg -- luigi-exporter replay --json FILE`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporter.cli import tune_gc
from exporter.contract import run_dict, to_json
from exporter.lines import Block
from exporter.model import Run
from exporter.parse import Parser
from exporter.pipeline import Pipeline
from exporter.sources.files import read_blocks


@dataclass
class Stage:
    name: str
    seconds: float
    items: int
    unit: str

    def row(self, lines: int) -> str:
        return (
            f"| {self.name} | {self.seconds:.2f} s | {self.items:,} {self.unit} | "
            f"{self.seconds / lines * 1e6:.2f} µs | {lines / self.seconds:,.0f} |"
        )


def _timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[Any, float]:
    """Best CPU time of `repeat` calls: a neighbour's load moves wall time far more than CPU time."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        result = fn()
        best = min(best, time.process_time() - start)
    return result, best


def measure(path: Path, repeat: int = 1) -> list[Stage]:
    """The stages of `replay --json` as it runs: blocks read, parsed on the fast path, applied, written out."""
    source = str(path)
    blocks: list[Block]
    blocks, t_read = _timed(lambda: list(read_blocks(source)), repeat)

    def parse() -> tuple[int, int]:
        parser, events = Parser(), 0
        for block in blocks:
            events += len(parser.feed_block(block, source))
        return events + len(parser.flush()), parser.lines_read

    (events, lines), t_parse = _timed(parse, repeat)

    def model() -> list[Run]:
        """As `replay --json` reads: the runs that ended for good taken out of the model block by block."""
        pipeline, settled = Pipeline(), []
        for block in blocks:
            pipeline.feed_blocks(source, [block])
            settled += pipeline.take_settled()
        pipeline.finish(source)
        return settled + pipeline.take_settled()

    runs, t_both = _timed(model, repeat)
    documents, t_docs = _timed(lambda: [run_dict(run) for run in runs], repeat)
    texts, t_json = _timed(lambda: [to_json(document) for document in documents], repeat)
    return [
        Stage("read_blocks (file → blocks of whole lines)", t_read, lines, "lines"),
        Stage("Parser.feed_block (blocks → events)", t_parse, events, "events"),
        Stage("model: Pipeline.feed_blocks minus parsing", max(0.0, t_both - t_parse), len(documents), "runs"),
        Stage("run_dict (runs → dicts)", t_docs, len(documents), "runs"),
        Stage("to_json (dicts → JSON, a run at a time, as `--json`)", t_json, sum(map(len, texts)), "chars"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stages", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--repeat", type=int, default=1, help="best of N (CPU seconds) per stage")
    args = parser.parse_args(argv)
    tune_gc()  # as the command does: the default collector scans the blocks held here on every 700 allocations
    stages = measure(args.file, args.repeat)
    lines = stages[0].items
    print(f"{args.file}: {lines:,} lines\n")
    print("| Stage | Time | Output | Per line | Lines/s |\n|---|---|---|---|---|")
    for stage in stages:
        print(stage.row(lines))
    total = sum(s.seconds for s in stages)
    print(f"| total | {total:.2f} s | | {total / lines * 1e6:.2f} µs | {lines / total:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
