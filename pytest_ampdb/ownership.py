"""What pytest-ampdb made on a server, known by its own mark on the database, never by its name.

Every database the plugin or the ``ampdb`` command creates gets a ``COMMENT ON DATABASE`` mark
in the statement right after ``CREATE DATABASE`` (:func:`create_marked`), and every drop goes
through :func:`drop_owned`, which reads the mark and drops on the same connection: a user's
database that merely has one of our names (a restored dump called like the template, a
``pr-<branch>`` of its own) is left as it is, whatever its name. PostgreSQL has no statement
that creates and comments at once; for a process killed between the two, the database is born
with an OID derived from its name (:func:`birth_oid`, PostgreSQL 15's ``CREATE DATABASE ... OID``),
which counts as our mark while it has no comment at all.

The session advisory locks the plugin takes on the maintenance database (template builds and
uses, previews, run leases) are keyed and tried here too, one helper for all of them.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import os
import random
import socket
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.waiting import wait_until

Connection = psycopg.Connection[Any]
FIRST_NORMAL_OID = 16384
"""PostgreSQL's first OID outside the system range."""
RUN_PREFIX = "ampdb_run_"
"""Names of databases a run (a test run, or an ``ampdb`` command's scratch database) makes."""
RUN_MARK = "pytest-ampdb run"
"""The mark of a run's database: dropped by whoever sees its run's lease free (``lease_key``)."""


class Drop(enum.Enum):
    """What :func:`drop_owned` found."""

    DROPPED = "dropped"
    ABSENT = "absent"
    NOT_OURS = "not ours"


class NotOursError(AmpdbError):
    """A database holds a name the plugin needs but not the plugin's mark: left untouched."""

    def __init__(self, where: str, name: str, todo: str) -> None:
        self.name = name
        super().__init__(
            f"{where}: database {name!r} exists but pytest-ampdb did not create it (it lacks "
            f"our mark), so it was left untouched; {todo}"
        )


def comment_of(conn: Connection, name: str) -> str | None:
    """The database's comment ('' when it has none), or None when there is no such database."""
    row = conn.execute(
        "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database"
        " WHERE datname = %s",
        (name,),
    ).fetchone()
    return None if row is None else str(row[0])


def set_mark(conn: Connection, name: str, mark: str) -> None:
    """Set the database's comment to ``mark`` (identifier and text quoted by psycopg)."""
    conn.execute(
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(mark))
    )


def create_marked(
    conn: Connection,
    name: str,
    mark: str,
    *,
    template: str | None = None,
    strategy: str | None = None,
) -> None:
    """``CREATE DATABASE`` (from ``template``) and, in the next statement, our mark on it.

    Interrupted or failed before the mark is on, the database this call made is dropped again;
    killed in between, it keeps its birth OID (on PostgreSQL 15 and later), which says it is ours.
    """
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
    if strategy is not None:
        statement = sql.SQL("{} STRATEGY {}").format(statement, sql.SQL(strategy))
    if conn.info.server_version >= 150000:  # CREATE DATABASE ... OID came with 15
        try:
            conn.execute(sql.SQL("{} OID {}").format(statement, sql.Literal(birth_oid(name))))
        except psycopg.errors.InvalidParameterValue:  # the OID is taken (another name's hash)
            conn.execute(statement)
    else:
        conn.execute(statement)
    try:
        set_mark(conn, name, mark)
    except BaseException:
        with contextlib.suppress(psycopg.Error):  # made by this very call an instant ago
            drop_database(conn, name)
        raise


def copy_strategy(conn: Connection) -> str:
    """``FILE_COPY`` when fsync is off (no checkpoint cost), else PostgreSQL 15's ``WAL_LOG``."""
    fsync = conn.execute("SHOW fsync").fetchone()
    return "FILE_COPY" if fsync and fsync[0] == "off" else "WAL_LOG"


def drop_owned(conn: Connection, name: str, marks: Sequence[str], *, force: bool = True) -> Drop:
    """Drop ``name`` only if its comment starts with one of ``marks``; what was found.

    The check and the drop run on one connection, one right after the other. ``force``
    terminates the database's connections (``WITH (FORCE)``); without it PostgreSQL refuses a
    database in use.
    """
    row = conn.execute(
        "SELECT oid, coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database"
        " WHERE datname = %s",
        (name,),
    ).fetchone()
    if row is None:
        return Drop.ABSENT
    if not is_ours(name, int(row[0]), str(row[1]), marks):
        return Drop.NOT_OURS
    drop_database(conn, name, force=force)
    return Drop.DROPPED


def is_ours(name: str, oid: int, comment: str, marks: Sequence[str]) -> bool:
    """Whether a database carries one of our ``marks``, or, with no comment, our birth OID."""
    if comment:
        return bool(marks) and comment.startswith(tuple(marks))
    return oid == birth_oid(name)


def birth_oid(name: str) -> int:
    """The OID our database ``name`` is created with: a hash of the name, among ordinary OIDs
    (a user's database has it by chance once in four billion)."""
    span = 2**32 - FIRST_NORMAL_OID
    return FIRST_NORMAL_OID + lock_key("pytest-ampdb database " + name) % span


def drop_database(conn: Connection, name: str, *, force: bool = True) -> None:
    """``DROP DATABASE IF EXISTS``, unchecked: only for a database the caller checked or named
    itself (:func:`drop_owned` checks; ``refresh-db --force`` is the user naming it)."""
    statement = "DROP DATABASE IF EXISTS {} WITH (FORCE)" if force else "DROP DATABASE IF EXISTS {}"
    conn.execute(sql.SQL(statement).format(sql.Identifier(name)))


# -- session advisory locks (on the maintenance database) ------------------------------------


def lock_key(text: str) -> int:
    """The advisory lock key of ``text``: the first 8 bytes of its SHA-256, signed."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


def _call(name: str, shared: bool) -> str:
    return f"SELECT pg_{name}{'_shared' if shared else ''}(%s)"


def try_lock(
    conn: Connection, key: int, *, shared: bool = False, server_wide: bool = False
) -> bool:
    """Take the session lock ``key`` if it is free now (exclusive: no session holds it at all).

    An advisory lock belongs to the database its session is connected to; ``server_wide``
    (exclusive only) also lets it go again, returning False, when a session of any other
    database holds ``key``: two runs whose URLs name different databases still exclude each
    other. Of two sessions taking it at once, at least the later to look sees the other.
    """
    row = conn.execute(_call("try_advisory_lock", shared), (key,)).fetchone()
    taken = bool(row and row[0])
    if taken and server_wide and not shared and lock_held(conn, key):
        unlock(conn, key)
        return False
    return taken


def lock(conn: Connection, key: int, *, shared: bool = False) -> None:
    """Take the session lock ``key``, waiting in the server as long as it takes."""
    conn.execute(_call("advisory_lock", shared), (key,))


def acquire(
    conn: Connection,
    key: int,
    *,
    timeout: float,
    poll: bool = False,
    server_wide: bool = False,
) -> bool:
    """Take the exclusive session lock ``key`` within ``timeout`` s (negative: no limit); False
    if it stayed taken. The wait blocks in the server, woken the moment the holder lets go and
    bounded by ``lock_timeout``; ``poll=True`` tries again with backoff instead, as Atlas does,
    so the waiting session never sits in a call that the holder's ``CREATE INDEX CONCURRENTLY``
    would wait for. ``server_wide`` (see :func:`try_lock`) polls too, from a random first
    interval, so two sessions that backed off from each other do not meet again."""
    if try_lock(conn, key, server_wide=server_wide):
        return True
    if 0 <= timeout < 0.001:
        return False
    if poll or server_wide:
        taken = wait_until(
            lambda: True if try_lock(conn, key, server_wide=server_wide) else None,
            timeout=timeout,
            interval=random.uniform(0.005, 0.015) if server_wide else 0.01,
            max_interval=0.5,
        )
        return taken is not None
    limit = "0" if timeout < 0 else f"{int(timeout * 1000)}ms"
    conn.execute("SELECT set_config('lock_timeout', %s, false)", (limit,))
    try:
        lock(conn, key)
    except psycopg.errors.LockNotAvailable:
        return False
    finally:
        if not conn.closed:  # else the session is gone, and the error says why
            conn.execute("SET lock_timeout TO DEFAULT")
    return True


def unlock(conn: Connection, key: int, *, shared: bool = False) -> None:
    conn.execute(_call("advisory_unlock", shared), (key,))


def unlock_all(conn: Connection) -> None:
    """Let go of every session lock this connection holds."""
    conn.execute("SELECT pg_advisory_unlock_all()")


def lease_key(run_id: str) -> int:
    """The advisory lock a run holds shared while it runs: its lease on what it made on a server
    (its databases, and a throwaway server it started), free once the run ended or died."""
    return lock_key("pytest-ampdb run lease " + run_id)


def run_mark(run_id: str) -> str:
    """The mark of a database of the run ``run_id``: its lease, and (for the eye) who made it."""
    return f"{RUN_MARK} lease={run_id} pid={os.getpid()} host={socket.gethostname()}"


def lock_held(conn: Connection, key: int) -> bool:
    """Whether another session holds the lock ``key`` (shared or not), in any database of the
    server: an advisory lock belongs to the database its session is connected to, so two runs
    whose URLs name different databases never conflict on one; ``pg_locks`` shows them all."""
    unsigned = key % 2**64
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 1"
        " AND pid <> pg_backend_pid())",
        (unsigned >> 32, unsigned & 0xFFFFFFFF),
    ).fetchone()
    return bool(row and row[0])
