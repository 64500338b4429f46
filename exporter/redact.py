"""Credentials out of everything we show: task params, task ids, error texts.

Logs are untrusted and often carry secrets: a task param named `api_key`, a database URL with `user:pass@`, a
traceback quoting either. The model redacts them as it reads them, so no sink (store, metrics labels, span
attributes, the page, reports) ever holds the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from exporter.taskid import summary_of

__all__ = ["DEFAULT_NAMES", "REDACTED", "Redactor"]

REDACTED = "REDACTED"
# Param names that hold credentials (matched anywhere in the name, case-insensitive).
DEFAULT_NAMES = ("api_key", "apikey", "token", "password", "passwd", "secret", "credential", "private_key", "auth")
# scheme://user:password@host: the password goes.
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@/\s]+)@")


class Redactor:
    """`names`: regular expressions for sensitive param names (searched, case-insensitive)."""

    def __init__(self, names: Iterable[str] = DEFAULT_NAMES) -> None:
        patterns = [re.escape(n) if n in DEFAULT_NAMES else n for n in names]
        self._names = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE) if patterns else None
        self._verdicts: dict[str, bool] = {}  # a pipeline has few param names, asked about on every new task
        # The last params redacted, what they show, and whether that is the same: a build's tasks often share one
        # params dict (`taskid._body`), which is then redacted once.
        self._last: tuple[dict[str, str], dict[str, str], bool] = ({}, {}, True)

    def sensitive(self, name: str) -> bool:
        verdict = self._verdicts.get(name)
        if verdict is None:
            verdict = self._names is not None and self._names.search(name) is not None
            if len(self._verdicts) < 4096:
                self._verdicts[name] = verdict
        return verdict

    def text(self, text: str) -> str:
        """Passwords in URLs replaced; the rest kept (an error message is needed to act on it)."""
        if "://" not in text:
            return text
        return _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)

    def params(self, params: dict[str, str]) -> dict[str, str]:
        return {k: REDACTED if self.sensitive(k) else self.text(v) for k, v in params.items()}

    def task(self, task_id: str, family: str, params: dict[str, str]) -> tuple[dict[str, str], str]:
        """A task's params and id as shown: credentials redacted in both (the id changes only when its params do)."""
        last, shown, same = self._last
        if params is not last:
            shown = self.params(params)
            same = shown == params
            self._last = params, shown, same
        return shown, task_id if same else self.task_id(task_id, family, params)

    def task_id(self, task_id: str, family: str, params: dict[str, str]) -> str:
        """The id with the readable summary rebuilt from redacted values when a sensitive value is part of it.

        An id is `{family}_{first 16 chars of the first 3 values by name}_{md5 prefix}`; the hash reveals nothing.
        """
        names = sorted(params)[:3]
        if not any(self.sensitive(n) or self.text(params[n]) != params[n] for n in names):
            return task_id
        head = f"{family}_"
        if not task_id.startswith(head) or len(task_id) < len(head) + 11:
            return task_id
        return f"{head}{summary_of(self.params({n: params[n] for n in names}))}{task_id[-11:]}"
