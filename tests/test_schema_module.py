"""Finding a project's schema module: from the project's folder as pytest finds it, and a module
that fails to import is one line, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.models.declared import schema_tables

FIND = """
from pytest_ampdb.models.declared import schema_tables
print(sorted(schema_tables("shop_schema")) == sorted(__import__("pytest_ampdb.models.tables",
    fromlist=["TABLES"]).TABLES))
"""


def python(*args: str, cwd: Path, env: dict[str, str] | None = None) -> CompletedProcess[str]:
    """A fresh interpreter (a console script, a service) run in ``cwd``."""
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def test_the_ampdb_command_finds_the_schema_module_in_the_projects_folder(
    tmp_path: Path,
) -> None:
    """``ampdb migrate diff --schema shop_schema`` is run from the project's folder, which is
    not on the console script's path (``-P``: as a console script starts)."""
    (tmp_path / "shop_schema.py").write_text("from pytest_ampdb.models.tables import TABLES\n")
    done = python("-P", "-c", FIND, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def test_pytest_run_from_a_subfolder_finds_the_schema_module_the_ini_names(
    tmp_path: Path,
) -> None:
    """``ampdb_schema = "shop_schema"`` in the project's ini, no ``pythonpath`` setting, and
    pytest run from ``tests/`` (an IDE's run, ``cd tests && pytest``): the module is imported
    from the project root, as the ini's relative directories are read from there. It stopped
    the run with ``cannot be imported (No module named 'shop_schema')``."""
    (tmp_path / "shop_schema.py").write_text("from pytest_ampdb.models.tables import TABLES\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\nampdb_schema = shop_schema\n")
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_shop.py").write_text(
        "import shop_schema\n\ndef test_it(ampdb):\n    assert shop_schema.TABLES\n"
    )
    done = python("-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", cwd=tests)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_a_module_that_is_not_in_the_folder_is_still_not_found(tmp_path: Path) -> None:
    done = python("-P", "-c", FIND, cwd=tmp_path)
    assert done.returncode == 1
    assert "schema module shop_schema: cannot be imported (No module named 'shop_schema')" in (
        done.stderr
    )


def test_a_schema_module_that_fails_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_schema.py").write_text("TABLES = {}\nraise RuntimeError('half written')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(AmpdbError) as raised:
        schema_tables("broken_schema")
    assert str(raised.value) == (
        "schema module broken_schema: cannot be imported (RuntimeError: half written)"
    )


SERVICE = """
from billing.schema import Invoice
from pytest_ampdb import database
from pytest_ampdb.seeds import read_seeds

pid = read_seeds().ids.project_id
print([i.amount_cents for i in database.of(Invoice).list(pid).items])
"""


def test_a_service_in_memory_gets_its_own_seeds(tmp_path: Path) -> None:
    """Outside pytest, ``AMPDB_SCHEMA`` and ``AMPDB_SEEDS`` give the memory default the
    project's own tables and rows, as the plugin's settings do under pytest."""
    billing = Path(__file__).resolve().parents[1] / "examples" / "billing"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPDB_")}
    env |= {
        "AMPDB_BACKEND": "memory",
        "AMPDB_SCHEMA": "billing.schema",
        "AMPDB_SEEDS": str(billing / "seed"),
        "PYTHONPATH": str(billing),
    }
    done = python("-c", SERVICE, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[1200]"


def test_a_model_without_the_defaulted_time_column_is_told_which_keyword_named_it() -> None:
    from dataclasses import dataclass

    from pytest_ampdb.models.declared import DeclarationError, extend
    from pytest_ampdb.models.schema import TableSpec

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Note:
        id: str
        project_id: str
        text: str

    with pytest.raises(DeclarationError) as raised:
        extend(tables=[TableSpec(name="notes", model=Note)])
    assert str(raised.value).startswith("notes.create_time: no such field in Note (TableSpec's")
    assert "created_column=None" in str(raised.value)
