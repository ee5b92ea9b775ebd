"""Helpers and fixtures of the preview tests: the shared server, cleanup, a migrations copy."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pytest_ampdb.paths import migrations_dir


def _pr_databases(admin_dsn: str) -> set[str]:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'pr-%'")
        return {str(r[0]) for r in rows.fetchall()}


@pytest.fixture
def server(pg_admin_dsn: str) -> Iterator[str]:
    """The "shared server": the cluster's maintenance database URL.

    Every ``pr-*`` database that appears during the test (preview or not) is dropped at the
    end, so each test cleans up whatever it made, whatever happened.
    """
    before = _pr_databases(pg_admin_dsn)
    yield pg_admin_dsn
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        for name in sorted(_pr_databases(pg_admin_dsn) - before):
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    """A copy of the packaged migrations (the twelve tables) that a test may add to or edit."""
    target = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), target)
    return target


def query(dsn: str, text: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Run one query on a new connection and return its rows."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(text.encode(), params or None)
        return cur.fetchall() if cur.description is not None else []


def comment_of(admin_dsn: str, name: str) -> str | None:
    """The database comment of ``name`` (None without one, or when it does not exist)."""
    rows = query(
        admin_dsn,
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
        (name,),
    )
    return None if not rows or rows[0][0] is None else str(rows[0][0])


def exists(admin_dsn: str, name: str) -> bool:
    """Whether the database ``name`` exists on the server."""
    return bool(query(admin_dsn, "SELECT 1 FROM pg_database WHERE datname = %s", (name,)))


def count(dsn: str, table: str) -> int:
    """The number of rows in ``table`` of the database at ``dsn``."""
    rows = query(dsn, f"SELECT count(*) FROM {table}")
    return int(str(rows[0][0]))
