"""The two layers: the data layer never imports the test harness, and nothing imports in a cycle.

The graph is read from the source (every ``import`` and ``from ... import`` statement, module
level and inside functions alike), so a lazy import cannot hide an edge. The harness is
``pytest_ampdb/harness/`` plus the public names that lead into it (``pytest_ampdb.plugin``, the
pytest11 entry point; ``pytest_ampdb.mock``; ``pytest_ampdb.factories``); everything else under
``pytest_ampdb/`` is the data layer. A production import is checked in a fresh interpreter.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pytest_ampdb"
HARNESS_ENTRIES = {"pytest_ampdb.plugin", "pytest_ampdb.mock", "pytest_ampdb.factories"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def is_harness(module: str) -> bool:
    return module.startswith("pytest_ampdb.harness") or module in HARNESS_ENTRIES


def _known(name: str) -> str | None:
    """The project module ``name`` lives in (a name imported from a module is that module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> Iterator[str]:
    """Every project module ``module`` imports, wherever in the file the statement is."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            found = _known(target) if target.startswith("pytest_ampdb") else None
            if found is not None and found != module:
                yield found


GRAPH = {module: sorted(set(imports_of(module))) for module in MODULES}


def test_the_graph_sees_function_level_imports() -> None:
    # run.py starts the test backends through imports inside a function
    assert "pytest_ampdb.harness.backends.postgres" in GRAPH["pytest_ampdb.harness.run"]


def test_no_data_layer_module_imports_the_harness() -> None:
    crossing = [
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if not is_harness(module)
        for target in targets
        if is_harness(target)
    ]
    assert crossing == []


def test_no_import_cycles() -> None:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in GRAPH[module]:
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in GRAPH:
        if module not in state:
            visit(module)
    assert [" -> ".join(cycle) for cycle in cycles] == []


PRODUCTION_IMPORT = """
import atexit, json, signal, sys
import psycopg, psycopg_pool  # the reference: logging registers its own atexit hook here
hooks = atexit._ncallbacks()
handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
from pytest_ampdb import database, postgres
pool = postgres.connect("postgresql://nobody@127.0.0.1:1/none", open=False)
with database.use(postgres.repositories(pool)):
    database.connections()
print(json.dumps({
    "modules": sorted(sys.modules),
    "atexit": atexit._ncallbacks() - hooks,
    "signals": [s.name for s, h in handlers.items() if signal.getsignal(s) is not h],
}))
"""
TEST_TOOLS = ("pytest", "_pytest", "testcontainers", "docker", "factory", "faker", "filelock")


@pytest.fixture(scope="module")
def production_import() -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", PRODUCTION_IMPORT], check=True, capture_output=True, text=True
    ).stdout
    loaded: dict[str, object] = json.loads(out)
    return loaded


def test_a_production_import_loads_no_test_tool_and_no_harness(
    production_import: dict[str, object],
) -> None:
    modules = production_import["modules"]
    assert isinstance(modules, list)
    assert [m for m in modules if m.split(".")[0] in TEST_TOOLS] == []
    assert [
        m
        for m in modules
        if is_harness(m) or m.startswith(("pytest_ampdb.preview", "pytest_ampdb.harness"))
    ] == []


def test_a_production_import_registers_no_exit_or_signal_handler(
    production_import: dict[str, object],
) -> None:
    assert production_import["atexit"] == 0
    assert production_import["signals"] == []


def test_a_sync_service_does_not_load_the_async_bridge(
    production_import: dict[str, object],
) -> None:
    """greenlet drives async repositories only; a sync service's import does without it."""
    modules = production_import["modules"]
    assert isinstance(modules, list)
    assert "greenlet" not in modules
