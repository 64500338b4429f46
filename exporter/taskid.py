"""Luigi's task ids, recomputed from the reprs that worker lines carry.

Scheduler-side lines name a task by its id, worker lines by its repr `Family(name=value, ...)`. The repr prints
every significant parameter serialized and unquoted, so it can be ambiguous (a value holding `, x=`), and it also
prints hidden and private parameters, which the id leaves out. `parse_repr` says when it could not split a repr;
callers then fall back on the family (see model.py).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from functools import lru_cache
from itertools import combinations, islice
from json.encoder import encode_basestring_ascii as _json_string
from typing import NamedTuple

__all__ = ["ParsedRepr", "TaskIndex", "family_of_id", "parse_repr", "task_id_str"]

# luigi/task.py: TASK_ID_INCLUDE_PARAMS = 3, TASK_ID_TRUNCATE_PARAMS = 16, TASK_ID_TRUNCATE_HASH = 10,
# TASK_ID_INVALID_CHAR_REGEX = re.compile(r"[^A-Za-z0-9_]")
_INCLUDE_PARAMS = 3
_TRUNCATE_PARAMS = 16
_TRUNCATE_HASH = 10
_INVALID_CHAR = re.compile(r"[^A-Za-z0-9_]")
# The same rule as a table for ASCII text: bytes.translate maps every byte in one pass, without the regex's
# per-match work (every task id's readable part goes through it).
_ASCII_VALID = bytes(c if chr(c).isalnum() or c == ord("_") else ord("_") for c in range(128)) + b"_" * 128
_FAMILY = re.compile(r"^([A-Za-z_][\w.]*)\((.*)\)$", re.DOTALL)
# A parameter starts after ", " with an identifier and "=": Luigi's Task.__repr__ joins "name=value" with ", ".
_PARAM_SPLIT = re.compile(r", (?=[A-Za-z_]\w*=)")
_PARAM = re.compile(r"^([A-Za-z_]\w*)=(.*)$", re.DOTALL)


class ParsedRepr(NamedTuple):
    family: str
    params: dict[str, str]
    exact: bool  # False when the repr could not be split with certainty
    parts: tuple[str, ...] = ()  # the body cut at every `, name=`: true boundaries and those inside values


# The caches below keep nothing longer than this: a repr or params that long (a hostile line, or a task of huge
# params) is split or hashed again each time, since 8,192 of them at 1 MiB would outlive their runs by gigabytes.
_CACHED_CHARS = 4096


def task_id_str(family: str, params: dict[str, str]) -> str:
    """luigi.task.task_id_str, the same bytes: family, first 3 values by name cut to 16 chars, md5 of sorted JSON."""
    return f"{family}_{_tail_of(params)}"


def _tail_of(params: dict[str, str]) -> str:
    """A task id's tail (`_id_tail`) for params as a dict."""
    tail = _id_tail if sum(map(len, params.values())) <= _CACHED_CHARS else _id_tail.__wrapped__
    return tail(tuple(sorted(params.items())))


@lru_cache(maxsize=8192)  # the tasks of a build often share their params (a pipeline's run dir, its settings)
def _id_tail(items: tuple[tuple[str, str], ...]) -> str:
    """All of a task id after its family: it depends on the params alone, so it is computed once per params."""
    # Luigi hashes json.dumps(params, separators=(",", ":"), sort_keys=True); for names and values that are all
    # strings, sorted by name here, that is these bytes, written with the function json.dumps writes strings with
    # (json.dumps with options builds a new encoder on every call, and this runs for every new task's id).
    param_str = "{" + ",".join([f"{_json_string(k)}:{_json_string(v)}" for k, v in items]) + "}"
    param_hash = hashlib.md5(param_str.encode("utf-8"), usedforsecurity=False).hexdigest()
    return f"{_summary(items)}_{param_hash[:_TRUNCATE_HASH]}"


def parse_repr(text: str, split: re.Pattern[str] = _PARAM_SPLIT) -> ParsedRepr:
    """Split `Family(a=1, b=x, y)` into family and serialized params; never raises. Cached: callers must not
    change the params dict they get.

    `split` finds the boundaries between params; by default any `, name=`, which a value like `k=v, z=1` fools.
    """
    return (_parse_repr if len(text) <= _CACHED_CHARS else _parse_repr.__wrapped__)(text, split)


@lru_cache(maxsize=8192)  # the same reprs come back on every Checking and worker line of a build
def _parse_repr(text: str, split: re.Pattern[str]) -> ParsedRepr:
    text = text.strip()
    m = _FAMILY.match(text)
    if m is None:
        family = text.split("(", 1)[0].strip() or text
        return ParsedRepr(family, {}, False)
    family, body = m[1], m[2]
    if not body:
        return ParsedRepr(family, {}, True)
    return ParsedRepr(family, *(_body if len(body) <= _CACHED_CHARS else _body.__wrapped__)(body, split))


@lru_cache(maxsize=1024)  # the tasks of a build often share their params: their reprs differ in the family only
def _body(body: str, split: re.Pattern[str]) -> tuple[dict[str, str], bool, tuple[str, ...]]:
    """A repr's params, whether they were split with certainty, and the body cut at every `, name=`."""
    parts = _PARAM_SPLIT.split(body)
    params, exact = _params(parts if split is _PARAM_SPLIT else split.split(body))
    return params, exact, tuple(parts)


def _params(parts: list[str]) -> tuple[dict[str, str], bool]:
    """The params of a body cut at `, name=` boundaries: every part after the first starts with `name=` (so only the
    first needs the pattern); not exact when the first is no `name=value` or a name comes back (the first one kept)."""
    first = _PARAM.match(parts[0])
    params = {first[1]: first[2]} if first is not None else {}
    exact = first is not None
    for part in parts[1:]:
        name, _, value = part.partition("=")
        if name in params:
            exact = False
        else:
            params[name] = value
    return params, exact


def _regroupings(parsed: ParsedRepr) -> Iterator[dict[str, str]]:
    """The params of every other way to join the repr's parts back, fewest joins first.

    A value holding `, z=` cuts the repr at a false boundary; the true split is always a coarsening of the cut one.
    """
    gaps = len(parsed.parts) - 1
    if gaps > _MAX_SUBSETS:  # a hostile repr of thousands of `, name=` parts: not a task's, and not worth the time
        return
    tried = 0
    for joins in range(1, gaps + 1):
        for joined in combinations(range(gaps), joins):
            pieces = [parsed.parts[0]]
            for gap, part in enumerate(parsed.parts[1:]):
                if gap in joined:
                    pieces[-1] += ", " + part
                else:
                    pieces.append(part)
            params, exact = _params(pieces)
            if exact:
                yield params
            tried += 1
            if tried >= _MAX_SUBSETS:
                return


# Bounds on the hashing done when a repr does not give its id at once (once per family, then O(1) per line).
_MAX_SUBSETS = 64
_MAX_READINGS = 8


def summary_of(params: dict[str, str]) -> str:
    """The middle of a task id: the first 3 values by param name, each cut to 16 chars, odd chars as `_`."""
    return _summary(sorted(params.items()))


def _summary(items: Sequence[tuple[str, str]]) -> str:
    """summary_of the params as (name, value) sorted by name."""
    text = "_".join([value[:_TRUNCATE_PARAMS] for _, value in items[:_INCLUDE_PARAMS]])
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_VALID).decode("ascii")
    return _INVALID_CHAR.sub("_", text)


def _subsets(params: dict[str, str]) -> Iterator[dict[str, str]]:
    """The params with some left out, largest first (the repr prints private params the id omits)."""
    names = sorted(params)
    tried = 0
    for size in range(len(names) - 1, -1, -1):
        for subset in combinations(names, size):
            yield {name: params[name] for name in subset}
            tried += 1
            if tried >= _MAX_SUBSETS:
                return


@lru_cache(maxsize=1024)  # each build learns the same families' names again
def _boundaries(names: frozenset[str]) -> re.Pattern[str]:
    if not names:
        return _PARAM_SPLIT
    alternatives = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
    return re.compile(f", (?=(?:{alternatives})=)")


class TaskIndex:
    """Matches the two names Luigi gives one task: the id in scheduler lines, the repr in worker lines.

    Exact first (the id recomputed from the repr); else with the params this family's ids were found to leave out
    (learned once per family from the first repr that matches with some left out); else, where values do not
    serialize back (Python reprs of dicts and paths), by the id's readable prefix `Family_summary` when exactly one
    id has it. Cost stays O(1) per line after the first line of each family.
    """

    def __init__(self) -> None:
        self._dropped: dict[str, frozenset[str]] = {}
        self._opaque: set[str] = set()  # families whose ids could not be recomputed from their reprs
        self._by_prefix: dict[str, list[str]] = {}  # "Family_summary" -> ids
        self._checked: dict[str, tuple[str, dict[str, str]]] = {}  # id (recomputed) -> family, params: Checking reprs
        self._checked_families: dict[str, dict[str, ParsedRepr]] = {}  # family -> its Checking reprs, by text
        self._underscored: list[str] = []  # those of the families above that hold a `_` (few pipelines name so)
        self._splits: dict[str, frozenset[str]] = {}  # family -> its param names, from a repr that matched an id
        self._found: dict[str, tuple[str, dict[str, str], ParsedRepr]] = {}  # repr -> the id its params hash to
        self._common_names: dict[str, frozenset[str]] = {}  # family -> names every Checking repr of it has
        # The last params hashed and their id's tail: the tasks of a build often share one params dict (`_body`'s
        # cache hands the same dict for the same body), and sorting and hashing it again would be most of a
        # Checking line's work. Held here, the dict can't be freed and its id taken by another.
        self._last_tail: tuple[dict[str, str], str] | None = None

    def parse(self, text: str) -> ParsedRepr:
        """A repr split only at the param names its family is known to have: those of a repr that matched an id,
        else those every Checking repr of the family shares (a value `k=v, z=1` adds a `z` no other repr has)."""
        parsed = parse_repr(text)
        names = self._splits.get(parsed.family)
        if names is not None:
            if parsed.exact and names == parsed.params.keys():
                return parsed  # cut at exactly the known names already: split at those only, it is the same
            split = _boundaries(names)  # compiled only here, for the rare repr a value's `, x=` cut wrongly
        else:
            common = self._common_names.get(parsed.family)
            if common is None or common.issuperset(parsed.params):
                return parsed
            split = _boundaries(common)
        return parse_repr(text, split)

    def _learn_names(self, parsed: ParsedRepr) -> None:
        if parsed.family not in self._splits and parsed.exact:
            self._splits[parsed.family] = frozenset(parsed.params)

    def families(self) -> Iterable[str]:
        """Families seen in reprs (Checking lines, worker lines) of this build."""
        return self._checked_families.keys() | self._splits.keys()

    def add_id(self, task_id: str) -> None:
        self._by_prefix.setdefault(task_id[: -(_TRUNCATE_HASH + 1)], []).append(task_id)

    def add_checked(self, text: str) -> None:
        """A Checking line's repr: its id is noted (`describe`), and so is the repr's (`find`, once the id is known)."""
        parsed = self.parse(text)
        reprs = self._checked_families.get(parsed.family)
        if reprs is None:
            reprs = self._checked_families[parsed.family] = {}
            if "_" in parsed.family:
                self._underscored.append(parsed.family)
        if text not in reprs:
            common = self._common_names.get(parsed.family)
            self._common_names[parsed.family] = (
                frozenset(parsed.params) & common if common else frozenset(parsed.params)
            )
            reprs[text] = parsed
            if parsed.exact:
                self._found.setdefault(text, (*self._check(parsed), parsed))

    def _check(self, parsed: ParsedRepr) -> tuple[str, dict[str, str]]:
        """Note the id a Checking repr's params make, with the family that made it; returns the id and params."""
        task_id, public = self._id_of(parsed.family, parsed.params)
        self._checked.setdefault(task_id, (parsed.family, public))
        return task_id, public

    def checked(self, task_id: str) -> bool:
        """Whether a Checking repr of this build makes that id (as Luigi hashes its params)."""
        return task_id in self._checked

    def describe(self, task_id: str) -> tuple[str, dict[str, str]] | None:
        """Family and params of a scheduler-side id, from the reprs of Checking lines seen before it: the repr whose
        params make the id (its family, not merely one the id starts with: `Prep` and `Prep_Data`), else by learning
        which params the id leaves out, family by family."""
        checked = self._checked.get(task_id)
        if checked is not None:
            return checked
        for family in self._families_of(task_id):
            if family not in self._dropped and family not in self._opaque:
                # Luigi informs a task's status right after checking it: the id is one of the family's latest reprs,
                # and trying only those keeps a family of thousands of instances at a bounded cost per line.
                latest = islice(reversed(self._checked_families[family].values()), _MAX_READINGS)
                found = next((f for parsed in latest if (f := self._learn(parsed, {task_id}.__contains__))), None)
                if found is not None:
                    return family, found[1]
        return None

    def _families_of(self, task_id: str) -> list[str]:
        """The families of Checking reprs that `task_id` starts with (then `_`), in the order they were first seen:
        a family without `_` can only be the id's head (all before its first `_`), looked up at once; the few with
        one are tried one by one (a build has dozens of families; an id's readable part holds many `_`)."""
        head = task_id.partition("_")[0]
        found = [head] if head in self._checked_families else []
        found += [family for family in self._underscored if task_id.startswith(family + "_")]
        if len(found) > 1:
            order = list(self._checked_families)
            found.sort(key=order.index)
        return found

    def find(self, text: str, known: Container[str]) -> tuple[str, dict[str, str]] | None:
        """The id among `known` that a worker line's repr names, with the params that id was made of."""
        found = self._found.get(text)
        if found is not None and found[0] in known:  # Luigi's hash of the repr's params names one of `known`
            task_id, public, parsed = found
            if parsed.family not in self._splits:  # as the full search below would
                self._learn_names(parsed)
            return task_id, public
        parsed = self.parse(text)
        for params in _readings(parsed):
            task_id, public = self._id_of(parsed.family, params)
            if task_id in known:
                if params is parsed.params:
                    # Luigi's hash of this repr's params is one of the build's ids: that is its task for good,
                    # whatever is learned later of its family (the next line of it costs a lookup).
                    self._learn_names(parsed)
                    self._found[text] = task_id, public, parsed
                return task_id, public
        family = parsed.family
        if family not in self._dropped and family not in self._opaque:
            found = self._learn(parsed, known.__contains__)
            if found is not None:
                return found
            self._opaque.add(family)
        same_prefix = self._by_prefix.get(f"{family}_{summary_of(parsed.params)}", [])
        return (same_prefix[0], self._id_of(family, parsed.params)[1]) if len(same_prefix) == 1 else None

    def id_for(self, family: str, params: dict[str, str]) -> str:
        """The id Luigi gives a task of these params (leaving out those this family's ids were found to omit)."""
        return self._id_of(family, params)[0]

    def _id_of(self, family: str, params: dict[str, str]) -> tuple[str, dict[str, str]]:
        dropped = self._dropped.get(family)
        if dropped:
            public = {k: v for k, v in params.items() if k not in dropped}
            return task_id_str(family, public), public
        last = self._last_tail
        if last is None or last[0] is not params:  # params are never changed once split (`parse_repr`)
            last = self._last_tail = (params, _tail_of(params))
        return f"{family}_{last[1]}", params

    def _learn(self, parsed: ParsedRepr, exists: Callable[[str], bool]) -> tuple[str, dict[str, str]] | None:
        """Find which params this family's ids leave out (private, hidden): hash readings with some left out."""
        for params in islice(_readings(parsed), _MAX_READINGS):
            for subset in _subsets(params):
                task_id = task_id_str(parsed.family, subset)
                if exists(task_id):
                    self._dropped[parsed.family] = frozenset(params) - frozenset(subset)
                    for other in self._checked_families.get(parsed.family, {}).values():
                        if other.exact:
                            self._check(other)
                    return task_id, subset
        return None


def _readings(parsed: ParsedRepr) -> Iterator[dict[str, str]]:
    """The params of a repr as split, when that split was clean, then of every regrouping of its parts."""
    if parsed.exact:
        yield parsed.params
    yield from _regroupings(parsed)


def family_of_id(task_id: str, known: Iterable[str] = ()) -> str:
    """The family a task id starts with, for an id no repr has explained yet.

    Ambiguous by construction (a family may hold `_`, a summary always may), so: the longest family already seen
    in this build that the id starts with, else everything before the first `_` (Python class names are CamelCase).
    """
    match = max((f for f in known if task_id.startswith(f + "_")), key=len, default=None)
    if match is not None:
        return match
    head = task_id[: -(_TRUNCATE_HASH + 1)] if re.search(r"_[0-9a-f]{10}$", task_id) else task_id
    return head.split("_", 1)[0] or head
