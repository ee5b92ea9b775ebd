"""``PostgresEngine``: the repositories' storage contract over psycopg 3.

Every call runs in ``conn.transaction()``: its own transaction on a pooled connection, or a
savepoint inside the test's transaction on a shared one. Status moves are one
``UPDATE ... WHERE status = ANY(allowed) RETURNING``, so of two racing moves exactly one matches.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from pytest_ampdb.errors import InvalidTransitionError
from pytest_ampdb.models.schema import Row, TableSpec, UniqueKey
from pytest_ampdb.postgres import sqlstate, statements
from pytest_ampdb.postgres.convert import from_db, params, row_params
from pytest_ampdb.postgres.errors import ConnectionLostError, connection_lost, reason, translate
from pytest_ampdb.postgres.source import ConnectionSource


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
    ) -> None:
        self.source = source
        self.label = label
        self.on_lost = on_lost

    def __repr__(self) -> str:
        return f"PostgresEngine({self.source!r})"

    def insert(self, spec: TableSpec[Any], row: Row) -> Row:
        with self._call(spec, row) as conn:
            cur = conn.execute(statements.insert(spec), row_params(spec, row))
            return from_db(spec, _one(cur))

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
        with self._call(spec, where) as conn:
            return [from_db(spec, r) for r in conn.execute(query, args).fetchall()]

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
            with self._call(spec, {**where, **changes}) as conn:
                found = conn.execute(query, args).fetchone()
        except psycopg.Error as exc:
            if exc.sqlstate != sqlstate.INVALID_TRANSITION:
                raise
            raise self._invalid_move(spec, where, changes) from None
        return from_db(spec, found) if found is not None else None

    def delete(self, spec: TableSpec[Any], where: Mapping[str, object]) -> int:
        names = tuple(where)
        with self._call(spec, where) as conn:
            cur = conn.execute(
                statements.delete(spec, names), params(spec, names, [where[n] for n in names])
            )
            return cur.rowcount

    def upsert(self, spec: TableSpec[Any], row: Row, key: UniqueKey, update: Sequence[str]) -> Row:
        query = statements.upsert(spec, key.columns, tuple(update))
        with self._call(spec, row) as conn:
            return from_db(spec, _one(conn.execute(query, row_params(spec, row))))

    @contextmanager
    def _call(
        self, spec: TableSpec[Any], row: Mapping[str, object]
    ) -> Iterator[psycopg.Connection[Any]]:
        """One call: a transaction (or savepoint), errors translated after it is rolled back."""
        try:
            with self.source.connection() as conn, conn.transaction():
                yield conn
        except psycopg.Error as exc:
            if connection_lost(exc):
                message = f"{self.label} stopped answering: {reason(exc)}"
                self.on_lost(message)
                raise ConnectionLostError(message) from None
            mapped = translate(exc, spec, row)
            if mapped is None:
                raise
            raise mapped from None

    def _invalid_move(
        self, spec: TableSpec[Any], where: Mapping[str, object], changes: Row
    ) -> InvalidTransitionError:
        (column,) = [c for c in spec.transitions if c in changes]
        current = self.select(spec, where, limit=1)
        before = current[0][column] if current else "?"
        key = f"{spec.primary_key}={where[spec.primary_key]}"
        return InvalidTransitionError(spec.name, key, str(before), str(changes[column]))


def _one(cur: psycopg.Cursor[Any]) -> Sequence[Any]:
    found: Sequence[Any] | None = cur.fetchone()
    if found is None:  # RETURNING always yields the written row
        raise RuntimeError("the statement returned no row")
    return found
