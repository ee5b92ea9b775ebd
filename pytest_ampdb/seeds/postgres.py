"""Load a checked ``SeedSet`` into a migrated PostgreSQL database, all or nothing.

The rows were already normalized and checked against every key and reference by ``read_seeds``,
so this is only transport: one transaction, tables parents-first with ``COPY``, the cyclic
references filled in by one ``UPDATE`` batch at the end. It works from the seed set's
declarations alone, so a column or table a project declares is loaded without touching this
module.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import psycopg
from psycopg import sql

from pytest_ampdb.models.columns import Kind
from pytest_ampdb.models.schema import Row, TableSpec
from pytest_ampdb.postgres.convert import param
from pytest_ampdb.seeds.reader import SeedError, SeedSet

_COPY_LINE = re.compile(r"\bline (\d+)")


def load_into_postgres(
    conn: psycopg.Connection[Any], seeds: SeedSet, *, replace: bool = False
) -> int:
    """Insert every seed row in one transaction and return how many rows were written.

    A database that already holds rows in any of the twelve tables is refused with a
    ``SeedError`` (nothing is changed) unless ``replace`` is true, in which case those rows are
    deleted, children first, in the same transaction.
    """
    order = seeds.plan.order
    with conn.transaction():
        occupied = _occupied_tables(conn, order)
        if occupied and not replace:
            raise SeedError(
                f"the database already holds rows in {', '.join(occupied)}; "
                "nothing was loaded (ampdb seed --replace, or replace=True, deletes them first)"
            )
        if occupied:
            for table in reversed(order):
                conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
        for table in order:
            deferred = {fk.column for fk in seeds.plan.deferred.get(table, ())}
            _copy_rows(conn, seeds, seeds.tables[table], seeds.rows.get(table, []), deferred)
        for table, fks in seeds.plan.deferred.items():
            _fill_deferred(
                conn, seeds.tables[table], seeds.rows.get(table, []), [fk.column for fk in fks]
            )
    return seeds.count()


def _occupied_tables(conn: psycopg.Connection[Any], tables: tuple[str, ...]) -> list[str]:
    """The tables among ``tables`` holding at least one row (one round trip)."""
    missing = [t for t in tables if not _exists(conn, t)]
    if missing:
        raise SeedError(
            f"the database has no table {', '.join(missing)}: apply the migrations first "
            "(ampdb migrate apply --url ...)"
        )
    query = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {} WHERE EXISTS (SELECT 1 FROM {})").format(
            sql.Literal(table), sql.Identifier(table)
        )
        for table in tables
    )
    return [str(row[0]) for row in conn.execute(query).fetchall()]


def _exists(conn: psycopg.Connection[Any], table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])


def _copy_rows(
    conn: psycopg.Connection[Any],
    seeds: SeedSet,
    spec: TableSpec[Any],
    rows: list[Row],
    deferred: set[str],
) -> None:
    """``COPY`` the rows in; deferred references are written NULL and set afterwards.

    In binary, as the repositories bind their parameters: a time past 9999 in UTC, held at
    ``BEYOND_9999`` (UTC-23:59), is sent as its instant, where text would carry an offset
    PostgreSQL's input refuses."""
    if not rows:
        return
    columns = spec.columns
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(spec.name), sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
    )
    try:
        with conn.cursor() as cur, cur.copy(statement) as copy:
            copy.set_types([column.kind.value for column in columns])
            for row in rows:
                copy.write_row(
                    [
                        None
                        if column.name in deferred
                        else _binary(column.kind, row.get(column.name))
                        for column in columns
                    ]
                )
    except psycopg.Error as exc:
        raise _row_error(seeds, spec.name, exc) from None


def _binary(kind: Kind, value: object) -> object:
    """A normalized value as binary COPY dumps it: a UUID (held as text) as a ``uuid.UUID``."""
    if kind is Kind.UUID and value is not None:
        return uuid.UUID(str(value))
    return param(kind, value)


def _fill_deferred(
    conn: psycopg.Connection[Any], spec: TableSpec[Any], rows: list[Row], columns: list[str]
) -> None:
    """Set the references that close a cycle, now that every table is loaded."""
    params = [
        [*(row[c] for c in columns), row[spec.primary_key]]
        for row in rows
        if any(row[c] is not None for c in columns)
    ]
    if not params:
        return
    statement = sql.SQL("UPDATE {} SET {} WHERE {} = %s").format(
        sql.Identifier(spec.name),
        sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in columns),
        sql.Identifier(spec.primary_key),
    )
    with conn.cursor() as cur:
        cur.executemany(statement, params)


def _row_error(seeds: SeedSet, table: str, exc: psycopg.Error) -> SeedError:
    """One line naming the seed file and, when PostgreSQL says which, the row."""
    where = str(seeds.files.get(table, seeds.directory / f"{table}.json"))
    context = getattr(exc.diag, "context", None) or ""
    line = _COPY_LINE.search(context)
    if line:
        where += f": row {line.group(1)}"
    message = (exc.diag.message_primary or str(exc)).strip().splitlines()[0]
    return SeedError(f"{where}: PostgreSQL refused it: {message}")
