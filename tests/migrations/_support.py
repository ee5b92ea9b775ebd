"""Helpers and fixtures for the migration tests: directories written on the fly, conformance."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

import pytest_ampdb
from pytest_ampdb.cli import main
from pytest_ampdb.harness.provisioning import LocalCluster
from pytest_ampdb.migrations import write_sum

CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "atlas"
CONFORMANCE_FOLDERS = (
    "ariga__atlas",
    "AnuchitO__atlasgo-db-migration",
    "1995parham-teaching__tinyurl",
)

MakeDir = Callable[..., Path]


def conformance_dir(name: str) -> Path:
    """One conformance folder where it lies, to read only (skips, or fails under CI, if
    absent)."""
    source = CONFORMANCE / name
    if not source.is_dir():
        reason = f"conformance folder {source} is absent"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return source


def conformance_copy(name: str, target: Path) -> Path:
    """A copy of one conformance folder under ``target`` (skips, or fails under CI, if absent)."""
    dest = target / name
    shutil.copytree(conformance_dir(name), dest)
    return dest


@pytest.fixture
def make_dir(tmp_path: Path) -> MakeDir:
    """Write ``{name: sql}`` files into a new directory and hash it like ``atlas migrate hash``."""
    counter = iter(range(1_000_000))

    def make(files: dict[str, str], *, hashed: bool = True, path: Path | None = None) -> Path:
        directory = path or tmp_path / f"migrations_{next(counter)}"
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (directory / name).write_text(text, encoding="utf-8")
        if hashed:
            write_sum(directory)
        return directory

    return make


@pytest.fixture
def other_database(pg_admin_dsn: str, pg_cluster: LocalCluster) -> Iterator[str]:
    """A second empty database (for ``psql -f`` comparisons and concurrent clients)."""
    name = f"o_{uuid.uuid4().hex[:20]}"
    ident = sql.Identifier(name)
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    yield pg_cluster.dsn(name)
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


def query(dsn: str, text: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Run one query on a new connection and return its rows."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(text.encode(), params or None)
        return cur.fetchall() if cur.description is not None else []


def revisions(dsn: str, schema: str = "atlas_schema_revisions") -> list[dict[str, object]]:
    """Every revisions row as a dict, ordered by version."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(
            sql.SQL("SELECT * FROM {}.atlas_schema_revisions ORDER BY version").format(
                sql.Identifier(schema)
            )
        )
        names = [d.name for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def tables(dsn: str) -> list[str]:
    """``schema.table`` of every user table outside the revisions schema."""
    rows = query(
        dsn,
        "SELECT table_schema || '.' || table_name FROM information_schema.tables "
        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema', 'atlas_schema_revisions') "
        "ORDER BY 1",
    )
    return [str(r[0]) for r in rows]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``ampdb <argv>`` in process: exit code, stdout, stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def ampdb_command() -> list[str]:
    """The ``ampdb`` console script, for a subprocess."""
    script = shutil.which("ampdb") or str(Path(sys.executable).parent / "ampdb")
    if os.path.exists(script):
        return [script]
    # Not installed as a console script (no editable install yet): same entry point.
    return [sys.executable, "-c", "import sys; from pytest_ampdb.cli import main; sys.exit(main())"]


def ampdb_env() -> dict[str, str]:
    """The environment of an ``ampdb`` subprocess: this checkout's package first."""
    repo = str(Path(pytest_ampdb.__file__).resolve().parent.parent)
    pythonpath = os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": pythonpath}
