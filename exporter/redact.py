"""Credentials out of everything we show: task params, task ids, error texts.

Logs are untrusted and often carry secrets: a task param named `api_key`, a database URL with `user:pass@`, a
traceback quoting either, `token=...` or `Authorization: Bearer ...` in an exception. The model redacts them as it
reads them, so no sink (store, metrics labels, span attributes, the page, reports) ever holds the value.

It fails closed: a task id whose readable part can't be explained by the params read (a repr cut by a newline, a
value that does not serialize back) shows `Family_REDACTED_hash`, and a value once seen under a sensitive name is
redacted wherever it shows up again, whatever it is called there.
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
# `Bearer x`, `Basic x`: an HTTP credential, whatever header or variable it is in.
_SCHEME = r"(?:Bearer|Basic|Token|Digest)[ \t]{1,8}"
_SCHEME_CREDENTIAL = re.compile(rf"(?P<scheme>\b{_SCHEME})(?P<value>[A-Za-z0-9._~+/=\-]{{6,}})")
# A value as text says it after `name=` or `name: `: quoted, or up to a blank or a separator.
_ENDS = r"""\s,;&)"'}\]>"""  # what ends an unquoted value
_VALUE = rf"""(?P<value>"[^"\n]*"|'[^'\n]*'|(?:{_SCHEME})?[^{_ENDS}=(:][^{_ENDS}]*)"""
_SEPARATOR = r"""(?P<sep>["']?[ \t]{0,8}[=:][ \t]{0,8})"""
# A repr's params (`Family(name=value, name=value)`): Luigi joins them with ", " (taskid._PARAM_SPLIT).
_REPR_PARAM_SPLIT = re.compile(r", (?=[A-Za-z_]\w*=)")
_TAIL = re.compile(r"_[0-9a-f]{10}$")  # a Luigi id's hash
# Values shorter than this are not searched for in texts (a param `auth=yes` would redact every "yes").
MIN_SECRET_CHARS = 4
_MAX_SECRETS = 1024


class Redactor:
    """`names`: regular expressions for sensitive param names (searched, case-insensitive)."""

    def __init__(self, names: Iterable[str] = DEFAULT_NAMES) -> None:
        patterns = [re.escape(n) if n in DEFAULT_NAMES else n for n in names]
        alternatives = "|".join(f"(?:{p})" for p in patterns)
        self._names = re.compile(alternatives, re.IGNORECASE) if patterns else None
        # `token=x`, `"password": "x"`, `Authorization: Bearer x` in any text: a name holding one of `names`
        # (the part of it before the match is kept as it is; every repeat is bounded, so a hostile line costs
        # time linear in its length).
        self._said = (
            re.compile(rf"(?P<name>(?:{alternatives})[\w.\-]{{0,64}}){_SEPARATOR}{_VALUE}", re.IGNORECASE)
            if patterns
            else None
        )
        self._verdicts: dict[str, bool] = {}  # a pipeline has few param names, asked about on every new task
        self._secrets: dict[str, None] = {}  # values seen under a sensitive name, in the order learned
        self._by_length: list[str] = []  # the same, longest first (a secret holding another goes whole)
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

    def learn(self, value: str) -> None:
        """Remember a secret value, to redact it in every text read from now on."""
        value = value.strip().strip("\"'")
        if len(value) < MIN_SECRET_CHARS or value == REDACTED or value in self._secrets:
            return
        if len(self._secrets) >= _MAX_SECRETS:
            del self._secrets[next(iter(self._secrets))]
        self._secrets[value] = None
        self._by_length = sorted(self._secrets, key=len, reverse=True)

    def learn_repr(self, text: str) -> None:
        """The sensitive values of a repr that could not be read as a whole (cut by a newline or a CR): the task
        can't show them, but its traceback may quote them."""
        _, _, body = text.partition("(")
        for part in _REPR_PARAM_SPLIT.split(body.removesuffix(")")):
            name, eq, value = part.partition("=")
            if eq and self.sensitive(name.strip()):
                self.learn(value)

    def text(self, text: str) -> str:
        """Credentials out of a text: URL passwords, values said by a sensitive name, HTTP credentials, and every
        secret value learned so far; the rest kept (an error message is needed to act on it)."""
        # Each pattern is searched only where the byte it can't match without is there: most texts (param values
        # above all, one search each per new task) have none of them.
        if "://" in text:
            text = _URL_CREDENTIALS.sub(self._url, text)
        if self._said is not None and ("=" in text or ":" in text):
            text = self._said.sub(self._named, text)
        if " " in text or "\t" in text:
            text = _SCHEME_CREDENTIAL.sub(self._scheme, text)
        for secret in self._by_length:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def _url(self, m: re.Match[str]) -> str:
        self.learn(m["password"])
        return f"{m['scheme']}{m['user']}:{REDACTED}@"

    def _named(self, m: re.Match[str]) -> str:
        value = m["value"]
        scheme = _SCHEME_CREDENTIAL.match(value)
        if scheme is not None:
            self.learn(scheme["value"])
            return f"{m['name']}{m['sep']}{scheme['scheme']}{REDACTED}"
        self.learn(value)
        quote = value[0] if value[0] in "\"'" and len(value) > 1 else ""
        return f"{m['name']}{m['sep']}{quote}{REDACTED}{quote}"

    def _scheme(self, m: re.Match[str]) -> str:
        self.learn(m["value"])
        return f"{m['scheme']}{REDACTED}"

    def params(self, params: dict[str, str]) -> dict[str, str]:
        shown = {}
        for name, value in params.items():
            if self.sensitive(name):
                self.learn(value)
                shown[name] = REDACTED
            else:
                shown[name] = self.text(value)
        return shown

    def task(self, task_id: str, family: str, params: dict[str, str]) -> tuple[dict[str, str], str]:
        """A task's params and id as shown: credentials redacted in both (the id changes only when its params do,
        or when they can't explain its readable part)."""
        last, shown, same = self._last
        if params is not last:
            shown = self.params(params)
            same = shown == params
            self._last = params, shown, same
        return shown, self.task_id(task_id, family, params, same)

    def task_id(self, task_id: str, family: str, params: dict[str, str], same: bool = False) -> str:
        """The id with its readable part rebuilt from redacted values when a sensitive value is part of it, and
        replaced when the params can't explain it (fail closed: it may hold anything).

        An id is `{family}_{first 16 chars of the first 3 values by name}_{md5 prefix}`; the hash reveals nothing.
        """
        head = f"{family}_"
        if not task_id.startswith(head) or _TAIL.search(task_id) is None:
            return self.text(task_id)  # no Luigi id: shown as any text is
        readable = task_id[len(head) : -11]
        if readable != summary_of(params):
            return f"{head}{REDACTED}{task_id[-11:]}"
        names = sorted(params)[:3]
        if same or not any(self.sensitive(n) or self.text(params[n]) != params[n] for n in names):
            return task_id
        return f"{head}{summary_of(self.params({n: params[n] for n in names}))}{task_id[-11:]}"
