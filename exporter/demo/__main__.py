"""``python -m exporter.demo``: run the simulated PlanExe pipeline the way PlanExe runs it, plus ways to break it.

Logging mirrors PlanExe's ``run_plan_pipeline``: root logger at DEBUG, a ``FileHandler`` appending to
``RUN_DIR/log.txt`` and a console handler, with Luigi's own logging configuration switched off so that its records
reach the file through the root logger exactly once (unless ``--dual-handlers`` asks for the duplicate-echo trap).
"""

import argparse
import logging
import multiprocessing
import os
import signal
import sys
from pathlib import Path

import luigi
from luigi.event import Event
from luigi.execution_summary import LuigiStatusCode

from exporter.demo import graph, truth, work

LOG_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
PLANEXE_DATEFMT = "%Y-%m-%d %H:%M:%S"
LUIGI_FORMAT = "%(levelname)s: %(message)s"
RETRY_DELAY_SECONDS = 0.5

logger = logging.getLogger("planexe.plan.run_plan_pipeline")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    families = list(graph.TASKS)
    parser = argparse.ArgumentParser(
        prog="python -m exporter.demo", description="Run the simulated 61-task PlanExe pipeline with Luigi."
    )
    parser.add_argument("--run-dir", required=True, help="PlanExe's run_id_dir: outputs and log.txt go here")
    parser.add_argument(
        "--task",
        default=graph.ROOT,
        choices=families,
        metavar="FAMILY",
        help=f"root of the build (default {graph.ROOT})",
    )
    parser.add_argument("--workers", type=int, default=4, help="Luigi worker processes (default 4)")
    parser.add_argument("--seed", type=int, default=1, help="seed for the simulated durations (default 1)")
    parser.add_argument("--speed", type=float, default=1.0, help="multiplier on simulated durations (default 1.0)")
    parser.add_argument(
        "--fail",
        action="append",
        default=[],
        choices=families,
        metavar="FAMILY",
        help="task that fails every attempt (repeatable)",
    )
    parser.add_argument(
        "--flaky",
        action="append",
        default=[],
        choices=families,
        metavar="FAMILY",
        help="task whose first attempt in this run dir fails (repeatable)",
    )
    parser.add_argument(
        "--retry-count",
        type=int,
        metavar="N",
        help=f"Luigi [scheduler] retry_count: attempts before a failing task is disabled; retries come after "
        f"{RETRY_DELAY_SECONDS}s because this also sets [worker] keep_alive",
    )
    parser.add_argument(
        "--kill-after", type=int, metavar="N", help="SIGKILL the whole process group once N tasks have succeeded"
    )
    parser.add_argument("--ms", action="store_true", help="timestamps with ,mmm milliseconds")
    parser.add_argument(
        "--dual-handlers",
        action="store_true",
        help="let Luigi add its own 'LEVEL: msg' stderr handler and echo luigi-interface records into log.txt too",
    )
    parser.add_argument("--truth", metavar="FILE", help="append one JSON line per Luigi task event (see truth.py)")
    parser.add_argument(
        "--quiet", action="store_true", help="no console handler (Luigi's own one stays with --dual-handlers)"
    )
    return parser.parse_args(argv)


def setup_logging(log_file: Path, *, ms: bool, dual: bool, quiet: bool) -> None:
    formatter = logging.Formatter(LOG_FORMAT, datefmt=None if ms else PLANEXE_DATEFMT)
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    if not quiet:
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(logging.INFO)
        console.setFormatter(formatter)
        root.addHandler(console)
    file_handler = logging.FileHandler(log_file, mode="a")
    file_handler.setFormatter(formatter)
    root.addHandler(file_handler)
    if dual:
        echo = logging.FileHandler(log_file, mode="a")
        echo.setFormatter(logging.Formatter(LUIGI_FORMAT))
        logging.getLogger("luigi-interface").addHandler(echo)


def configure_luigi(*, dual: bool, retry_count: int | None) -> None:
    """Keep Luigi off our handlers, and make the local scheduler retry failed tasks within seconds when asked.

    A failed task goes back to PENDING only after ``retry_delay``, and a worker with nothing runnable exits unless
    ``keep_alive`` is set; its idle sleep is ``wait_interval`` plus up to ``wait_jitter`` (default 5 s) seconds.
    """
    config = luigi.configuration.get_config()
    if not dual:
        config.set("core", "no_configure_logging", "true")
    if retry_count is not None:
        config.set("scheduler", "retry_count", str(retry_count))
        config.set("scheduler", "retry_delay", str(RETRY_DELAY_SECONDS))
        config.set("worker", "keep_alive", "true")
        config.set("worker", "wait_interval", "0.1")
        config.set("worker", "wait_jitter", "0")


def kill_after(successes: int) -> None:
    """SIGKILL the process group, workers included, right after the Nth task success: no summary, no cleanup.

    The handler runs in whichever (forked) process finishes the task, so the count is shared memory. It is registered
    on ``PlanTask`` after the truth recorder's ``luigi.Task`` handlers, so Luigi runs those first.
    """
    if os.getpgid(0) != os.getpid():
        os.setpgid(0, 0)  # don't take down whoever started us
    count = multiprocessing.Value("i", 0)

    @graph.PlanTask.event_handler(Event.SUCCESS)
    def _kill(task: luigi.Task) -> None:
        with count.get_lock():
            count.value += 1
            reached = count.value >= successes
        if reached:
            os.killpg(os.getpgid(0), signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run_dir = Path(args.run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    setup_logging(run_dir / "log.txt", ms=args.ms, dual=args.dual_handlers, quiet=args.quiet)
    work.configure(
        work.Settings(seed=args.seed, speed=args.speed, fail=frozenset(args.fail), flaky=frozenset(args.flaky))
    )
    if args.truth:
        truth.install(args.truth)
    if args.kill_after is not None:
        kill_after(args.kill_after)
    configure_luigi(dual=args.dual_handlers, retry_count=args.retry_count)

    root_logger = logging.getLogger()
    root_logger.info(f"run_id_dir: {str(run_dir)!r}")
    root_logger.info(f"Speed vs Detail: {graph.DEFAULT_SPEEDVSDETAIL}")
    root_logger.info("These are the LLM models that will be used in the pipeline:")
    for index, name in enumerate(graph.DEFAULT_LLM_MODELS):
        root_logger.info(f"{index}. {name!r}")

    task = graph.TASKS[args.task](run_id_dir=str(run_dir))
    result = luigi.build([task], local_scheduler=True, workers=args.workers, detailed_summary=True)
    if args.truth:
        truth.record_summary(args.truth, result.worker)
    succeeded = result.status in (LuigiStatusCode.SUCCESS, LuigiStatusCode.SUCCESS_WITH_RETRY)
    logger.info(f"luigi_build_return_value: {succeeded}")
    logger.info(f"has_pipeline_complete_file: {task.complete()}")
    return 0 if succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
