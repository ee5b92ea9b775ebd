"""``ampdb migrate diff``: the declarations, compared with what a directory builds, become a file.

Real PostgreSQL 15: the packaged history, cut at each file in turn and completed by ``migrate
diff``, builds exactly the catalog the full history builds; an own schema evolves through
added, changed and dropped tables and columns, the lossy steps marked.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pytest_ampdb import migrations
from pytest_ampdb.cli import main
from pytest_ampdb.migrations.catalog import Schema, read_schema
from pytest_ampdb.migrations.schemadiff import SYNCED

pytestmark = pytest.mark.postgres

PACKAGED = Path(__file__).resolve().parents[2] / "schema" / "migrations"
FILES = sorted(p.name for p in PACKAGED.glob("*.sql"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``ampdb argv...`` in-process; (exit status, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def schema_of(dsn: str) -> Schema:
    with psycopg.connect(dsn) as conn:
        return read_schema(conn)


@pytest.fixture(scope="module")
def full_history(migrated_dsn: str) -> Schema:
    """The catalog the whole packaged directory builds."""
    return schema_of(migrated_dsn)


def new_files(directory: Path, before: set[str]) -> list[Path]:
    return sorted(p for p in directory.glob("*.sql") if p.name not in before)


def test_unchanged_packaged_schema_writes_nothing(
    tmp_path: Path, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(PACKAGED, directory)
    before = sorted(p.name for p in directory.iterdir())
    code, out, err = run(
        capsys, "migrate", "diff", "--dir", str(directory), "--dev-url", fresh_database, "x"
    )
    assert (code, out, err) == (0, SYNCED + "\n", "")
    assert sorted(p.name for p in directory.iterdir()) == before


@pytest.mark.parametrize("cut", list(reversed(range(len(FILES)))), ids=lambda k: FILES[k])
def test_round_trip_rebuilds_the_full_catalog(
    cut: int,
    tmp_path: Path,
    fresh_database: str,
    other_database: str,
    full_history: Schema,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Files cut..last removed, ``migrate diff`` writes one file; applying the directory gives
    the catalog of the full history (columns, keys, references, checks, indexes, triggers,
    functions, as PostgreSQL describes them)."""
    directory = tmp_path / "migrations"
    directory.mkdir()
    for name in FILES[:cut]:
        shutil.copy(PACKAGED / name, directory / name)
    migrations.write_sum(directory)
    kept = {p.name for p in directory.glob("*.sql")}
    code, out, err = run(
        capsys, "migrate", "diff", "--dir", str(directory), "--dev-url", fresh_database, "back"
    )
    assert code == 0, err
    [written] = new_files(directory, kept)
    assert out == f"{written}\n"
    assert written.name.endswith("_back.sql")
    migrations.validate_dir(directory)
    migrations.apply(other_database, directory)
    assert schema_of(other_database) == full_history
    assert schema_of(fresh_database) == Schema({}, {})  # the dev database is left as it was


SCHEMA_V1 = """
from dataclasses import dataclass
from datetime import datetime
from pytest_ampdb.models.columns import Id
from pytest_ampdb.models.schema import TableSpec

@dataclass(frozen=True)
class Widget:
    id: Id
    name: str
    size: int
    create_time: datetime | None = None
    update_time: datetime | None = None

TABLES = {"widgets": TableSpec(name="widgets", model=Widget, scope=None)}
"""

SCHEMA_V2 = """
from dataclasses import dataclass
from datetime import datetime
from pytest_ampdb.models.columns import Id
from pytest_ampdb.models.schema import Check, ForeignKey, OnDelete, TableSpec

@dataclass(frozen=True)
class Widget:
    id: Id
    name: int
    color: str | None
    create_time: datetime | None = None
    update_time: datetime | None = None

@dataclass(frozen=True)
class Gadget:
    id: Id
    widget_id: Id
    label: str
    create_time: datetime | None = None
    update_time: datetime | None = None

TABLES = {
    "widgets": TableSpec(name="widgets", model=Widget, scope=None),
    "gadgets": TableSpec(
        name="gadgets",
        model=Gadget,
        scope=None,
        foreign_keys=(
            ForeignKey("gadgets_widget_id_fkey", "widget_id", "widgets", OnDelete.CASCADE),
        ),
        checks=(Check("gadgets_label_check", "label", bool, "must not be empty", "label <> ''"),),
        indexes=(("widget_id",),),
    ),
}
"""


def write_module(root: Path, name: str, text: str) -> str:
    (root / f"{name}.py").write_text(textwrap.dedent(text), encoding="utf-8")
    return name


@pytest.fixture
def schema_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "schemas"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in [m for m in sys.modules if m.startswith("diff_schema_")]:
        del sys.modules[name]


def test_an_own_schema_evolves_and_lossy_steps_are_marked(
    tmp_path: Path,
    schema_root: Path,
    fresh_database: str,
    other_database: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    v1 = write_module(schema_root, "diff_schema_v1", SCHEMA_V1)
    v2 = write_module(schema_root, "diff_schema_v2", SCHEMA_V2)
    directory = tmp_path / "migrations"
    directory.mkdir()

    def diff(module: str, name: str) -> tuple[int, str, str]:
        args = ["migrate", "diff", "--dir", str(directory), "--dev-url", fresh_database]
        return run(capsys, *args, "--to", module, name)

    code, out, err = diff(v1, "init")
    assert (code, err) == (0, "")
    [first] = new_files(directory, set())
    assert 'CREATE TABLE "widgets"' in first.read_text()
    assert "DESTRUCTIVE" not in first.read_text()
    assert diff(v1, "again") == (0, SYNCED + "\n", "")
    # a file edited by hand and re-hashed: nothing to add, the snapshot rewritten, and said
    first.write_text(first.read_text() + "-- reviewed\n")
    migrations.write_sum(directory)
    snapshot = directory / "ampdb.schema.json"
    assert diff(v1, "again") == (
        0,
        SYNCED + "\n",
        f"ampdb: note: wrote {snapshot}: the schema these migration files build (they changed "
        "since it was written); commit it with them\n",
    )

    code, out, err = diff(v2, "grow")
    assert out.strip().endswith("_grow.sql")
    assert code == 0, err
    [second] = new_files(directory, {first.name})
    text = second.read_text()
    assert 'CREATE TABLE "gadgets"' in text
    assert 'ADD COLUMN "color" text NULL' in text
    assert "ON DELETE CASCADE" in text
    assert text.count("-- DESTRUCTIVE:") == 1  # one ALTER TABLE: the drop and the type change
    assert err.splitlines() == [
        f'ampdb: warning: {second.name}: drops column "widgets"."size" and its data; '
        'changes the type of "widgets"."name" from text to bigint (values may not fit)'
    ]
    migrations.validate_dir(directory)
    migrations.apply(other_database, directory)
    assert diff(v2, "again") == (0, SYNCED + "\n", "")

    code, _out, err = diff(v1, "shrink")  # back to v1: gadgets dropped, marked
    [third] = new_files(directory, {first.name, second.name})
    assert 'DROP TABLE "gadgets"' in third.read_text()
    assert f'ampdb: warning: {third.name}: drops table "gadgets" and all its rows' in err
    migrations.apply(other_database, directory)
    assert set(schema_of(other_database).tables) == {"widgets"}


def test_bad_schema_module_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "migrations"
    directory.mkdir()
    code, _out, err = run(
        capsys, "migrate", "diff", "--dir", str(directory), "--to", "no_such_schema_mod", "x"
    )
    assert code != 0
    assert err.startswith("ampdb: error: schema module no_such_schema_mod: cannot be imported")
    assert len(err.splitlines()) == 1
    assert list(directory.iterdir()) == []
