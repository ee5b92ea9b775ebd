"""How a repository call leaves the connection it was given (one statement per call).

On an idle connection each call is its own transaction, committed at once, and the connection
is handed back as it came (idle, autocommit off), also after a refused write. Inside the
caller's transaction a refused write undoes only itself: the rows written before it stay, and
nothing is committed until the caller commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.pq import TransactionStatus

from pytest_ampdb import migrations, postgres
from pytest_ampdb.errors import AlreadyExistsError
from pytest_ampdb.models import Destination, DestinationType
from pytest_ampdb.seeds import read_seeds
from pytest_ampdb.seeds.postgres import load_into_postgres

pytestmark = pytest.mark.postgres

PROJECT = read_seeds().ids.project_id


@pytest.fixture
def dsn(fresh_database: str) -> str:
    migrations.apply(fresh_database)
    with psycopg.connect(fresh_database) as conn:
        load_into_postgres(conn, read_seeds())
    return fresh_database


@pytest.fixture
def conn(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    connection = psycopg.connect(dsn)
    postgres.configure_connection(connection)
    try:
        yield connection
    finally:
        connection.close()


def _destination(name: str) -> Destination:
    return Destination(project_id=PROJECT, name=name, type=DestinationType.WEBHOOK)


def _names(dsn: str) -> set[str]:
    """Destination names another connection sees (what is committed)."""
    with psycopg.connect(dsn) as other:
        rows = other.execute("SELECT name FROM destinations WHERE project_id = %s", (PROJECT,))
        return {name for (name,) in rows}


def test_on_an_idle_connection_each_call_commits_and_leaves_it_as_it_was(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    repos = postgres.repositories(conn)
    name = f"hook-{uuid.uuid4().hex[:8]}"
    made = repos.destinations.create(_destination(name))
    assert repos.destinations.get_by_id(PROJECT, made.id) == made
    with pytest.raises(AlreadyExistsError):
        repos.destinations.create(_destination(name))
    assert conn.info.transaction_status == TransactionStatus.IDLE
    assert conn.autocommit is False
    assert name in _names(dsn)  # committed without the caller committing


def test_in_the_callers_transaction_a_refused_write_undoes_only_itself(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    repos = postgres.repositories(conn)
    conn.execute("SELECT 1")  # the caller's transaction
    first, second = (f"hook-{uuid.uuid4().hex[:8]}" for _ in range(2))
    kept = repos.destinations.create(_destination(first))
    with pytest.raises(AlreadyExistsError):
        repos.destinations.create(_destination(first))
    repos.destinations.create(_destination(second))
    assert conn.info.transaction_status == TransactionStatus.INTRANS
    assert repos.destinations.get_by_id(PROJECT, kept.id) == kept
    assert {first, second}.isdisjoint(_names(dsn))  # nothing committed behind the caller
    conn.commit()
    assert {first, second} <= _names(dsn)
