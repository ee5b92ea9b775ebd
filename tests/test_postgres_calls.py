"""How a repository call leaves the connection it was given (one statement per call).

On an idle connection each call is its own transaction, committed at once, and the connection
is handed back as it came (idle, autocommit off), also after a refused write. Inside the
caller's transaction a refused write undoes only itself: the rows written before it stay, and
nothing is committed until the caller commits.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from pytest_ampdb import migrations, postgres
from pytest_ampdb.errors import AlreadyExistsError
from pytest_ampdb.models import Destination, DestinationType, ProviderApp, ReadState
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


def _idle(conn: psycopg.Connection[Any]) -> None:
    """Each call its own transaction."""


def _in_transaction(conn: psycopg.Connection[Any]) -> None:
    """The caller's transaction, as ``transaction`` isolation opens it."""
    conn.execute("SELECT 1")


@pytest.mark.parametrize("state", [_idle, _in_transaction], ids=["idle", "transaction"])
def test_every_parameter_kind_is_stored_and_read_back_as_psycopg_would(
    conn: psycopg.Connection[Any], state: Any
) -> None:
    state(conn)
    repos = postgres.repositories(conn)
    made = repos.provider_apps.create(
        ProviderApp(
            project_id=PROJECT,
            provider=f"kinds-{uuid.uuid4().hex[:8]}",
            client_id="client",
            client_secret="secret",
            scopes=("read", "write all", 'quo"te', "back\\slash", "", "é"),
            metadata={"nested": {"list": [1, 2.5, None, True, "x"]}, "unicode": "日本"},
        )
    )
    at = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=-5)))
    installation = repos.installations.list(PROJECT, page_size=1).items[0]
    state_row = repos.read_states.upsert(
        ReadState(
            project_id=PROJECT,
            installation_id=installation.id,
            object_name=f"kinds-{uuid.uuid4().hex[:8]}",
            since_time=at,
            records_processed=2**40,
        )
    )
    hook = repos.destinations.create(_destination(f"kinds-{uuid.uuid4().hex[:8]}"))
    assert repos.provider_apps.get_by_id(PROJECT, made.id) == made
    assert repos.read_states.get_by_id(PROJECT, state_row.id) == state_row
    assert repos.destinations.get_by_id(PROJECT, hook.id) == hook
    assert state_row.since_time == at
    assert state_row.records_processed == 2**40
    assert hook.type is DestinationType.WEBHOOK
    stored = conn.execute(
        "SELECT scopes, metadata, id::text FROM provider_apps WHERE id = %s", (made.id,)
    ).fetchone()
    assert stored == (list(made.scopes), made.metadata, made.id)
    kind = conn.execute("SELECT type FROM destinations WHERE id = %s", (hook.id,)).fetchone()
    assert kind == ("webhook",)


def test_calls_go_on_after_the_server_dropped_their_prepared_statements(
    conn: psycopg.Connection[Any],
) -> None:
    repos = postgres.repositories(conn)
    made = repos.destinations.create(_destination(f"hook-{uuid.uuid4().hex[:8]}"))
    assert repos.destinations.get_by_id(PROJECT, made.id) == made  # prepared now
    conn.execute("SELECT 1")  # the caller's transaction
    conn.execute("DEALLOCATE ALL")
    assert repos.destinations.get_by_id(PROJECT, made.id) == made
    assert conn.info.transaction_status == TransactionStatus.INTRANS  # not aborted by the retry
    conn.rollback()
    conn.execute("DEALLOCATE ALL")
    assert repos.destinations.get_by_id(PROJECT, made.id) == made


def test_without_prepared_statements_with_dict_rows_and_inside_the_callers_pipeline(
    dsn: str,
) -> None:
    with psycopg.connect(dsn, prepare_threshold=None, row_factory=dict_row) as unprepared:
        postgres.configure_connection(unprepared)
        repos = postgres.repositories(unprepared)
        made = repos.destinations.create(_destination(f"hook-{uuid.uuid4().hex[:8]}"))
        for _ in range(3):
            assert repos.destinations.get_by_id(PROJECT, made.id) == made
        named = unprepared.execute("SELECT count(*) AS n FROM pg_prepared_statements").fetchone()
        assert named == {"n": 0}
        unprepared.execute("SELECT 1")
        with unprepared.pipeline():
            again = repos.destinations.create(_destination(f"hook-{uuid.uuid4().hex[:8]}"))
            with pytest.raises(AlreadyExistsError):
                repos.destinations.create(_destination(again.name))
        assert repos.destinations.get_by_id(PROJECT, again.id) == again
        assert unprepared.info.transaction_status == TransactionStatus.INTRANS


def test_async_calls_in_the_callers_transaction_undo_only_a_refused_write(dsn: str) -> None:
    name = f"hook-{uuid.uuid4().hex[:8]}"

    async def scenario() -> None:
        async with await psycopg.AsyncConnection.connect(dsn) as aconn:
            await postgres.aconfigure_connection(aconn)
            repos = postgres.async_repositories(aconn)
            await aconn.execute("SELECT 1")  # the caller's transaction
            kept = await repos.destinations.create(_destination(name))
            with pytest.raises(AlreadyExistsError):
                await repos.destinations.create(_destination(name))
            assert await repos.destinations.get_by_id(PROJECT, kept.id) == kept  # prepared
            await aconn.execute("DEALLOCATE ALL")
            assert await repos.destinations.get_by_id(PROJECT, kept.id) == kept
            assert aconn.info.transaction_status == TransactionStatus.INTRANS
            await aconn.rollback()

    asyncio.run(scenario())
    assert name not in _names(dsn)
