"""``PostgresEngine``: the repositories' storage contract over psycopg 3.

Every engine operation is one statement, so a call costs one round trip (``wire``): outside a
transaction the statement runs as its own transaction; inside a transaction the caller owns
(``transaction`` isolation) it is sent with a savepoint before it and its release after, in the
same round trip, so a refused call leaves the caller's transaction usable. Status moves are one
``UPDATE ... WHERE status = ANY(allowed) RETURNING``, so of two racing moves exactly one matches.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg.pq import ExecStatus, TransactionStatus
from psycopg.rows import tuple_row

from pytest_ampdb.errors import InvalidTransitionError
from pytest_ampdb.models.schema import Row, TableSpec, UniqueKey
from pytest_ampdb.models.tables import TABLES
from pytest_ampdb.postgres import sqlstate, statements, wire
from pytest_ampdb.postgres.convert import (
    beyond_9999,
    models_of,
    order_key_of,
    params,
    row_params,
    rows_of,
)
from pytest_ampdb.postgres.errors import (
    GAVE_UP,
    ConnectionLostError,
    ServerTimeoutError,
    connection_lost,
    reason,
    translate,
)
from pytest_ampdb.postgres.source import ConnectionSource
from pytest_ampdb.postgres.wire import Result
from pytest_ampdb.repositories.bridge import refuse_in_loop

M = TypeVar("M")


class PostgresEngine:
    """Row storage in PostgreSQL (a ``repositories.Engine``).

    ``label`` names the server in a lost-connection error; ``on_lost`` is told when the server
    stops answering or closes the connection, with the error, and returns the message to raise
    (the test backend then fails the remaining tests at once, unless the server is back).
    """

    def __init__(
        self,
        source: ConnectionSource,
        *,
        label: str = "PostgreSQL",
        on_lost: Callable[[str, psycopg.Error], str] = lambda message, cause: message,
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
        found = self._call(spec, row, statements.insert(spec), row_params(spec, row))
        return _one(spec, found)

    def select(
        self,
        spec: TableSpec[Any],
        where: Mapping[str, object],
        *,
        after: Sequence[object] | None = None,
        limit: int | None = None,
    ) -> list[Row]:
        return rows_of(spec)(self._select(spec, where, after, limit))

    def page(
        self,
        spec: TableSpec[M],
        where: Mapping[str, object],
        *,
        after: Sequence[object] | None,
        size: int,
    ) -> tuple[list[M], Row | None]:
        """The models of up to ``size`` rows in list order after ``after``, and the list-order
        columns of the last of them when more rows follow (a ``repositories.Engine`` may offer
        this): built straight from the result rows, with no stored row made for each."""
        rows = self._select(spec, where, after, size + 1)
        last = order_key_of(spec)(rows[size - 1]) if len(rows) > size else None
        return list(map(models_of(spec), rows[:size])), last

    def _select(
        self,
        spec: TableSpec[Any],
        where: Mapping[str, object],
        after: Sequence[object] | None,
        limit: int | None,
    ) -> list[Any]:
        """The result rows (psycopg's tuples) of ``select``."""
        names = tuple(where)
        args = params(spec, names, [where[n] for n in names])
        if after is not None:
            args += params(spec, spec.order_by, list(after))
        if limit is not None:
            args.append(limit)
        query = statements.select(spec, names, after is not None, limit is not None)
        return self._call(spec, where, query, args).rows

    def update(
        self,
        spec: TableSpec[Any],
        where: Mapping[str, object],
        changes: Row,
        *,
        expect: Mapping[str, Collection[object]] | None = None,
    ) -> Row | None:
        names, columns = tuple(where), tuple(changes)
        set_args = params(spec, columns, [changes[c] for c in columns])
        where_args = params(spec, names, [where[n] for n in names])
        if expect:
            return self._update_expecting(spec, where, changes, expect, where_args + set_args)
        query = statements.update(spec, names, columns)
        try:
            rows = rows_of(spec)(
                self._call(spec, {**where, **changes}, query, set_args + where_args).rows
            )
        except psycopg.Error as exc:
            if exc.sqlstate != sqlstate.INVALID_TRANSITION:
                raise
            raise self._invalid_move(spec, where, changes) from None
        return rows[0] if rows else None

    def _update_expecting(
        self,
        spec: TableSpec[Any],
        where: Mapping[str, object],
        changes: Row,
        expect: Mapping[str, Collection[object]],
        args: list[object],
    ) -> Row | None:
        """``update`` with ``expect``: decided on the locked row, in one statement."""
        expected = tuple(expect)
        args += [list(map(str, expect[c])) for c in expected]
        query = statements.update_expecting(spec, tuple(where), tuple(changes), expected)
        found = self._call(spec, {**where, **changes}, query, args).rows
        if not found:
            return None
        moved, *values = found[0]
        (row,) = rows_of(spec)([values])
        if moved:
            return row
        column = next((c for c in expected if row[c] not in expect[c]), None)
        if column is None:  # unmoved, yet allowed: the row changed under a lock we did not hold
            raise AssertionError(f"{spec.name}: the update of an allowed status did not apply")
        raise spec.refused_move(row, column, changes[column])

    def delete(self, spec: TableSpec[Any], where: Mapping[str, object]) -> int:
        names = tuple(where)
        args = params(spec, names, [where[n] for n in names])
        return self._call(spec, where, statements.delete(spec, names), args).rowcount

    def upsert(self, spec: TableSpec[Any], row: Row, key: UniqueKey, update: Sequence[str]) -> Row:
        query = statements.upsert(spec, key.columns, tuple(update))
        return _one(spec, self._call(spec, row, query, row_params(spec, row)))

    def _call(
        self,
        spec: TableSpec[Any],
        row: Mapping[str, object],
        query: bytes,
        args: Sequence[object],
    ) -> Result:
        """One statement on a lent connection (its rows psycopg's tuples); errors translated
        once it is undone."""
        try:
            found = self._io(query, args)
        except psycopg.Error as exc:
            if _pool_closed(exc):  # the service's doing, not the server's
                raise ConnectionLostError(f"{self.label}: {reason(exc)}") from None
            if connection_lost(exc):
                message = self.on_lost(f"{self.label} stopped answering: {reason(exc)}", exc)
                raise ConnectionLostError(message) from None
            if exc.sqlstate in GAVE_UP:
                raise ServerTimeoutError(self.label, spec.name, exc.sqlstate, reason(exc)) from None
            mapped = translate(exc, spec, row, self.tables)
            if mapped is None:
                raise
            raise mapped from None
        return found

    def _io(self, query: bytes, args: Sequence[object]) -> Result:
        """The statement's round trip: the one place the sync and async engines differ."""
        refuse_in_loop(
            "a sync PostgreSQL repository was called inside a running event loop, where it "
            "would block it"
        )
        with self.source.connection() as conn:
            return execute(conn, query, args)

    def _invalid_move(
        self, spec: TableSpec[Any], where: Mapping[str, object], changes: Row
    ) -> InvalidTransitionError:
        """An update the schema's move trigger refused (``update`` without ``expect``)."""
        (column,) = [c for c in spec.transitions if c in changes]
        current = self.select(spec, where, limit=1)
        held = current[0] if current else {**where, column: "?"}
        return spec.refused_move(held, column, changes[column])


def execute(conn: psycopg.Connection[Any], query: bytes, args: Sequence[object]) -> Result:
    """Run one statement in one round trip, atomically, without harming the caller's state
    (``wire.exchange``; inside a pipeline the caller opened, ``_in_pipeline``)."""
    if not wire.usable(conn):
        return _in_pipeline(conn, query, args)
    with conn.lock:
        return conn.wait(wire.exchange(conn, query, args))


def _in_pipeline(conn: psycopg.Connection[Any], query: bytes, args: Sequence[object]) -> Result:
    """``execute`` through psycopg's ``Connection.execute``, for a connection in a pipeline the
    caller opened (its commands queue behind the caller's) or a closed one (psycopg says so)."""
    savepoint = wire.savepointed(conn)
    try:
        with conn.pipeline():
            if savepoint:
                conn.execute(wire.SAVEPOINT)
            cur = conn.cursor(row_factory=tuple_row).execute(query, args)
            if savepoint:
                conn.execute(wire.RELEASE)
    except psycopg.Error:
        if savepoint and conn.info.transaction_status == TransactionStatus.INERROR:
            for undo in wire.UNDO:
                conn.execute(undo)
        raise
    rows: list[Any] = []
    if returns_rows(cur):
        try:
            rows = cur.fetchall()
        except psycopg.DataError:  # a time past 9999 (any other refusal is raised again)
            rows = beyond_9999(conn, cur.pgresult)
    return Result(rows, cur.rowcount)


def returns_rows(cur: psycopg.Cursor[Any] | psycopg.AsyncCursor[Any]) -> bool:
    """Whether the statement gave rows (not ``cur.description``: it builds a Column for each
    column on every access, measured as ~10% of a call)."""
    found = cur.pgresult
    return found is not None and found.status == ExecStatus.TUPLES_OK


def _one(spec: TableSpec[Any], found: Result) -> Row:
    if not found.rows:  # RETURNING always yields the written row
        raise RuntimeError("the statement returned no row")
    return rows_of(spec)(found.rows[:1])[0]


def _pool_closed(exc: psycopg.Error) -> bool:
    """A call on a pool the service closed (``psycopg_pool.PoolClosed``)."""
    from psycopg_pool import PoolClosed

    return isinstance(exc, PoolClosed)
