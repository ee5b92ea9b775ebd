"""Python values to query parameters and result rows back to the memory store's stored form.

Rows from PostgreSQL must be exactly what ``TableSpec.normalize`` produces (str UUIDs, enum
members, tuples for text[], aware UTC datetimes), or the two backends would hand out different
models for the same row. Loaders registered on each connection do the per-value work in psycopg.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import cache, partial
from typing import Any, TypeVar

import psycopg
from psycopg.adapt import AdaptersMap, Loader, Transformer
from psycopg.pq import Format
from psycopg.types.json import Jsonb
from psycopg.types.string import TextLoader

from pytest_ampdb.models.columns import Kind
from pytest_ampdb.models.construct import values_constructor
from pytest_ampdb.models.schema import BEYOND_9999, Row, TableSpec

M = TypeVar("M")


_TIMESTAMPTZ = psycopg.postgres.types["timestamptz"].oid
_DefaultTimestamptzLoader = psycopg.adapters.get_loader(_TIMESTAMPTZ, Format.TEXT)
_PAST_9999 = re.compile(rb"10000-01-01 (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?\+00")


class _TimestamptzLoader(Loader):
    """psycopg's own loader, and for an instant past 9999 in UTC (which PostgreSQL stores but a
    UTC ``datetime`` cannot hold) the value ``TableSpec.normalize`` keeps: that instant at
    ``BEYOND_9999``. The session's TimeZone is UTC, so such a value reads ``10000-01-01 ...+00``.
    Only a result psycopg's loader refused is read with it (``beyond_9999``)."""

    def __init__(self, oid: int, context: Any = None) -> None:
        super().__init__(oid, context)
        self._default = (
            _DefaultTimestamptzLoader(oid, context) if _DefaultTimestamptzLoader else None
        )

    def load(self, data: Any) -> datetime:
        assert self._default is not None
        try:
            loaded: datetime = self._default.load(data)
        except psycopg.DataError:
            found = _PAST_9999.fullmatch(bytes(data))
            if found is None:
                raise
            hours, minutes, seconds = (int(found[i]) for i in (1, 2, 3))
            micros = int((found[4] or b"0").ljust(6, b"0"))
            since_midnight = timedelta(
                hours=hours, minutes=minutes, seconds=seconds, microseconds=micros
            )
            # 10000-01-01 00:00 UTC is 9999-12-31 00:01 at BEYOND_9999 (UTC-23:59)
            start = datetime(9999, 12, 31, 0, 1, tzinfo=BEYOND_9999)
            return start + since_midnight
        return loaded


class _Beyond9999:
    """An adaptation context: ``conn``'s adapters with ``_TimestamptzLoader`` for timestamptz."""

    def __init__(self, conn: Any) -> None:
        self.connection = conn
        self.adapters = AdaptersMap(conn.adapters)
        self.adapters.register_loader(_TIMESTAMPTZ, _TimestamptzLoader)


def beyond_9999(conn: Any, result: Any) -> list[tuple[Any, ...]]:
    """All rows of ``result``, which psycopg's loaders refused: read again with times past 9999
    in UTC kept (``_TimestamptzLoader``); any other refusal is raised as it was. Rows are read
    by psycopg's C loaders first, so a read pays for this only when such a time is in it."""
    tx = Transformer(_Beyond9999(conn))
    tx.set_pgresult(result)
    rows: list[tuple[Any, ...]] = tx.load_rows(0, result.ntuples, tuple)
    return rows


def configure_connection(conn: psycopg.Connection[Any], *, timeout: float | None = None) -> None:
    """Loaders and session settings every connection of ours uses.

    Times come back in UTC (the memory store's form) whatever the server's ``TimeZone``, and
    in ISO ``DateStyle``, the only one psycopg can parse. Call it on a new connection: the
    settings are committed at once (a pool's ``configure`` must leave the connection idle).
    ``timeout`` (seconds): the server cancels a statement, or a wait for a lock, after it.
    """
    with conn.transaction():
        conn.execute(session_settings(conn, timeout))


async def aconfigure_connection(
    conn: psycopg.AsyncConnection[Any], *, timeout: float | None = None
) -> None:
    """``configure_connection`` for an ``AsyncConnection`` (the same loaders and settings)."""
    async with conn.transaction():
        await conn.execute(session_settings(conn, timeout))


def session_settings(
    conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any], timeout: float | None
) -> bytes:
    """Register our loaders on ``conn``; the statement that sets our session settings.

    ``uuid`` columns are read as canonical text (the form every model holds) by psycopg's own
    ``TextLoader``, which psycopg replaces with its C implementation when psycopg_binary (a
    dependency) is installed."""
    conn.adapters.register_loader("uuid", TextLoader)
    query = "SELECT set_config('TimeZone', 'UTC', false), set_config('DateStyle', 'ISO', false)"
    if timeout is not None:  # never overrides a server's own settings unless asked
        limit = f"{max(1, int(timeout * 1000))}ms"
        query += f", set_config('statement_timeout', '{limit}', false)"
        query += f", set_config('lock_timeout', '{limit}', false)"
    return query.encode()


def params(spec: TableSpec[Any], names: Sequence[str], values: Sequence[object]) -> list[object]:
    """Query parameters for ``names`` columns (jsonb wrapped, text[] as lists)."""
    kinds = spec.column_map
    return [
        param(kinds[n].kind, v) if n in kinds else v for n, v in zip(names, values, strict=True)
    ]


def param(kind: Kind, value: object) -> object:
    """One normalized value as psycopg should receive it (jsonb wrapped, text[] a list)."""
    if value is None:
        return None
    if kind is Kind.JSONB:
        return Jsonb(value)
    if kind is Kind.TEXT_ARRAY and isinstance(value, tuple):
        return list(value)
    return value


def row_params(spec: TableSpec[Any], row: Row) -> list[object]:
    return params(spec, spec.column_names, [row[c] for c in spec.column_names])


@cache
def readers(spec: TableSpec[Any]) -> dict[str, Callable[[Any], Any]]:
    """Per column whose loaded value is not its stored form yet: what makes it so (an enum's
    class, ``tuple`` for text[]). Applied to values that are not None."""
    found: dict[str, Callable[[Any], Any]] = {}
    for column in spec.columns:
        if column.enum is not None:
            found[column.name] = column.enum
        elif column.kind is Kind.TEXT_ARRAY:
            found[column.name] = tuple
    return found


@cache
def rows_of(spec: TableSpec[Any]) -> Callable[[list[Sequence[Any]]], list[Row]]:
    """Makes result rows (columns in ``spec.column_names`` order) into stored form: dicts, with
    enum members and tuples for text[]. A table without such columns takes C-level ``map``s
    only, no Python call per row (a page's rows cost ~0.4 µs each rather than ~0.8)."""
    key = partial(zip, spec.column_names, strict=True)
    read_as = list(readers(spec).items())

    def plain(rows: list[Sequence[Any]]) -> list[Row]:
        return list(map(dict, map(key, rows)))

    def converted(rows: list[Sequence[Any]]) -> list[Row]:
        out = plain(rows)
        for row in out:
            for name, read in read_as:
                value = row[name]
                if value is not None:
                    row[name] = read(value)
        return out

    return converted if read_as else plain


@cache
def models_of(spec: TableSpec[M]) -> Callable[[Sequence[Any]], M]:
    """Makes a result row (columns in ``spec.column_names`` order) into its model, with no
    stored row made on the way: exactly ``spec.to_model`` of what ``rows_of`` makes of it."""
    return values_constructor(spec.model, spec.column_names, readers(spec))


@cache
def order_key_of(spec: TableSpec[Any]) -> Callable[[Sequence[Any]], Row]:
    """A result row's list-order columns (``spec.order_by``) in stored form: what a page token
    is made of."""
    read = readers(spec)
    at = [(name, spec.column_names.index(name), read.get(name)) for name in spec.order_by]

    def key(values: Sequence[Any]) -> Row:
        return {
            name: values[i] if f is None or values[i] is None else f(values[i]) for name, i, f in at
        }

    return key
