"""SQL for every engine operation, composed from a ``TableSpec`` (never by string pasting).

One function per operation shape serves all twelve tables; each statement is composed once and
cached as the bytes psycopg sends (a ``Composed`` would be rendered again at every execute), so
a repository call costs one dictionary lookup before psycopg executes (and, after a few calls,
prepares) the statement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache, wraps
from typing import Any, ParamSpec

from psycopg import sql

from pytest_ampdb.models.schema import TableSpec

P = ParamSpec("P")


def _rendered(compose: Callable[P, sql.Composable]) -> Callable[P, bytes]:
    """Compose once per set of arguments; hand out the statement's bytes."""

    @cache
    def render(*args: Any) -> bytes:
        return compose(*args).as_bytes(None)  # type: ignore[call-arg]

    @wraps(compose)
    def cached(*args: P.args, **kwargs: P.kwargs) -> bytes:
        return render(*args)

    return cached


def _columns(spec: TableSpec[Any]) -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, spec.column_names))


def _conditions(names: Sequence[str]) -> sql.Composable:
    parts = [sql.SQL("{} = %s").format(sql.Identifier(n)) for n in names]
    return sql.SQL(" AND ").join(parts) if parts else sql.SQL("TRUE")


@_rendered
def insert(spec: TableSpec[Any]) -> sql.Composed:
    return sql.SQL("{} RETURNING {}").format(_insert_values(spec), _columns(spec))


@_rendered
def select(spec: TableSpec[Any], where: tuple[str, ...], after: bool, limit: bool) -> sql.Composed:
    order = sql.SQL(", ").join(map(sql.Identifier, spec.order_by))
    condition = _conditions(where)
    if after:
        placeholders = sql.SQL(", ").join(sql.Placeholder() * len(spec.order_by))
        condition = sql.SQL("{} AND ({}) > ({})").format(condition, order, placeholders)
    return sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {}{}").format(
        _columns(spec),
        sql.Identifier(spec.name),
        condition,
        order,
        sql.SQL(" LIMIT %s") if limit else sql.SQL(""),
    )


def _assignments(changes: Sequence[str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in changes)


@_rendered
def update(spec: TableSpec[Any], where: tuple[str, ...], changes: tuple[str, ...]) -> sql.Composed:
    return sql.SQL("UPDATE {} SET {} WHERE {} RETURNING {}").format(
        sql.Identifier(spec.name), _assignments(changes), _conditions(where), _columns(spec)
    )


@_rendered
def update_expecting(
    spec: TableSpec[Any], where: tuple[str, ...], changes: tuple[str, ...], expect: tuple[str, ...]
) -> sql.Composed:
    """``update`` of the row only when each ``expect`` column holds one of its values (its
    parameters: ``where``'s, ``changes``', then one array per ``expect`` column). The row is
    locked first and the values are checked on that locked row, so the answer, a leading
    ``moved`` flag and the row's columns, is the row as written, or as it was when refused,
    whatever other sessions move meanwhile; no row: nothing matched ``where``."""
    table, pk = sql.Identifier(spec.name), sql.Identifier(spec.primary_key)
    columns = sql.SQL(", ").join(
        sql.SQL("target.{}").format(sql.Identifier(c)) for c in spec.column_names
    )
    allowed = sql.SQL(" AND ").join(
        sql.SQL("held.{} = ANY(%s)").format(sql.Identifier(c)) for c in expect
    )
    return sql.SQL(
        "WITH held AS (SELECT {columns} FROM {table} WHERE {where} FOR NO KEY UPDATE), "
        "moved AS (UPDATE {table} AS target SET {set} FROM held "
        "WHERE target.{pk} = held.{pk} AND {allowed} RETURNING {returned}) "
        "SELECT TRUE, * FROM moved "
        "UNION ALL SELECT FALSE, * FROM held WHERE NOT EXISTS (SELECT FROM moved)"
    ).format(
        columns=_columns(spec),
        table=table,
        where=_conditions(where),
        set=_assignments(changes),
        pk=pk,
        allowed=allowed,
        returned=columns,
    )


@_rendered
def delete(spec: TableSpec[Any], where: tuple[str, ...]) -> sql.Composed:
    return sql.SQL("DELETE FROM {} WHERE {}").format(sql.Identifier(spec.name), _conditions(where))


@_rendered
def upsert(
    spec: TableSpec[Any], key: tuple[str, ...], update_columns: tuple[str, ...]
) -> sql.Composed:
    assignments = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in update_columns
    )
    return sql.SQL("{} ON CONFLICT ({}) DO UPDATE SET {} RETURNING {}").format(
        _insert_values(spec),
        sql.SQL(", ").join(map(sql.Identifier, key)),
        assignments,
        _columns(spec),
    )


def _insert_values(spec: TableSpec[Any]) -> sql.Composed:
    return sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(spec.name),
        _columns(spec),
        sql.SQL(", ").join(sql.Placeholder() * len(spec.column_names)),
    )
