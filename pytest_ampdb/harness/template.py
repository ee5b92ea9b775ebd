"""The template database: migrations applied and seeds loaded once, cloned for every test run.

Its name carries a hash of everything that shapes its contents (the migration files, the seed
files, the code that turns them into tables and rows, and the seed hooks), so a kept template is
reused exactly while that holds and a stale one is never used. It is built under an advisory lock
taken server-wide (concurrent starts build it once, whichever database their URLs name), under a
temporary name, and renamed and marked ready only when complete: a half-built template is never
cloned.

Every database made here carries a mark (``ownership``) and is dropped only with it. A run
holds a lease on the server while it runs (a shared advisory lock on its run id, on the
connection that holds the template); the sweep drops a run's databases only when no session
holds that lease any more, so liveness never depends on a hostname or a process id.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

import pytest_ampdb
from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.harness.provisioning.connect import no_answer
from pytest_ampdb.harness.provisioning.server import Server
from pytest_ampdb.harness.watch import Watch
from pytest_ampdb.logs import timed
from pytest_ampdb.ownership import (
    RUN_MARK,
    RUN_PREFIX,
    Drop,
    NotOursError,
    acquire,
    comment_of,
    copy_strategy,
    create_marked,
    drop_owned,
    is_ours,
    lease_key,
    lock,
    lock_held,
    lock_key,
    run_mark,
    set_mark,
    try_lock,
    unlock,
    unlock_all,
)

LOGGER = logging.getLogger(__name__)
TEMPLATE_PREFIX = "ampdb_tpl_"
READY = "pytest-ampdb template ready"
BUILDING = "pytest-ampdb template building"
BUILD_SUFFIX = "_build"
"""A template is built under its name with this suffix, renamed when complete."""
KEPT_MARK = "pytest-ampdb kept"
STALE_AFTER = 24 * 3600
"""Seconds after which a run database with our mark but no lease (made by a version before
leases) counts as a dead run's: no lease can speak for it, only its age."""

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
    _watch: Watch | None = field(default=None, repr=False)
    _holding: threading.Lock = field(default_factory=threading.Lock, repr=False)
    """Taken to replace or let go of ``hold`` (the watch's thread renews it)."""

    def watch(self, server: Server, run_id: str) -> None:
        """From now until ``release``, take what ``hold`` holds (the template in use, the run's
        lease) again on a new connection as soon as the server closes it (``watch.Watch``),
        waiting within the connect timeout for a server that restarts. ``hold`` is the
        watch's until ``unwatch``."""
        if self.hold is None or self._watch is not None:
            return

        def renew(coming_back: Callable[[], bool]) -> None:
            conn = hold_again(
                server, self.name, run_id, coming_back=lambda: coming_back() and not server.gone()
            )
            with self._holding:
                if not coming_back():  # released meanwhile (its stop gave up waiting): not kept
                    conn.close()
                    return
                old, self.hold = self.hold, conn
            if old is not None:
                old.close()
            LOGGER.info("%s: the run's lease and template hold taken again", server.description)

        self._watch = Watch(lambda: self.hold, renew, server.description)

    def unwatch(self) -> None:
        """Stop watching ``hold`` (before using it or letting it go)."""
        if self._watch is not None:
            self._watch.stop()
            self._watch = None

    def release(self, server: Server, *, drop: bool) -> bool:
        """Stop using the template; drop it if asked and no other run uses it. True if dropped."""
        self.unwatch()
        with self._holding:
            hold, self.hold = self.hold, None
        if hold is not None:
            hold.close()
        if not drop:
            return False
        with admin(server) as conn:
            build_lock(conn, self.name)
            try:
                if not try_lock(conn, _use_key(self.name), server_wide=True):
                    return False  # another run still uses it; the last one drops it
                return drop_owned(conn, self.name, (READY,)) is Drop.DROPPED
            finally:
                if not conn.closed:  # else its locks went with its session
                    unlock_all(conn)

    def lease(self, run_id: str) -> None:
        """Hold the run's lease on the connection that holds the template, until ``release``."""
        if self.hold is None:
            raise AmpdbError(f"template {self.name} is released: no connection to hold a lease")
        lock(self.hold, lease_key(run_id), shared=True)


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
        with timed(LOGGER, f"template {name}", level=logging.INFO) as outcome:
            reused = _ensure(
                hold, server, name=name, digest=digest, build=build, rebuild=rebuild, source=source
            )
            outcome.append("reused" if reused else "built")
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
    build_lock(conn, name)
    try:
        found = comment_of(conn, name)
        if found is not None and found.startswith(READY) and not rebuild:
            return True
        building = name + BUILD_SUFFIX
        _clear(conn, server, name, (READY, BUILDING))  # renamed, then killed: still "building"
        _clear(conn, server, building, (BUILDING,))
        create_marked(conn, building, f"{BUILDING} {digest}", template=source)
        try:
            build(server.dsn(building))
        except BaseException as exc:
            if no_answer(exc) is None and not conn.closed:  # frozen: the drop would wait on it
                drop_owned(conn, building, (BUILDING,))
            raise
        conn.execute(
            sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(building), sql.Identifier(name)
            )
        )
        set_mark(conn, name, f"{READY} {digest}")
        return False
    finally:
        if not conn.closed:  # else its session and locks are gone, and the error says why
            lock(conn, _use_key(name), shared=True)
            unlock(conn, _lock_key(name))


def _clear(
    conn: psycopg.Connection[Any], server: Server, name: str, marks: tuple[str, ...]
) -> None:
    """Drop our database ``name`` if there is one; refuse (one line) if it is not ours."""
    if drop_owned(conn, name, marks) is Drop.NOT_OURS:
        raise NotOursError(
            server.description,
            name,
            "rename or drop it yourself, or run against another server (--ampdb-dsn)",
        )


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
    """The server's cheaper ``CREATE DATABASE`` strategy (``ownership.copy_strategy``)."""
    with admin_or(server, conn) as admin_conn:
        return copy_strategy(admin_conn)


def clone(
    conn: psycopg.Connection[Any], template: str, name: str, strategy: str, run_id: str
) -> None:
    """Create ``name`` from ``template``, marked as a database of the run ``run_id``."""
    with timed(LOGGER, f"clone {name} from {template} ({strategy})"):
        create_marked(conn, name, run_mark(run_id), template=template, strategy=strategy)


def run_prefix(run_id: str, worker: str) -> str:
    """Names of one process's run databases: run, xdist worker and pid (for the eye only: the
    owner is known from the mark and its lease, never from the name)."""
    return f"{RUN_PREFIX}{run_id}_{worker}_{os.getpid()}_"


@dataclass(frozen=True)
class Sweep:
    """What a sweep dropped, and the databases named like ours that it left alone."""

    dropped: list[str]
    untouched: list[str]


_LEASE = re.compile(r"\blease=(?P<run>[0-9a-f]+)\b")
_RUN_IN_NAME = re.compile(RUN_PREFIX + r"(?P<run>[0-9a-f]+)_")


def sweep_dead_runs(
    server: Server,
    run_id: str,
    *,
    conn: psycopg.Connection[Any] | None = None,
    dry_run: bool = False,
) -> Sweep:
    """Drop the databases of runs that are gone (``_sweep``), logged with its duration."""
    with timed(LOGGER, "sweep of dead runs' databases", level=logging.INFO) as outcome:
        found = _sweep(server, run_id, conn=conn, dry_run=dry_run)
        outcome.append(f"{len(found.dropped)} dropped" + (" (dry run)" if dry_run else ""))
    return found


def _sweep(
    server: Server,
    run_id: str,
    *,
    conn: psycopg.Connection[Any] | None,
    dry_run: bool,
) -> Sweep:
    """Drop the databases of runs that are gone (a crashed run's leftovers).

    A run database is dropped only with our run mark (or our birth OID) and only when no session
    holds its run's lease, in any database of the server (its run ended or died, in whatever
    host or PID namespace; a run takes its lease before its first database, so a free lease
    never comes back); a marked one without a lease (an older version's) only once older
    than ``STALE_AFTER``. Kept databases and ones that are not ours are never dropped; the
    latter are returned as ``untouched``. ``dry_run`` (``ampdb clean --list``): what would be
    dropped, nothing dropped.
    """
    stale: list[str] = []
    untouched: list[str] = []
    leases: dict[str, list[str]] = {}
    with admin_or(server, conn) as admin_conn:
        rows = admin_conn.execute(
            "SELECT datname, oid, coalesce(shobj_description(oid, 'pg_database'), '')"
            ' FROM pg_database WHERE datname LIKE %s ORDER BY datname COLLATE "C"',
            (RUN_PREFIX.replace("_", "\\_") + "%",),
        ).fetchall()
        for name, oid, mark in ((str(n), int(o), str(m)) for n, o, m in rows):
            if mark.startswith(KEPT_MARK):
                continue
            if not is_ours(name, oid, mark, (RUN_MARK,)):
                untouched.append(name)
                continue
            # born ours (its OID) but its process died before the mark: its run is in its name
            lease = _LEASE.search(mark) if mark else _RUN_IN_NAME.match(name)
            if lease is not None and lease["run"] != run_id:
                leases.setdefault(lease["run"], []).append(name)
            elif lease is None and _age(admin_conn, name) > STALE_AFTER:
                stale.append(name)

        def drop(name: str) -> bool:
            return dry_run or drop_run_database(admin_conn, name)

        dropped = [n for n in stale if drop(n)]
        for owner, names in leases.items():
            if not lock_held(admin_conn, lease_key(owner)):  # its run is gone: not coming back
                dropped += [n for n in names if drop(n)]
    return Sweep(dropped, untouched)


def _age(conn: psycopg.Connection[Any], name: str) -> float:
    """Seconds since the database was created (its ``PG_VERSION`` file); 0 when unknown (the
    role may not read server files, or the database is in another tablespace)."""
    try:
        row = conn.execute(
            "SELECT extract(epoch FROM now() - (pg_stat_file("
            "'base/' || oid || '/PG_VERSION')).modification) FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
    except psycopg.Error:
        return 0.0
    return float(row[0]) if row and row[0] is not None else 0.0


def drop_run_database(conn: psycopg.Connection[Any], name: str) -> bool:
    """Drop a database of a run (ours by its run mark, not kept); True if dropped."""
    with timed(LOGGER, f"drop {name}") as outcome:
        found = drop_owned(conn, name, (RUN_MARK,))
        outcome.append(found.value)
    return found is Drop.DROPPED


def admin(server: Server) -> psycopg.Connection[Any]:
    """An autocommit connection to the server's maintenance database, bounded by its
    ``answer_timeout`` (waiting for another run's build lock polls: each poll is bounded)."""
    return server.connect(autocommit=True)


def hold_again(
    server: Server, template: str, run_id: str, *, coming_back: Callable[[], bool]
) -> psycopg.Connection[Any]:
    """A new connection holding what a run holds on the server (the template in use, the run's
    lease), for after a restart: a session's advisory locks go with it, and a run that holds no
    lease is taken for a dead one by the next run's sweep. A server down or starting up is
    waited for while ``coming_back()`` (``connect``)."""
    conn = server.connect(autocommit=True, coming_back=coming_back)
    try:
        lock(conn, _use_key(template), shared=True)
        lock(conn, lease_key(run_id), shared=True)
    except BaseException:
        conn.close()
        raise
    return conn


def drop_run_databases(server: Server, run_id: str) -> list[str]:
    """Drop every database of one run (a dead xdist worker's too), except those kept."""
    with admin(server) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s",
            (f"{RUN_PREFIX}{run_id}_".replace("_", "\\_") + "%",),
        ).fetchall()
        return [str(n) for (n,) in rows if drop_run_database(conn, str(n))]


def mark_kept(conn: psycopg.Connection[Any], name: str, why: str) -> None:
    """Mark a database kept for inspection: no sweep of ours drops it."""
    set_mark(conn, name, f"{KEPT_MARK} {why}")


def _lock_key(name: str) -> int:
    """The advisory lock serializing builds and drops of one template."""
    return lock_key(name)


def build_lock(conn: psycopg.Connection[Any], name: str) -> None:
    """Take the lock serializing builds and drops of the template ``name``, waiting as long as
    it takes: server-wide, so two runs whose URLs name different databases of one server never
    build, drop or rename one template at once (let go with ``unlock(conn, _lock_key(name))``)."""
    acquire(conn, _lock_key(name), timeout=-1, server_wide=True)


def _use_key(name: str) -> int:
    """The advisory lock every run using a template holds shared."""
    return _lock_key("in use: " + name)
