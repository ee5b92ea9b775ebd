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
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

import psycopg
import pytest
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq import ExecStatus, Format, PipelineStatus, TransactionStatus
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from pytest_ampdb import migrations, postgres
from pytest_ampdb.errors import AlreadyExistsError
from pytest_ampdb.models import Destination, DestinationType, ProviderApp, ReadState
from pytest_ampdb.postgres import convert, wire
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


def test_calls_follow_a_change_of_the_client_encoding(conn: psycopg.Connection[Any]) -> None:
    repos = postgres.repositories(conn)
    before = repos.destinations.create(_destination(f"café-{uuid.uuid4().hex[:8]}"))
    conn.execute("SET client_encoding TO 'LATIN1'")
    conn.commit()
    after = repos.destinations.create(_destination(f"café-{uuid.uuid4().hex[:8]}"))
    assert repos.destinations.get_by_id(PROJECT, before.id).name == before.name
    assert repos.destinations.get_by_id(PROJECT, after.id).name == after.name
    stored = conn.execute("SELECT name FROM destinations WHERE id = %s", (after.id,)).fetchone()
    assert stored == (after.name,)


def test_a_write_whose_release_the_server_dropped_is_undone_and_sent_once_more(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    repos = postgres.repositories(conn)
    conn.execute("SELECT 1")  # the caller's transaction
    repos.provider_apps.list(PROJECT, page_size=1)  # RELEASE is prepared now
    conn.execute("DEALLOCATE ALL")
    name = f"hook-{uuid.uuid4().hex[:8]}"
    made = repos.destinations.create(_destination(name))  # its INSERT new, its RELEASE gone
    assert conn.info.transaction_status == TransactionStatus.INTRANS
    assert repos.destinations.list(PROJECT, page_size=1000).items.count(made) == 1
    assert name not in _names(dsn)
    conn.commit()
    assert name in _names(dsn)


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


def test_the_psycopg_internals_wire_drives_behave_as_it_relies_on(
    conn: psycopg.Connection[Any],
) -> None:
    """``wire`` drives psycopg below its public API (pinned to one minor series in
    pyproject.toml): each piece it uses is exercised here, so an upgrade that changes one fails
    here by name rather than somewhere inside a repository call."""
    # Transformer: dumps parameters (their oids and formats) and loads a result's rows as tuples
    tx = Transformer.from_context(conn)
    made = uuid.uuid4()
    at = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    args = [str(made), made, Jsonb({"a": [1]}), ["x", "y"], at, 7]
    dumped = tx.dump_sequence(args, [PyFormat.AUTO] * len(args))
    assert len(dumped) == len(args) == len(tx.types) == len(tx.formats)
    assert tx.types[1] == psycopg.postgres.types["uuid"].oid
    assert tx.types[2] == psycopg.postgres.types["jsonb"].oid
    query = b"SELECT $1::text, $2::uuid, $3::jsonb, $4::text[], $5::timestamptz, $6::int8"
    # one libpq pipeline driven by psycopg.generators' send/fetch_many, run by Connection.wait
    pgconn = conn.pgconn
    with conn.lock:
        sends = [
            partial(pgconn.send_prepare, b"ampdb_probe", query, tx.types),
            partial(pgconn.send_query_prepared, b"ampdb_probe", dumped, tx.formats),
            partial(pgconn.send_query_params, b"SELECT 1/0", None),
        ]
        replies = conn.wait(wire._round_trip(pgconn, sends))
    assert pgconn.pipeline_status == PipelineStatus.OFF
    assert [[r.status for r in reply] for reply in replies] == [
        [ExecStatus.COMMAND_OK],
        [ExecStatus.TUPLES_OK],
        [ExecStatus.FATAL_ERROR],
    ]
    (found,) = replies[1]
    tx.set_pgresult(found)
    assert tx.load_rows(0, found.ntuples, tuple) == [
        (str(made), str(made), {"a": [1]}, ["x", "y"], at, 7)  # uuid as text: our loader
    ]
    error = psycopg.errors.error_from_result(wire._failure(replies), encoding=conn.info.encoding)
    assert isinstance(error, psycopg.errors.DivisionByZero)
    # the loaders configure_connection registers: psycopg's C ones where psycopg_binary is in
    oid = psycopg.postgres.types["uuid"].oid
    assert conn.adapters.get_loader(oid, Format.TEXT).__module__ == "psycopg_binary._psycopg"
    # psycopg's timestamptz loader refuses a time past 9999 in UTC (convert.beyond_9999 then
    # reads the result again): DataError, not a value of its own
    past = conn.execute("SELECT '9999-12-31 23:30-05'::timestamptz").pgresult
    assert past is not None
    tx.set_pgresult(past)
    with pytest.raises(psycopg.DataError):
        tx.load_rows(0, 1, tuple)
    assert convert.beyond_9999(conn, past) == [
        (datetime(9999, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5))),)
    ]
    conn.rollback()


def test_async_connection_wait_runs_the_same_round_trip(dsn: str) -> None:
    """``AsyncConnection.wait`` runs ``wire``'s generators as ``Connection.wait`` does."""

    async def scenario() -> list[list[Any]]:
        async with await psycopg.AsyncConnection.connect(dsn) as aconn:
            pgconn = aconn.pgconn
            async with aconn.lock:
                sends = [partial(pgconn.send_query_params, b"SELECT 41 + 1", None)]
                replies: list[list[Any]] = await aconn.wait(wire._round_trip(pgconn, sends))
            assert pgconn.pipeline_status == PipelineStatus.OFF
            return replies

    ((found,),) = asyncio.run(scenario())
    assert found.status == ExecStatus.TUPLES_OK
    assert found.get_value(0, 0) == b"42"
