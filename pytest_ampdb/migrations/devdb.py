"""Replay a migration directory on a dev server, leaving the database the user named as it was.

``migrate validate --dev-url``, ``migrate lint`` and ``migrate diff`` need the schema a directory
builds. It is built in a scratch database made for the purpose on the dev server (the one
``--dev-url`` names, else a throwaway local cluster), where the files run exactly as ``migrate
apply`` runs them (the executor: each file committed in its own transaction, ``txmode none``
files statement by statement), so a file may use an enum value an earlier file added and
``CREATE INDEX CONCURRENTLY`` runs as written. The scratch database is a run's database
(``ownership``: its mark, and a lease this process holds while it exists) and is dropped
afterwards, on an error or Ctrl-C too; one a killed process left is a dead run's, dropped by
``ampdb clean --url`` and by the next test run on that server.

A role that may not create a database gets the old replay instead, said in one line: the files
run in the named database inside one transaction that is rolled back. There a statement
PostgreSQL refuses inside a transaction block runs in its transactional form when it changes the
schema (``CREATE INDEX CONCURRENTLY`` becomes ``CREATE INDEX``) and is skipped when it does not
(``VACUUM``), and a file using an enum value an earlier file added fails.

Either way the named database must be clean (nothing but ``public``), as Atlas's dev database.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from pytest_ampdb import extensions
from pytest_ampdb.migrations.connection import Connection, open_connection
from pytest_ampdb.migrations.directory import MigrationFile
from pytest_ampdb.migrations.errors import MigrationError, StatementError
from pytest_ampdb.migrations.executor import (
    PathLike,
    Runner,
    apply,
    check_clean,
    format_pg_error,
    load_dir,
)
from pytest_ampdb.migrations.revisions import DEFAULT_SCHEMA
from pytest_ampdb.ownership import (
    RUN_MARK,
    RUN_PREFIX,
    copy_strategy,
    create_marked,
    drop_owned,
    lease_key,
    lock,
    run_mark,
    unlock,
)
from pytest_ampdb.urls import with_dbname
from pytest_ampdb.waiting import wait_until

Note = Callable[[str], None]
"""Where a one-line note goes (the CLI prints it on stderr)."""

FALLBACK_NOTE = (
    "the dev database's role cannot create a database: the files replay in one transaction on "
    "the named database, rolled back (a file using an enum value an earlier file added fails)"
)

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
    """What to run for ``stmt`` inside a transaction block: itself, its transactional
    equivalent (same schema effect), or None to skip it (no schema effect here)."""
    if non_transactional(stmt) is None:
        return stmt
    if _SCHEMA_CHANGING.match(stmt):
        return _CONCURRENTLY.sub(r"\1", stmt, count=1)
    return None


def run_where_it_can(cur: psycopg.Cursor[Any], f: MigrationFile, index: int) -> None:
    """A :data:`Runner`: the statement as written outside a transaction block, inside one its
    transactional form (lint's change files, whose AMP201 flags the statement, and the
    fallback replay)."""
    stmt = f.statements()[index]
    if cur.connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        text = transactional_form(stmt)
        if text is None:
            return
        stmt = text
    cur.execute(stmt.encode("utf-8", "surrogateescape"), prepare=False)


@dataclass
class DevDatabase:
    """Where a history replays: a scratch database of ours, or (``scratch`` False, the
    fallback) the named database inside a transaction rolled back at the end."""

    conn: Connection
    scratch: bool
    ran: set[str] = field(default_factory=set)
    """Versions of the files run so far."""

    def advance(self, history: Sequence[MigrationFile], runner: Runner | None = None) -> None:
        """Run the files of ``history`` (a directory's files, or its first ones) not run yet,
        in order: in the scratch database as ``migrate apply`` runs them (``runner`` runs each
        statement, as there), in the fallback each statement in the one transaction. A failed
        statement is a :class:`StatementError` naming its file."""
        pending = [f for f in history if f.version not in self.ran]
        if not pending:
            return
        try:
            if self.scratch:
                apply(self.conn, files=history, runner=runner, revisions_schema=DEFAULT_SCHEMA)
            else:
                _run_in_transaction(self.conn, pending, runner or run_where_it_can)
        except StatementError as exc:
            raise _naming_file(exc) from None
        self.ran.update(f.version for f in pending)


def _run_in_transaction(conn: Connection, files: Sequence[MigrationFile], run: Runner) -> None:
    cur = conn.cursor()
    for f in files:
        for index, stmt in enumerate(f.statements()):
            try:
                run(cur, f, index)
            except psycopg.Error as exc:
                pg_error = format_pg_error(exc)
                raise StatementError(stmt, f.version, f.name, pg_error, exc.sqlstate) from None


def _naming_file(exc: StatementError) -> StatementError:
    """``exc`` with its file's name in front (Atlas's text names the version only)."""
    named = StatementError(exc.stmt, exc.version, exc.name, exc.pg_error, exc.sqlstate)
    named.args = (f"{exc.name}: {exc}",)
    return named


@contextlib.contextmanager
def dev_database(
    dev_url: str | None, note: Note | None = None, *, answer_timeout: float | None = None
) -> Iterator[DevDatabase]:
    """The dev database of ``dev_url`` (else of a throwaway local cluster): a scratch database
    made, and dropped after, on its server; the fallback when its role cannot make one. Its
    calls are bounded by ``answer_timeout`` (``connection.open_connection``)."""
    with (
        _dev_server(dev_url) as url,
        open_connection(url, answer_timeout=answer_timeout, migrates=True) as (admin, bound),
    ):
        reason = check_clean(admin, DEFAULT_SCHEMA, bound)
        if reason:
            raise MigrationError(f"connected database is not clean: {reason}")
        with scratch_database(admin, url, answer_timeout=answer_timeout) as conn:
            if conn is not None:
                yield DevDatabase(conn, scratch=True)
                return
            if note is not None:
                note(FALLBACK_NOTE)
            with admin.transaction(force_rollback=True):
                yield DevDatabase(admin, scratch=False)


@contextlib.contextmanager
def scratch_database(
    admin: Connection, url: str, *, answer_timeout: float | None = None
) -> Iterator[Connection | None]:
    """A connection (as ``url`` connects, to another database) to a new, empty database on
    ``admin``'s server, marked as a run's and held by this process's lease until it is dropped
    at the end of the block, whatever ends it; None when the role may not create databases."""
    run_id = secrets.token_hex(3)
    name = f"{RUN_PREFIX}{run_id}_dev_{os.getpid()}"
    lock(admin, lease_key(run_id), shared=True)
    try:
        try:
            strategy = copy_strategy(admin)
            create_marked(admin, name, run_mark(run_id), template="template0", strategy=strategy)
            created = True
        except psycopg.errors.InsufficientPrivilege:
            created = False
        if not created:
            yield None
            return
        try:
            scratch = with_dbname(url, name)
            with open_connection(scratch, answer_timeout=answer_timeout, migrates=True) as (
                conn,
                _,
            ):
                backend = conn.info.backend_pid
                yield conn
            _wait_ended(admin, backend)
        except BaseException:
            with contextlib.suppress(psycopg.Error):  # the error under way is the one to show
                drop_owned(admin, name, (RUN_MARK,))
            raise
        drop_owned(admin, name, (RUN_MARK,))
    finally:
        with contextlib.suppress(psycopg.Error):
            unlock(admin, lease_key(run_id), shared=True)


def _wait_ended(admin: Connection, backend: int) -> None:
    """Wait (a second at most) for a closed connection's server process to end: ``DROP
    DATABASE`` finding it still there sleeps 100 ms before it looks again."""
    query = "SELECT NULL FROM pg_stat_activity WHERE pid = %s"
    wait_until(
        lambda: True if admin.execute(query, (backend,)).fetchone() is None else None,
        timeout=1.0,
        interval=0.001,
    )


@contextlib.contextmanager
def _dev_server(dev_url: str | None) -> Iterator[str]:
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


def replay(
    dev_url: str,
    directory: PathLike | None = None,
    *,
    note: Note | None = None,
    answer_timeout: float | None = None,
) -> int:
    """``migrate validate --dev-url``: prove every file runs, in order, on a clean database,
    leaving nothing behind. Returns the number of statements executed."""
    files = load_dir(directory)
    with dev_database(dev_url, note, answer_timeout=answer_timeout) as dev:
        try:
            dev.advance(files)
        except StatementError as exc:  # Atlas's words in front of the file's
            exc.args = (f"replaying the migration directory: {exc}",)
            raise
    return sum(len(f.statements()) for f in files)
