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
from typing import Any

import psycopg
from psycopg.adapt import Loader
from psycopg.pq import Format
from psycopg.types.json import Jsonb

from pytest_ampdb.models.columns import Kind
from pytest_ampdb.models.schema import BEYOND_9999, Row, TableSpec


class _UuidTextLoader(Loader):
    """``uuid`` columns as canonical text, the form every model holds."""

    def load(self, data: Any) -> str:
        return bytes(data).decode()


_TIMESTAMPTZ = psycopg.postgres.types["timestamptz"].oid
_DefaultTimestamptzLoader = psycopg.adapters.get_loader(_TIMESTAMPTZ, Format.TEXT)
_PAST_9999 = re.compile(rb"10000-01-01 (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?\+00")


class _TimestamptzLoader(Loader):
    """psycopg's own loader, and for an instant past 9999 in UTC (which PostgreSQL stores but a
    UTC ``datetime`` cannot hold) the value ``TableSpec.normalize`` keeps: that instant at
    ``BEYOND_9999``. The session's TimeZone is UTC, so such a value reads ``10000-01-01 ...+00``."""

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
    """Register our loaders on ``conn``; the statement that sets our session settings."""
    conn.adapters.register_loader("uuid", _UuidTextLoader)
    conn.adapters.register_loader("timestamptz", _TimestamptzLoader)
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
def rows_of(spec: TableSpec[Any]) -> Callable[[list[Sequence[Any]]], list[Row]]:
    """Makes result rows (columns in ``spec.column_names`` order) into stored form: dicts, with
    enum members and tuples for text[]. A table without such columns takes C-level ``map``s
    only, no Python call per row (a page's rows cost ~0.4 µs each rather than ~0.8)."""
    key = partial(zip, spec.column_names, strict=True)
    readers: list[tuple[str, Callable[[Any], Any]]] = []
    for column in spec.columns:
        if column.enum is not None:
            readers.append((column.name, column.enum))
        elif column.kind is Kind.TEXT_ARRAY:
            readers.append((column.name, tuple))

    def plain(rows: list[Sequence[Any]]) -> list[Row]:
        return list(map(dict, map(key, rows)))

    def converted(rows: list[Sequence[Any]]) -> list[Row]:
        out = plain(rows)
        for row in out:
            for name, read in readers:
                value = row[name]
                if value is not None:
                    row[name] = read(value)
        return out

    return converted if readers else plain
