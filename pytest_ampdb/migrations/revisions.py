"""Atlas's revisions table and its advisory lock, over psycopg 3.

The table (``atlas_schema_revisions.atlas_schema_revisions`` by default) is the only state Atlas
keeps in the database; writing the same columns with the same meaning is what lets a database be
migrated by either tool. The advisory lock key is the one Atlas takes, so an ``ampdb`` apply and an
``atlas`` apply exclude each other too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from pytest_ampdb import __version__
from pytest_ampdb.migrations.errors import LockTimeoutError
from pytest_ampdb.ownership import acquire, unlock

DEFAULT_SCHEMA = "atlas_schema_revisions"
TABLE = "atlas_schema_revisions"
# FNV-1 (not FNV-1a) 32-bit of "atlas_migrate_execute", the value Atlas locks on.
LOCK_KEY = 2686470616
OPERATOR_VERSION = f"pytest-ampdb v{__version__}"

TYPE_BASELINE = 1
TYPE_EXECUTE = 2
TYPE_RESOLVED = 4

_COLUMNS = (
    "version",
    "description",
    "type",
    "applied",
    "total",
    "executed_at",
    "execution_time",
    "error",
    "error_stmt",
    "hash",
    "partial_hashes",
    "operator_version",
)


@dataclass
class Revision:
    """One row of the revisions table."""

    version: str
    description: str
    type: int = TYPE_EXECUTE
    applied: int = 0
    total: int = 0
    executed_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    execution_time: int = 0  # nanoseconds
    error: str = ""
    error_stmt: str = ""
    hash: str = ""
    partial_hashes: list[str] | None = None
    operator_version: str = OPERATOR_VERSION

    @property
    def partial(self) -> bool:
        """Applied fewer statements than the file had (and not marked resolved by ``set``)."""
        return self.applied != self.total and not self.type & TYPE_RESOLVED

    def params(self) -> tuple[object, ...]:
        """The values in column order, ready for the upsert."""
        hashes = None if self.partial_hashes is None else json.dumps(self.partial_hashes)
        return (
            self.version,
            self.description,
            self.type,
            self.applied,
            self.total,
            self.executed_at,
            self.execution_time,
            self.error,
            self.error_stmt,
            self.hash,
            hashes,
            self.operator_version,
        )


class RevisionTable:
    """Read and write the revisions table in ``schema``."""

    def __init__(self, schema: str = DEFAULT_SCHEMA) -> None:
        self.schema = schema
        self.ident = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(TABLE))
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in _COLUMNS)
        marks = sql.SQL(", ").join(sql.Placeholder() for _ in _COLUMNS)
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
            for c in _COLUMNS
            if c not in ("version", "description", "executed_at")
        )
        self._cols, self._updates = cols, updates
        self.upsert_sql = sql.SQL(
            "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (version) DO UPDATE SET {}"
        ).format(self.ident, cols, marks, updates)
        # Versions compare byte-wise (Go string order), whatever the database's collation.
        self.select_sql = sql.SQL('SELECT {} FROM {} ORDER BY version COLLATE "C"').format(
            cols, self.ident
        )

    def completed_upsert(self, conn: psycopg.Connection[Any], rev: Revision) -> bytes:
        """The upsert of a finished row, with literal values, to end a one-query file run.

        ``executed_at`` is the transaction start (``now()``) and ``execution_time`` the server
        time since then, so the row can ride in the same query string as the file's statements.
        """
        values = sql.SQL(", ").join(
            [
                sql.Literal(rev.version),
                sql.Literal(rev.description),
                sql.Literal(rev.type),
                sql.Literal(rev.applied),
                sql.Literal(rev.total),
                sql.SQL("now()"),
                sql.SQL("(extract(epoch FROM clock_timestamp() - now()) * 1e9)::bigint"),
                sql.Literal(""),
                sql.Literal(""),
                sql.Literal(rev.hash),
                sql.NULL,
                sql.Literal(rev.operator_version),
            ]
        )
        query = sql.SQL(
            "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (version) DO UPDATE SET {}"
        ).format(self.ident, self._cols, values, self._updates)
        return query.as_bytes(conn)

    def create(self, conn: psycopg.Connection[Any]) -> None:
        """Create the schema and table if missing (Atlas's exact column set)."""
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                '"version" character varying NOT NULL PRIMARY KEY, '
                '"description" character varying NOT NULL, '
                '"type" bigint NOT NULL DEFAULT 2, '
                '"applied" bigint NOT NULL DEFAULT 0, '
                '"total" bigint NOT NULL DEFAULT 0, '
                '"executed_at" timestamptz NOT NULL, '
                '"execution_time" bigint NOT NULL, '
                '"error" text NULL, '
                '"error_stmt" text NULL, '
                '"hash" character varying NOT NULL, '
                '"partial_hashes" jsonb NULL, '
                '"operator_version" character varying NOT NULL)'
            ).format(self.ident)
        )

    def exists(self, conn: psycopg.Connection[Any]) -> bool:
        """Whether the table is there (``status`` must not create it)."""
        row = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL",
            (f"{sql.Identifier(self.schema).as_string(conn)}.{TABLE}",),
        ).fetchone()
        return bool(row and row[0])

    def read(self, conn: psycopg.Connection[Any]) -> list[Revision]:
        """Every row, ordered by version (empty when the table does not exist)."""
        if not self.exists(conn):
            return []
        rows = conn.execute(self.select_sql).fetchall()
        return [_revision(row) for row in rows]

    def write(self, conn: psycopg.Connection[Any], rev: Revision) -> None:
        """Insert or update one row (description and executed_at are kept on update)."""
        conn.execute(self.upsert_sql, rev.params())

    def write_many(self, conn: psycopg.Connection[Any], revs: Iterable[Revision]) -> None:
        """Upsert several rows in one round trip per batch."""
        with conn.cursor() as cur:
            cur.executemany(self.upsert_sql, [r.params() for r in revs])

    def delete(self, conn: psycopg.Connection[Any], version: str) -> None:
        """Remove the row of ``version``."""
        conn.execute(sql.SQL("DELETE FROM {} WHERE version = %s").format(self.ident), (version,))


def _revision(row: tuple[object, ...]) -> Revision:
    (version, description, typ, applied, total, executed_at, exec_time, error, error_stmt,
     hash_, partial, operator) = row  # fmt: skip
    hashes: list[str] | None
    if partial is None:
        hashes = None
    elif isinstance(partial, str):
        hashes = list(json.loads(partial))
    else:
        hashes = [str(h) for h in partial]  # type: ignore[attr-defined]
    return Revision(
        version=str(version),
        description=str(description),
        type=int(typ),  # type: ignore[call-overload]
        applied=int(applied),  # type: ignore[call-overload]
        total=int(total),  # type: ignore[call-overload]
        executed_at=executed_at,  # type: ignore[arg-type]
        execution_time=int(exec_time),  # type: ignore[call-overload]
        error=str(error or ""),
        error_stmt=str(error_stmt or ""),
        hash=str(hash_),
        partial_hashes=hashes,
        operator_version=str(operator),
    )


def acquire_lock(conn: psycopg.Connection[Any], timeout: float) -> None:
    """Take Atlas's session advisory lock, polling with backoff for up to ``timeout`` seconds.

    ``pg_try_advisory_lock`` (not the blocking form) as Atlas does, so a waiting apply never sits
    in a transaction that a ``CREATE INDEX CONCURRENTLY`` of the lock holder would wait for.
    A negative timeout waits forever.
    """
    if not acquire(conn, LOCK_KEY, timeout=timeout, poll=True):
        raise LockTimeoutError(timeout)


def release_lock(conn: psycopg.Connection[Any]) -> None:
    """Release the advisory lock taken by :func:`acquire_lock` (best effort).

    If the session cannot run it (interrupted mid-query), closing the connection releases the
    lock anyway, and the original error is the one worth reporting.
    """
    if conn.closed or conn.broken:
        return
    with contextlib.suppress(psycopg.Error):
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        unlock(conn, LOCK_KEY)
