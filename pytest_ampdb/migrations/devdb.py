"""Replay a migration directory on a dev database, leaving the database as it was.

``migrate validate --dev-url`` and ``migrate lint`` (and, later, ``migrate diff``) need the schema a
directory builds. It is built inside one transaction that is always rolled back, so a dev
database the user named is never changed. Statements PostgreSQL refuses inside a transaction are
replayed in their transactional form when they change the schema (``CREATE INDEX CONCURRENTLY``
becomes ``CREATE INDEX``) and skipped when they do not (``VACUUM``, ``CREATE DATABASE``).
Without a dev URL a throwaway local cluster is started, as the plugin starts one.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence

import psycopg

from pytest_ampdb import extensions
from pytest_ampdb.migrations.connection import Connection, open_connection
from pytest_ampdb.migrations.directory import MigrationFile
from pytest_ampdb.migrations.errors import MigrationError, StatementError
from pytest_ampdb.migrations.executor import PathLike, check_clean, format_pg_error, load_dir
from pytest_ampdb.migrations.revisions import DEFAULT_SCHEMA

# Statements PostgreSQL 15 refuses inside a transaction block, by their leading words.
_NON_TRANSACTIONAL = re.compile(
    r"""\s*(
        (?:CREATE|DROP)\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY
      | REINDEX\b[^;]*?\bCONCURRENTLY
      | REINDEX\s+(?:SYSTEM|DATABASE)
      | VACUUM
      | CLUSTER\s*;?\s*$
      | (?:CREATE|DROP)\s+(?:DATABASE|TABLESPACE)
      | ALTER\s+DATABASE\b[^;]*?\bSET\s+TABLESPACE
      | ALTER\s+SYSTEM
      | (?:CREATE|DROP)\s+SUBSCRIPTION
      | ALTER\s+SUBSCRIPTION\b[^;]*?\bREFRESH\s+PUBLICATION
    )""",
    re.IGNORECASE | re.VERBOSE | re.DOTALL,
)
_CONCURRENTLY = re.compile(r"(\bINDEX\s+)CONCURRENTLY\s+", re.IGNORECASE)
_SCHEMA_CHANGING = re.compile(r"\s*(?:CREATE|DROP)\s+(?:UNIQUE\s+)?INDEX\b", re.IGNORECASE)


def non_transactional(stmt: str) -> str | None:
    """The leading words of ``stmt`` (upper-cased, one space apart) if PostgreSQL refuses to
    run it inside a transaction block, else None."""
    m = _NON_TRANSACTIONAL.match(stmt)
    return " ".join(m.group(1).upper().split()).rstrip(" ;") if m else None


def transactional_form(stmt: str) -> str | None:
    """What to run for ``stmt`` inside the replay's transaction: itself, its transactional
    equivalent (same schema effect), or None to skip it (no schema effect here)."""
    if non_transactional(stmt) is None:
        return stmt
    if _SCHEMA_CHANGING.match(stmt):
        return _CONCURRENTLY.sub(r"\1", stmt, count=1)
    return None


@contextlib.contextmanager
def dev_database(dev_url: str | None) -> Iterator[str]:
    """``dev_url`` itself, or the URL of a throwaway local PostgreSQL 15 cluster (stopped after),
    which the test harness provides (``extensions.DEV_SERVERS``)."""
    if dev_url:
        yield dev_url
        return
    servers = extensions.found(extensions.DEV_SERVERS)
    if not servers:
        raise MigrationError("no --dev-url given, and no throwaway PostgreSQL: pass --dev-url")
    throwaway: Callable[[], contextlib.AbstractContextManager[str]] = extensions.load(
        servers[0], "a throwaway dev database (no --dev-url given)"
    )
    with throwaway() as url:
        yield url


def execute(conn: Connection, f: MigrationFile, stmt: str) -> None:
    """Run one statement of ``f`` in the replay (raises :class:`StatementError`)."""
    text = transactional_form(stmt)
    if text is None:
        return
    try:
        conn.execute(text.encode("utf-8", "surrogateescape"), prepare=False)
    except psycopg.Error as exc:
        raise StatementError(stmt, f.version, f.name, format_pg_error(exc), exc.sqlstate) from None


@contextlib.contextmanager
def clean_transaction(target: str | Connection) -> Iterator[Connection]:
    """A connection to a clean dev database (nothing but ``public``, as Atlas's dev database
    must be) inside a transaction that is rolled back when the block ends."""
    with open_connection(target) as (conn, bound):
        reason = check_clean(conn, DEFAULT_SCHEMA, bound)
        if reason:
            raise MigrationError(f"connected database is not clean: {reason}")
        with conn.transaction(force_rollback=True):
            yield conn


def run_files(conn: Connection, files: Sequence[MigrationFile]) -> None:
    """Every statement of ``files``, in order, in the caller's transaction."""
    for f in files:
        for stmt in f.statements():
            execute(conn, f, stmt)


@contextlib.contextmanager
def replayed(target: str | Connection, files: Sequence[MigrationFile]) -> Iterator[Connection]:
    """A connection inside a transaction where every statement of ``files`` ran; rolled back
    when the block ends."""
    with clean_transaction(target) as conn:
        run_files(conn, files)
        yield conn


def replay(target: str | Connection, directory: PathLike | None = None) -> int:
    """``migrate validate --dev-url``: prove every file runs, in order, on a clean database,
    leaving nothing behind. Returns the number of statements executed."""
    files = load_dir(directory)
    with replayed(target, files):
        return sum(len(f.statements()) for f in files)
