"""The house rules a newcomer reads in the README hold in the code: the module map names every module and only
those, no module is over 400 lines, and data flows one way (the parser and the model know nothing of sinks,
Prometheus or OpenTelemetry, the model nothing of routing; sinks never import the wiring above them)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "exporter"
MAX_LINES = 400


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _named(path: Path) -> str:
    """How the map names a module: its path, the demo package as one entry (it is the demo, not the exporter)."""
    relative = path.relative_to(ROOT).as_posix()
    return "exporter/demo/" if relative.startswith("exporter/demo/") else relative


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_readme_module_map_names_every_module_and_only_those() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- modules:start -->", 1)[1].split("<!-- modules:end -->", 1)[0]
    mapped = set(re.findall(r"^(exporter/\S+)", block, flags=re.MULTILINE))
    # A package's __init__ is mapped when it holds code (the Sink protocol), not a docstring or a version only.
    thin = {p for p in _modules() if p.name in ("__init__.py", "__main__.py") and len(p.read_text().splitlines()) < 10}
    actual = {_named(p) for p in _modules() if p not in thin}
    assert mapped == actual, f"missing from the map: {actual - mapped}; in the map, not in the code: {mapped - actual}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_module_is_over_400_lines(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_data_flows_one_way() -> None:
    outward = ("prometheus_client", "opentelemetry", "exporter.sinks", "exporter.pipeline", "exporter.app")
    core = ("model", "transitions", "events", "routing", "book", "resolve", "upstream", "taskid", "lines", "redact")
    parsing = ("parse", "records", "prefilter", "summary_block", "timestamps")
    for name in core + parsing:
        imports = _imports(PACKAGE / f"{name}.py")
        assert not [i for i in imports if i.startswith(outward)], name
    for name in parsing:  # lines in, events out: the parser knows nothing of runs
        assert not [i for i in _imports(PACKAGE / f"{name}.py") if i.startswith(("exporter.model", "exporter.book"))]
    for name in ("model", "transitions", "upstream"):  # the model changes runs; which run is routing's question
        deciding = ("exporter.routing", "exporter.book", "exporter.resolve")
        assert not [i for i in _imports(PACKAGE / f"{name}.py") if i.startswith(deciding)], name
    for sink in (PACKAGE / "sinks").glob("*.py"):
        wiring = ("exporter.pipeline", "exporter.app", "exporter.cli", "exporter.server", "exporter.sources")
        assert not [i for i in _imports(sink) if i.startswith(wiring)], sink.name
