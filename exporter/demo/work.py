"""Simulated, seeded work for the demo tasks: sleeps and PlanExe-like log chatter instead of LLM calls.

Durations depend only on (seed, family), so two builds with the same seed produce comparable logs. Settings live in
module state because Luigi's multiprocess workers are forked from the CLI process and inherit it.
"""

import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path

import luigi

LLM_URL = "https://openrouter.ai/api/v1/chat/completions"

# The tasks that PlanExe runs without an LLM (checked at the graph commit): quick, and no HTTP chatter.
LOCAL_FAMILIES = frozenset(
    {
        "StartTimeTask",
        "SetupTask",
        "StrategicDecisionsMarkdownTask",
        "ScenariosMarkdownTask",
        "ConsolidateGovernanceTask",
        "TeamMarkdownTask",
        "MarkdownWithDocumentsToCreateAndFindTask",
        "WBSProjectLevel1AndLevel2Task",
        "WBSProjectLevel1AndLevel2AndLevel3Task",
        "CreateScheduleTask",
        "ReportTask",
        "FullPlanPipeline",
    }
)

executor_log = logging.getLogger("planexe.llm_util.llm_executor")
connection_log = logging.getLogger("httpcore.connection")
http11_log = logging.getLogger("httpcore.http11")
httpx_log = logging.getLogger("httpx")
pipeline_log = logging.getLogger("planexe.plan.run_plan_pipeline")


@dataclass(frozen=True)
class Settings:
    """What the CLI decides for all tasks of a build."""

    seed: int = 1
    speed: float = 1.0
    fail: frozenset[str] = frozenset()
    flaky: frozenset[str] = frozenset()


settings = Settings()


def configure(new: Settings) -> None:
    global settings
    settings = new


def duration(family: str, seed: int) -> float:
    """Simulated seconds of work at speed 1.0."""
    rng = random.Random(f"{seed}:{family}")
    return rng.uniform(0.05, 0.3) if family in LOCAL_FAMILIES else rng.uniform(1.2, 3.6)


def simulate(task: luigi.Task) -> None:
    """Do a task's fake work and write its output, or fail with the exception PlanExe's ``PlanTask.run`` raises."""
    family = task.task_family
    seconds = duration(family, settings.seed) * settings.speed
    failing = family in settings.fail or (family in settings.flaky and _count_attempt(task) == 1)
    try:
        if family in LOCAL_FAMILIES:
            _assemble(task, seconds, failing)
        else:
            _ask_llm(task, seconds, failing)
    except Exception as e:
        raise Exception(
            f"Failed to run {family} with any of the LLMs in the list: {task.llm_models!r} "
            f"for run_id_dir: {task.run_id_dir!r}"
        ) from e
    with task.output().open("w") as f:
        json.dump({"task_id": task.task_id, "seed": settings.seed, "seconds": round(seconds, 3)}, f)


def _assemble(task: luigi.Task, seconds: float, failing: bool) -> None:
    time.sleep(seconds)
    if failing:
        raise ValueError(f"simulated error while assembling the inputs of {task.task_family}")
    pipeline_log.debug(f"{task.task_family}: assembled {len(task.requires())} inputs")


def _llm_call(seconds: float, status: str) -> None:
    connection_log.debug(
        "connect_tcp.started host='openrouter.ai' port=443 local_address=None timeout=60.0 socket_options=None"
    )
    http11_log.debug("send_request_headers.started request=<Request [b'POST']>")
    started = time.monotonic()
    time.sleep(seconds)
    code, _, reason = status.partition(" ")
    http11_log.debug(f"receive_response_headers.complete return_value=(b'HTTP/1.1', {code}, b'{reason}', [])")
    httpx_log.info(f'HTTP Request: POST {LLM_URL} "HTTP/1.1 {status}"')
    executor_log.info(f"LLM call took {time.monotonic() - started:.2f} seconds")


def _ask_llm(task: luigi.Task, seconds: float, failing: bool) -> None:
    family = task.task_family
    executor_log.debug(f"LLMExecutor will try these LLMs: {list(task.llm_models)!r}")
    if failing:
        for model in task.llm_models:
            _llm_call(seconds / len(task.llm_models), "500 Internal Server Error")
            executor_log.error(f"LLMExecutor: error when invoking llm {model!r}: simulated server error")
        raise ValueError(f"All {len(task.llm_models)} LLMs failed: simulated server error")
    calls = random.Random(f"{settings.seed}:{family}:calls").randint(1, 3)
    for _ in range(calls):
        _llm_call(seconds / calls, "200 OK")
    pipeline_log.debug(f"{family} response:\n{json.dumps({'task': family, 'llm_calls': calls}, indent=2)}")


def _count_attempt(task: luigi.Task) -> int:
    """Count attempts in a file in the run dir, so a flaky task fails once per run dir, even across processes."""
    path = Path(task.run_id_dir, f".attempts-{task.task_family}")
    attempt = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempt))
    return attempt
