"""``PostgresEngine``: the repositories' storage contract over psycopg 3.

Every engine operation is one statement, so a call costs one round trip: outside a transaction
the statement runs in autocommit, as its own transaction; inside a transaction the caller owns
(``transaction`` isolation) a read runs as it is, and a write is sent in one pipeline with a
savepoint before it and its release after, so a refused write leaves the caller's transaction
usable. Status moves are one ``UPDATE ... WHERE status = ANY(allowed) RETURNING``, so of two
racing moves exactly one matches.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, NamedTuple

import psycopg
from psycopg.pq import ExecStatus, TransactionStatus

from pytest_ampdb.errors import InvalidTransitionError
from pytest_ampdb.models.schema import Row, TableSpec, UniqueKey
from pytest_ampdb.models.tables import TABLES
from pytest_ampdb.postgres import sqlstate, statements
from pytest_ampdb.postgres.convert import from_db, params, row_params
from pytest_ampdb.postgres.errors import (
    GAVE_UP,
    ConnectionLostError,
    ServerTimeoutError,
    connection_lost,
    reason,
    translate,
)
from pytest_ampdb.postgres.source import ConnectionSource
from pytest_ampdb.repositories.bridge import EventLoopError, in_bridge, running_loop


class PostgresEngine:
    """Row storage in PostgreSQL (a ``repositories.Engine``).

    ``label`` names the server in a lost-connection error; ``on_lost`` is told when the server
    stops answering (the test backend then fails the remaining tests at once).
    """

    def __init__(
        self,
        source: ConnectionSource,
        *,
        label: str = "PostgreSQL",
        on_lost: Callable[[str], None] = lambda message: None,
        tables: Mapping[str, TableSpec[Any]] = TABLES,
    ) -> None:
        self.source = source
        self.label = label
        self.on_lost = on_lost
        self.tables = tables
        """The declared schema: a violated constraint is looked up in it."""

    def __repr__(self) -> str:
        return f"PostgresEngine({self.source!r})"

    def insert(self, spec: TableSpec[Any], row: Row) -> Row:
        found = self._call(spec, row, statements.insert(spec), row_params(spec, row), write=True)
        return from_db(spec, _one(found))

    def select(
        self,
        spec: TableSpec[Any],
        where: Mapping[str, object],
        *,
        after: Sequence[object] | None = None,
        limit: int | None = None,
    ) -> list[Row]:
        names = tuple(where)
        args = params(spec, names, [where[n] for n in names])
        if after is not None:
            args += params(spec, spec.order_by, list(after))
        if limit is not None:
            args.append(limit)
        query = statements.select(spec, names, after is not None, limit is not None)
        found = self._call(spec, where, query, args, write=False)
        return [from_db(spec, r) for r in found.rows]

    def update(
        self,
        spec: TableSpec[Any],
        where: Mapping[str, object],
        changes: Row,
        *,
        expect: Mapping[str, Collection[object]] | None = None,
    ) -> Row | None:
        names, columns = tuple(where), tuple(changes)
        expected = tuple(expect or ())
        args = params(spec, columns, [changes[c] for c in columns])
        args += params(spec, names, [where[n] for n in names])
        args += [list(map(str, (expect or {})[c])) for c in expected]
        query = statements.update(spec, names, columns, expected)
        try:
            rows = self._call(spec, {**where, **changes}, query, args, write=True).rows
        except psycopg.Error as exc:
            if exc.sqlstate != sqlstate.INVALID_TRANSITION:
                raise
            raise self._invalid_move(spec, where, changes) from None
        return from_db(spec, rows[0]) if rows else None

    def delete(self, spec: TableSpec[Any], where: Mapping[str, object]) -> int:
        names = tuple(where)
        args = params(spec, names, [where[n] for n in names])
        return self._call(spec, where, statements.delete(spec, names), args, write=True).rowcount

    def upsert(self, spec: TableSpec[Any], row: Row, key: UniqueKey, update: Sequence[str]) -> Row:
        query = statements.upsert(spec, key.columns, tuple(update))
        return from_db(spec, _one(self._call(spec, row, query, row_params(spec, row), write=True)))

    def _call(
        self,
        spec: TableSpec[Any],
        row: Mapping[str, object],
        query: bytes,
        args: Sequence[object],
        *,
        write: bool,
    ) -> Result:
        """One statement on a lent connection; errors translated once it is undone."""
        try:
            return self._io(query, args, write)
        except psycopg.Error as exc:
            if connection_lost(exc):
                message = f"{self.label} stopped answering: {reason(exc)}"
                self.on_lost(message)
                raise ConnectionLostError(message) from None
            if exc.sqlstate in GAVE_UP:
                raise ServerTimeoutError(self.label, spec.name, exc.sqlstate, reason(exc)) from None
            mapped = translate(exc, spec, row, self.tables)
            if mapped is None:
                raise
            raise mapped from None

    def _io(self, query: bytes, args: Sequence[object], write: bool) -> Result:
        """The statement's round trip: the one place the sync and async engines differ."""
        if running_loop() is not None and not in_bridge():
            raise EventLoopError(
                "a sync PostgreSQL repository was called inside a running event loop, where it "
                "would block it: use the async repositories (ampdb_async, "
                "pytest_ampdb.async_database, postgres.async_repositories; factories: "
                "await Factory.acreate(...)) from async code"
            )
        with self.source.connection() as conn:
            return result(execute(conn, query, args, write=write))

    def _invalid_move(
        self, spec: TableSpec[Any], where: Mapping[str, object], changes: Row
    ) -> InvalidTransitionError:
        (column,) = [c for c in spec.transitions if c in changes]
        current = self.select(spec, where, limit=1)
        before = current[0][column] if current else "?"
        key = f"{spec.primary_key}={where[spec.primary_key]}"
        return InvalidTransitionError(spec.name, key, str(before), str(changes[column]))


class Mode(enum.Enum):
    """How one statement runs on a connection in a given state (``call_mode``)."""

    OWN = "its own transaction"
    BARE = "as it is"
    SAVEPOINT = "pipelined in a savepoint"


def call_mode(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any], *, write: bool) -> Mode:
    """How ``execute`` (and its async twin) runs a statement on ``conn`` as it is now."""
    status = conn.info.transaction_status
    if status == TransactionStatus.IDLE and not conn.autocommit:
        return Mode.OWN
    if not write or status != TransactionStatus.INTRANS:
        return Mode.BARE
    return Mode.SAVEPOINT


SAVEPOINT = b"SAVEPOINT ampdb_call"
RELEASE = b"RELEASE SAVEPOINT ampdb_call"
UNDO = b"ROLLBACK TO SAVEPOINT ampdb_call; RELEASE SAVEPOINT ampdb_call"


def execute(
    conn: psycopg.Connection[Any], query: bytes, args: Sequence[object], *, write: bool
) -> psycopg.Cursor[Any]:
    """Run one statement in one round trip, atomically, without harming the caller's state.

    Idle, the statement is its own transaction (autocommit for the call: no BEGIN and COMMIT
    round trips). In the caller's transaction a read is sent bare (if it fails, the transaction
    is aborted, as by the same SELECT sent by hand), and a write is pipelined between a
    savepoint and its release; if it fails, the savepoint is rolled back (a second round trip,
    on errors only) so the caller's transaction goes on.
    """
    mode = call_mode(conn, write=write)
    if mode is Mode.OWN:
        conn.autocommit = True
        try:
            return conn.execute(query, args)
        finally:
            if conn.info.transaction_status == TransactionStatus.IDLE:
                conn.autocommit = False
    if mode is Mode.BARE:
        return conn.execute(query, args)
    try:
        with conn.pipeline():
            conn.execute(SAVEPOINT)
            cur = conn.execute(query, args)
            conn.execute(RELEASE)
    except psycopg.Error:
        if conn.info.transaction_status == TransactionStatus.INERROR:
            conn.execute(UNDO)
        raise
    return cur


class Result(NamedTuple):
    """What a statement gave back: its rows (all fetched) and how many rows it touched."""

    rows: list[Sequence[Any]]
    rowcount: int


def result(cur: psycopg.Cursor[Any]) -> Result:
    """The rows of a statement just executed (psycopg has them on the client already)."""
    return Result(cur.fetchall() if returns_rows(cur) else [], cur.rowcount)


def returns_rows(cur: psycopg.Cursor[Any] | psycopg.AsyncCursor[Any]) -> bool:
    """Whether the statement gave rows (not ``cur.description``: it builds a Column for each
    column on every access, measured as ~10% of a call)."""
    found = cur.pgresult
    return found is not None and found.status == ExecStatus.TUPLES_OK


def _one(found: Result) -> Sequence[Any]:
    if not found.rows:  # RETURNING always yields the written row
        raise RuntimeError("the statement returned no row")
    return found.rows[0]
