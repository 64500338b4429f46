"""What Luigi writes that the parser reads: one table of Luigi's log records, each quoted once with its origin.

Each `Record` is a phrase (the longest literal its pattern needs), the pattern, the event a match makes, and the line
of luigi 3.8.1 that writes it. The parser's pre-filter looks for the phrases (`exporter.prefilter`), its guards are the
phrases a line was found to hold, and its dispatch tries the pattern of each held phrase in table order: the first
match is the line's event. The summary block's wordings are in `exporter.summary_block`.

Every pattern must run in time linear in the line, which may be MAX_LINE_BYTES (1 MiB) of anything: no lazy group
before `\\s*$` (a run of blanks inside the line is rescanned at every step; the parser strips the line, and the
patterns end in a bare `$`), no `\\S+` that can start anywhere inside a long word (`(?<!\\S)`), no `[^)]*` that
rescans to the line's end from each of many starts (`[^()]*`), and no `(.+)` before a tail the line lacks from each
of many starts (`tails`, `suffix`: the line must hold the tail, and the search ends there).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from exporter.events import (
    BuildStarting,
    Checking,
    CompleteError,
    Died,
    DoneScheduling,
    Event,
    Informed,
    MissingData,
    RunningWorker,
    SchedulerDisabled,
    SchedulerRetry,
    SchedulingError,
    TaskDone,
    TaskFailed,
    TaskNewRequirements,
    TaskStarted,
    TaskStatus,
    TimedOut,
    WorkerStopped,
    WorkerTaskEvent,
)

__all__ = ["CHECKING", "MARKS", "PID", "RECORDS", "WORKER_HEAD", "WORKER_TASK", "Mark", "Record", "worker_process"]

Make = Callable[[float | None, int, re.Match[str]], Event]


@dataclass(frozen=True)
class Record:
    """One kind of line Luigi writes. `event` makes the event of a match, given the line's time and offset."""

    phrase: str
    pattern: re.Pattern[str]
    event: Make
    origin: str  # luigi/FILE:LINE and the call that writes the line
    tails: tuple[str, ...] = ()  # the pattern's `(.+)` ends before one of these: searched only up to the last one
    suffix: str = ""  # the pattern ends in `$` after this: a line not ending with it is not searched

    def search(self, text: str) -> re.Match[str] | None:
        """The pattern's match in a line without trailing blanks."""
        if self.suffix:
            return self.pattern.search(text) if text.endswith(self.suffix) else None
        if self.tails:
            end = max((i + len(tail) for tail in self.tails if (i := text.rfind(tail)) != -1), default=0)
            return self.pattern.search(text, 0, end) if end else None
        return self.pattern.search(text)


@dataclass(frozen=True)
class Mark:
    """A phrase that is not a record of its own but changes how the parser reads the line holding it."""

    phrase: str
    why: str


_WORKER_EVENTS: dict[str, type[WorkerTaskEvent]] = {
    "running": TaskStarted,
    "done": TaskDone,
    "failed": TaskFailed,
    "new requirements": TaskNewRequirements,
}

_STATUSES = {status.value: status for status in TaskStatus}  # by value: calling the Enum runs its metaclass per line

INFORMED = Record(
    "Informed sch",
    # Luigi's statuses only: a line with another word is counted unparsed, not a task of a status nothing knows.
    re.compile(rf"Informed scheduler that task\s+(\S+)\s+has status\s+({'|'.join(TaskStatus)})\b"),
    lambda t, o, m: Informed(t, o, m[1], _STATUSES[m[2]]),
    'worker.py:625  logger.info("Informed scheduler that task   %s   has status   %s", task_id, status)',
)
WORKER_TASK = Record(
    "] Worker ",
    re.compile(r"\[pid (\d+)\] Worker (Worker\([^()]*\)) (running|done|failed|new requirements)\s+(.*)$"),
    lambda t, o, m: _WORKER_EVENTS[m[3]](t, o, int(m[1]), m[2], m[4]),
    'worker.py:173  logger.info("[pid %s] Worker %s running   %s", os.getpid(), self.worker_id, self.task); '
    'worker.py:230 "... new requirements      %s"; :234 "... done      %s"; :247 logger.exception("... failed    %s")',
)
CHECKING = Record(
    "Checking if ",
    re.compile(r"Checking if (.+) is complete$"),
    lambda t, o, m: Checking(t, o, m[1]),
    'worker.py:438  logger.debug("Checking if %s is complete", task)',
    suffix=" is complete",
)
_MISSING_TAIL = " does not exist (yet?). The task is an external data dependency"
_COMPLETE_ERROR_TAILS = tuple(f" or any dependencies due to error in {m}() method" for m in ("complete", "deps"))

RECORDS: tuple[Record, ...] = (
    INFORMED,  # the commonest first: most lines read hold one phrase, and its pattern is tried first
    WORKER_TASK,
    CHECKING,
    Record(
        "Done scheduling tasks",
        re.compile(r"Done scheduling tasks"),
        lambda t, o, m: DoneScheduling(t, o),
        'interface.py:137  logger.info("Done scheduling tasks")',
    ),
    Record(
        "Running Worker with ",
        re.compile(r"Running Worker with (\d+) processes"),
        lambda t, o, m: RunningWorker(t, o, int(m[1])),
        'worker.py:1208  logger.info("Running Worker with %d processes", self.worker_processes)',
    ),
    Record(
        " was stopped. Shutting down Keep-Alive thread",
        re.compile(r"Worker (Worker\([^()]*\)) was stopped\. Shutting down Keep-Alive thread"),
        lambda t, o, m: WorkerStopped(t, o, m[1]),
        'worker.py:518  logger.info("Worker %s was stopped. Shutting down Keep-Alive thread" % self._worker_id)',
    ),
    Record(
        " died unexpectedly with exit code ",
        re.compile(r"Task (\S+) died unexpectedly with exit code (-?\d+)"),
        lambda t, o, m: Died(t, o, m[1], int(m[2])),
        'worker.py:1070  error_msg = "Task {} died unexpectedly with exit code {}".format(task_id, p.exitcode); '
        ":1078 logger.info(error_msg)",
    ),
    Record(
        " seconds and was terminated",
        re.compile(r"Task (\S+) timed out after ([\d.]+) seconds and was terminated"),
        lambda t, o, m: TimedOut(t, o, m[1], float(m[2])),
        'worker.py:1074  error_msg = "Task {} timed out after {} seconds and was terminated.".format(task_id, '
        "p.worker_timeout); :1078 logger.info(error_msg)",
    ),
    Record(
        _MISSING_TAIL,
        re.compile(r"Data for (.+)" + re.escape(_MISSING_TAIL)),
        lambda t, o, m: MissingData(t, o, m[1]),
        'worker.py:870  logger.warning("Data for %s does not exist (yet?). The task is an external data dependency, '
        'so it cannot be run from this luigi process.", task)',
        tails=(_MISSING_TAIL,),
    ),
    Record(
        " or any dependencies due to error in ",
        re.compile(r"Will not run (.+) or any dependencies due to error in (?:complete|deps)\(\) method"),
        lambda t, o, m: CompleteError(t, o, m[1]),
        'worker.py:685  "Will not run {task} or any dependencies due to error in complete() method:\\n{tb}"; '
        ':689 "... in deps() method:\\n{tb}"',
        tails=_COMPLETE_ERROR_TAILS,
    ),
    Record(
        "Luigi unexpected framework error while scheduling ",
        re.compile(r"Luigi unexpected framework error while scheduling (.+)$"),
        lambda t, o, m: SchedulingError(t, o, m[1]),
        'worker.py:693  logger.exception("Luigi unexpected framework error while scheduling %s", task)',
    ),
    # Once per luigi.build (interface._schedule_and_run), before its first Checking line.
    Record(
        "logging already configured",
        re.compile(r"\blogging already configured"),
        lambda t, o, m: BuildStarting(t, o),
        'setup_logging.py:52  logger.info("logging already configured")',
    ),
    Record(
        "logging disabled in settings",
        re.compile(r"\blogging disabled in settings"),
        lambda t, o, m: BuildStarting(t, o),
        'setup_logging.py:57  logger.info("logging disabled in settings")',
    ),
    Record(
        "logging configured ",
        re.compile(r"\blogging configured (?:via|by) "),
        lambda t, o, m: BuildStarting(t, o),
        'setup_logging.py:63,69,75,81  logger.info("logging configured via special settings") / "via *.conf file" / '
        '"via config section" / "by default settings"',
    ),
    Record(
        " task num failures is ",
        re.compile(r"(?<!\S)(\S+) task num failures is (\d+) and limit is (\d+)"),
        lambda t, o, m: SchedulerRetry(t, o, m[1], int(m[2]), int(m[3])),
        'scheduler.py:331  logger.debug("%s task num failures is %s and limit is %s", self.id, self.num_failures(), '
        "self.retry_policy.retry_count)",
    ),
    Record(
        " task num failures limit(",
        re.compile(r"(?<!\S)(\S+) task num failures limit\((\d+)\) is exceeded"),
        lambda t, o, m: SchedulerDisabled(t, o, m[1], int(m[2])),
        'scheduler.py:333  logger.debug("%s task num failures limit(%s) is exceeded", self.id, '
        "self.retry_policy.retry_count)",
    ),
)

SUMMARY = Mark(
    "===== Luigi Execution Summary =====",
    "execution_summary.py:488 _summary_wrap: the summary block starts (and ends) at its mark",
)
# The line's text is rewritten for these before it is read (`decode_line` drops NULs, a CR starts a record of its own,
# colours are removed), and the phrases are looked for again in what is left.
NUL = Mark("\x00", "removed from the line")
CR = Mark("\r", "a tqdm redraw: each piece is a line of its own (not a CRLF line's CR)")
ESC = Mark("\x1b", "a colour or cursor move, removed")
MARKS: tuple[Mark, ...] = (SUMMARY, NUL, CR, ESC)  # what the pre-filter looks for, besides the records' phrases

# Within a line holding WORKER_TASK's phrase, and looked for only there, in a line that made no event: such a line is
# counted unparsed (Luigi reworded it, or it was cut).
WORKER_HEAD = Mark("] Worker Worker(", "worker.py:173-247: a worker line's head")
PID = Mark("[pid ", "worker.py:173-247: with `] Worker `, a worker line's start, header or not")

# worker.py:672-673  _generate_worker_id: "Worker({})" of "salt=%09d, workers=N, host=..., username=..., pid=M"
_WORKER_ID = re.compile(r"host=([^,()]*), username=[^()]*, pid=(\d+)\)$")


def worker_process(worker: str) -> tuple[str, int] | None:
    """The host and pid of a worker id (`WorkerTaskEvent.worker`), if it has them."""
    m = _WORKER_ID.search(worker)
    return (m[1], int(m[2])) if m else None
