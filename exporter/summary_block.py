"""Luigi's execution summary block read into a `Summary` event.

interface.py:140 `logger.info(luigi_run_result.summary_text)` writes the block as one record of many lines, framed by
`_summary_wrap` (execution_summary.py:488) between two marks. The parser collects the lines between the marks
(stripped); `read_summary` reads them. Each wording below is quoted from luigi/execution_summary.py (3.8.1) with its
line, plus Luigi 2.x's "present dependencies were encountered".
"""

from __future__ import annotations

import re

from exporter.events import Summary

__all__ = ["SUMMARY_MARK", "read_summary"]

# execution_summary.py:488-495  _summary_wrap: the mark, a blank line, the block, a blank line, the mark again
SUMMARY_MARK = "===== Luigi Execution Summary ====="
# execution_summary.py:426  "Scheduled {0} tasks of which:\n"
_SCHEDULED = re.compile(r"Scheduled (\d+) tasks of which")
# execution_summary.py:326  "{space}* {num_tasks} {human}:\n" (the lines come stripped: no `\s*$`, which is quadratic
# on a long run of blanks)
_CATEGORY = re.compile(r"^\* (\d+) (.+?):?$")
# execution_summary.py:179-243  _get_str: prefix + "- {0} {1}(...)" per family, or prefix + "..." past the summary
# length (line 196)
_LISTED = re.compile(r"^- (\d+) (.+?)$")
_ELLIPSIS = "..."
# execution_summary.py:464  "This progress looks {0} because {1}" with LuigiStatusCode's smiley and reason
_SMILEY = re.compile(r"This progress looks (:\)|:\(|:\|) because (.+?)$")
# execution_summary.py:452, 456
_DID_NOT_RUN = "Did not run any tasks"
_DID_NOT_SCHEDULE = "Did not schedule any tasks"
# execution_summary.py:347-360  _COMMENTS: (status, human) -> our key by Luigi's human wording
_CATEGORIES = {
    "complete ones were encountered": "already_done",
    "present dependencies were encountered": "already_done",
    "ran successfully": "completed",
    "failed": "failed",
    "failed scheduling": "scheduling_error",
    "were left pending, among these": "still_pending",
    "were missing external dependencies": "still_pending_ext",
    "were being run by another worker": "run_by_other_worker",
    "had failed dependencies": "upstream_failure",
    "had missing dependencies": "upstream_missing_dependency",
    "had missing external dependencies": "upstream_missing_dependency",
    "had dependencies that were being run by other worker": "upstream_run_by_other_worker",
    "had dependencies whose scheduling failed": "upstream_scheduling_error",
    "was not granted run permission by the scheduler": "not_run",
}
# The items of a summary not indented under "were left pending, among these" (execution_summary.py:346
# _PENDING_SUB_STATUSES are).
_TOP_LEVEL = ("already_done", "completed", "failed", "scheduling_error", "still_pending")


def read_summary(lines: list[str], time: float | None, offset: int) -> Summary | None:
    """The summary the stripped lines between the marks make; None when they say nothing of what was scheduled (a
    block cut before its first line, or no summary at all)."""
    scheduled = None
    counts: dict[str, int] = {}
    families: dict[str, list[str]] = {}
    truncated: list[str] = []
    current = ""
    smiley = reason = ""
    did_not_run = False
    for text in lines:
        if m := _SCHEDULED.search(text):
            scheduled = int(m[1])
        elif m := _CATEGORY.match(text):
            current = _CATEGORIES.get(m[2], "")
            if current:
                counts[current] = int(m[1])
        elif (m := _LISTED.match(text)) and current:
            families.setdefault(current, []).append(m[2])
        elif text == _ELLIPSIS and current:
            truncated.append(current)
        elif m := _SMILEY.search(text):
            smiley, reason = m[1], m[2]
        elif text.startswith(_DID_NOT_RUN):
            did_not_run = True
        elif text.startswith(_DID_NOT_SCHEDULE):
            scheduled = 0
    if scheduled is None:
        return None
    # Luigi writes a consistent block (execution_summary._summary_format): the scheduled total is the sum of the
    # top-level items and the pending sub-items are among the pending. A block that is not (written by hand, spliced
    # from two builds) is read so that it is, since a run known only by its summary shows these figures: never 2 of 1
    # tasks complete, nor -1 pending.
    pending = sum(n for key, n in counts.items() if key not in _TOP_LEVEL)
    if pending > counts.get("still_pending", 0):
        counts["still_pending"] = pending
    scheduled = max(scheduled, sum(counts.get(key, 0) for key in _TOP_LEVEL))
    return Summary(
        time,
        offset,
        scheduled,
        tuple(counts.items()),
        tuple((k, tuple(v)) for k, v in families.items()),
        tuple(truncated),
        smiley,
        reason,
        did_not_run,
    )
