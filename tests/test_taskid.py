"""Task ids recomputed from reprs, against real Luigi task objects (their repr and task_id are Luigi's own)."""

from __future__ import annotations

import luigi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from luigi.parameter import ParameterVisibility

from exporter.book import Book
from exporter.events import Checking, DoneScheduling, Informed, TaskDone, TaskStarted
from exporter.taskid import parse_repr, task_id_str

WORKER = "Worker(salt=1, workers=1, host=h, username=u, pid=1)"


class Plain(luigi.Task):
    name = luigi.Parameter()
    items = luigi.ListParameter(default=[1, "two, three"])
    when = luigi.IntParameter(default=3)


class WithPrivate(luigi.Task):
    name = luigi.Parameter()
    secret = luigi.Parameter(default="s", visibility=ParameterVisibility.PRIVATE)
    hidden = luigi.Parameter(default="h", visibility=ParameterVisibility.HIDDEN)


class Prep(luigi.Task):
    name = luigi.Parameter()


class Prep_Data(luigi.Task):  # a family holding `_`, whose head is another family
    name = luigi.Parameter()


class Prep_Data_v2(luigi.Task):
    secret = luigi.Parameter(default="s", visibility=ParameterVisibility.PRIVATE)
    name = luigi.Parameter()


values = (
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
    | st.text(alphabet=st.characters(max_codepoint=127), max_size=30)  # ids made of ASCII take their own path
    | st.sampled_from(["a, b", "k=v, z=1", 'q"uo"te', "[x]", r"C:\dir\f.txt", "日本語", ", name=x", ")", ""])
)


@given(values)
def test_parse_repr_gives_luigis_id_when_the_repr_is_unambiguous(value: str) -> None:
    task = Plain(name=value)
    parsed = parse_repr(repr(task))
    if parsed.exact and parsed.params == task.to_str_params(only_significant=True, only_public=True):
        assert task_id_str(parsed.family, parsed.params) == task.task_id


@given(
    family=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True),
    params=st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True), values, max_size=6),
)
def test_task_id_str_is_luigis_for_any_params(family: str, params: dict[str, str]) -> None:
    """Any names and values (quotes, backslashes, controls, any script): Luigi's own task_id_str, byte for byte."""
    assert task_id_str(family, params) == luigi.task.task_id_str(family, params)


def _replay_lines(tasks: list[luigi.Task]) -> Book:
    """Feed a Book exactly the facts Luigi logs for a build of these tasks (its own repr and id strings)."""
    book = Book("src", "run")
    events = [Checking(repr=repr(t)) for t in tasks] + [Informed(task_id=t.task_id, status="PENDING") for t in tasks]
    events.append(DoneScheduling())
    for t in tasks:
        events += [
            TaskStarted(pid=2, worker=WORKER, repr=repr(t)),
            TaskDone(pid=2, worker=WORKER, repr=repr(t)),
            Informed(task_id=t.task_id, status="DONE"),
        ]
    for event in events:
        book.apply(event)
    return book


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(values, min_size=1, max_size=6, unique=True), st.booleans())
def test_every_task_of_a_build_is_found_from_its_repr(names: list[str], private: bool) -> None:
    tasks = [WithPrivate(name=n) if private else Plain(name=n) for n in names]
    tasks = list({t.task_id: t for t in tasks}.values())
    (run,) = _replay_lines(tasks).runs
    assert sorted(run.tasks) == sorted(t.task_id for t in tasks)
    for t in tasks:
        task = run.tasks[t.task_id]
        assert task.state.value == "done" and len(task.attempts) == 1
        assert task.params == t.to_str_params(only_significant=True, only_public=True)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from([Prep, Prep_Data, Prep_Data_v2]), values), min_size=1, max_size=8))
def test_families_holding_underscores_and_prefixes_of_each_other(picks: list[tuple[type, str]]) -> None:
    """Ids like `Prep_Data_v2_x_0123456789` start with three families' names: each task is described by its own."""
    tasks = list({t.task_id: t for t in (cls(name=name) for cls, name in picks)}.values())
    (run,) = _replay_lines(tasks).runs
    assert sorted(run.tasks) == sorted(t.task_id for t in tasks)
    for t in tasks:
        assert run.tasks[t.task_id].family == t.task_family
        assert run.tasks[t.task_id].params == t.to_str_params(only_significant=True, only_public=True)
