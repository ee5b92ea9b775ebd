"""The template database: migrations applied and seeds loaded once, cloned for every test run.

Its name carries a hash of everything that shapes its contents (the migration files, the seed
files, the code that turns them into tables and rows, and the seed hooks), so a kept template is
reused exactly while that holds and a stale one is never used. It is built under an advisory lock
(concurrent starts build it once), under a temporary name, and renamed and marked ready only when
complete: a half-built template is never cloned.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

import pytest_ampdb
from pytest_ampdb.provisioning.connect import connect
from pytest_ampdb.provisioning.local import pid_alive
from pytest_ampdb.provisioning.server import Server

TEMPLATE_PREFIX = "ampdb_tpl_"
RUN_PREFIX = "ampdb_run_"
READY = "pytest-ampdb template ready"
RUN_MARK = "pytest-ampdb run"
KEPT_MARK = "pytest-ampdb kept"

_PACKAGE = Path(pytest_ampdb.__file__).resolve().parent
SCHEMA_CODE = ("models", "seeds", "migrations")
"""Packages whose source decides what a template holds."""


def fingerprint(migrations: Path, seed_files: Iterable[Path], extra: Iterable[Path] = ()) -> str:
    """A hash of the migration directory, the seed files, the schema code and ``extra`` files."""
    digest = hashlib.sha256()
    code = sorted(p for package in SCHEMA_CODE for p in (_PACKAGE / package).rglob("*.py"))
    sources = [
        *sorted(p for p in migrations.iterdir() if p.is_file()),
        *sorted(seed_files),
        *code,
        *sorted(set(extra)),
    ]
    for path in sources:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass
class Template:
    """A ready template on a server, held in use by this run until ``release``.

    Every run using a template holds a shared advisory lock on it for as long as it runs; the
    template is dropped only by a run that can take that lock exclusively, i.e. the last user,
    so a run finishing never pulls the template from under another one still cloning it.
    """

    name: str
    reused: bool
    seconds: float
    hold: psycopg.Connection[Any] | None = None

    def release(self, server: Server, *, drop: bool) -> bool:
        """Stop using the template; drop it if asked and no other run uses it. True if dropped."""
        if self.hold is not None:
            self.hold.close()
            self.hold = None
        if not drop:
            return False
        with admin(server) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_lock_key(self.name),))
            try:
                row = conn.execute(
                    "SELECT pg_try_advisory_lock(%s)", (_use_key(self.name),)
                ).fetchone()
                if not (row and row[0]):
                    return False  # another run still uses it; the last one drops it
                drop_database(conn, self.name)
                return True
            finally:
                conn.execute("SELECT pg_advisory_unlock_all()")


Builder = Callable[[str], None]
"""Fills an empty database (given by URL) with the schema and the seeds."""


def ensure_template(
    server: Server,
    digest: str,
    build: Builder,
    *,
    rebuild: bool = False,
    source: str | None = None,
) -> Template:
    """The ready template for ``digest``, built now unless a ready one exists; held in use.

    ``source``: start from a copy of that database (a preview) instead of an empty one.
    """
    name = TEMPLATE_PREFIX + digest[:16]
    started = time.perf_counter()
    hold = admin(server)
    try:
        reused = _ensure(
            hold, server, name=name, digest=digest, build=build, rebuild=rebuild, source=source
        )
    except BaseException:
        hold.close()
        raise
    return Template(name, reused, time.perf_counter() - started, hold)


def _ensure(
    conn: psycopg.Connection[Any],
    server: Server,
    *,
    name: str,
    digest: str,
    build: Builder,
    rebuild: bool,
    source: str | None,
) -> bool:
    """Under the build lock: reuse or build; then hold the shared use lock (on ``conn``)."""
    conn.execute("SELECT pg_advisory_lock(%s)", (_lock_key(name),))
    try:
        if rebuild:
            drop_database(conn, name)
        elif _is_ready(conn, name):
            return True
        building = f"{name}_build"
        drop_database(conn, building)
        create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(building))
        if source is not None:
            create = sql.SQL("{} TEMPLATE {}").format(create, sql.Identifier(source))
        conn.execute(create)
        try:
            build(server.dsn(building))
        except BaseException:
            drop_database(conn, building)
            raise
        conn.execute(
            sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(building), sql.Identifier(name)
            )
        )
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(f"{READY} {digest}")
            )
        )
        return False
    finally:
        conn.execute("SELECT pg_advisory_lock_shared(%s)", (_use_key(name),))
        conn.execute("SELECT pg_advisory_unlock(%s)", (_lock_key(name),))


@contextmanager
def admin_or(
    server: Server, conn: psycopg.Connection[Any] | None
) -> Iterator[psycopg.Connection[Any]]:
    """``conn`` when the caller has an admin connection open already, else a new one."""
    if conn is not None:
        yield conn
        return
    with admin(server) as opened:
        yield opened


def clone_strategy(server: Server, *, conn: psycopg.Connection[Any] | None = None) -> str:
    """``FILE_COPY`` when fsync is off (no checkpoint cost), else PostgreSQL 15's ``WAL_LOG``."""
    with admin_or(server, conn) as admin_conn:
        fsync = admin_conn.execute("SHOW fsync").fetchone()
    return "FILE_COPY" if fsync and fsync[0] == "off" else "WAL_LOG"


def clone(conn: psycopg.Connection[Any], template: str, name: str, strategy: str) -> None:
    """Create ``name`` from ``template``, marked with the owning process."""
    conn.execute(
        sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY {}").format(
            sql.Identifier(name), sql.Identifier(template), sql.SQL(strategy)
        )
    )
    conn.execute(
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(name),
            sql.Literal(f"{RUN_MARK} pid={os.getpid()} host={socket.gethostname()}"),
        )
    )


HOST_TAG = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]
"""Identifies this host in run database names, so a sweep knows whose databases they are."""
_RUN_NAME = re.compile(r"^ampdb_run_[0-9a-f]+_(?P<host>[0-9a-f]{6})_[a-z0-9]+_(?P<pid>\d+)_\d+$")


def run_prefix(run_id: str, worker: str) -> str:
    """Names of one process's run databases: run, host, xdist worker and pid, so the owner is
    known from the name alone (a crash can come between CREATE DATABASE and its comment)."""
    return f"{RUN_PREFIX}{run_id}_{HOST_TAG}_{worker}_{os.getpid()}_"


def sweep_dead_runs(server: Server, *, conn: psycopg.Connection[Any] | None = None) -> list[str]:
    """Drop run databases whose owning process on this host is gone (a crashed run's leftovers).

    The owner comes from the name; a database marked by another host, or kept for a failed
    test, is left alone.
    """
    host = socket.gethostname()
    dropped = []
    with admin_or(server, conn) as admin_conn:
        rows = admin_conn.execute(
            "SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '')"
            " FROM pg_database WHERE datname LIKE %s",
            (RUN_PREFIX + "%",),
        ).fetchall()
        for name, mark in rows:
            found = _RUN_NAME.match(str(name))
            if found is None or found["host"] != HOST_TAG or pid_alive(int(found["pid"])):
                continue
            if str(mark).startswith(KEPT_MARK) or (mark and f"host={host}" not in str(mark)):
                continue
            drop_database(admin_conn, str(name))
            dropped.append(str(name))
    return dropped


def drop_database(conn: psycopg.Connection[Any], name: str) -> None:
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def admin(server: Server) -> psycopg.Connection[Any]:
    """An autocommit connection to the server's maintenance database."""
    return connect(server.admin_dsn, autocommit=True)


def drop_run_databases(server: Server, run_id: str) -> list[str]:
    """Drop every database of one run (a dead xdist worker's too), except those kept."""
    dropped = []
    with admin(server) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s"
            " AND coalesce(shobj_description(oid, 'pg_database'), '') NOT LIKE %s",
            (f"{RUN_PREFIX}{run_id}\\_%", KEPT_MARK + "%"),
        ).fetchall()
        for (name,) in rows:
            drop_database(conn, str(name))
            dropped.append(str(name))
    return dropped


def mark_kept(conn: psycopg.Connection[Any], name: str, why: str) -> None:
    """Mark a database kept for inspection: no sweep of ours drops it."""
    conn.execute(
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(name), sql.Literal(f"{KEPT_MARK} {why}")
        )
    )


def _is_ready(conn: psycopg.Connection[Any], name: str) -> bool:
    row = conn.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
        (name,),
    ).fetchone()
    return bool(row and row[0] and str(row[0]).startswith(READY))


def _lock_key(name: str) -> int:
    """The advisory lock serializing builds and drops of one template."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _use_key(name: str) -> int:
    """The advisory lock every run using a template holds shared."""
    return _lock_key("in use: " + name)
