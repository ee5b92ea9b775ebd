"""Per-test isolation over a migrated, seeded template: three strategies, one interface.

- ``transaction``: one database per process, one connection; each test runs inside a
  transaction rolled back at teardown, each repository write in a savepoint of it.
- ``database``: each test gets a database of its own, cloned from the template ahead of demand
  by a background thread and dropped off the test's path by another.
- ``truncate``: one database per process; the test commits for real, and afterwards the tables
  are emptied and reloaded with the rows the database started with.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from pytest_ampdb import repositories
from pytest_ampdb.answers import NoAnswerError, what_ended
from pytest_ampdb.answers import lost as lost_connection
from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.harness import kept
from pytest_ampdb.harness import template as tpl
from pytest_ampdb.harness.provisioning.connect import (
    ServerBusyError,
    connect,
    connect_timeout,
    restarting,
)
from pytest_ampdb.harness.provisioning.errors import ProvisioningError
from pytest_ampdb.harness.provisioning.server import Server
from pytest_ampdb.models.columns import Kind
from pytest_ampdb.models.ordering import load_plan
from pytest_ampdb.models.schema import TableSpec
from pytest_ampdb.models.tables import TABLES
from pytest_ampdb.postgres import statements
from pytest_ampdb.postgres.convert import configure_connection
from pytest_ampdb.postgres.engine import PostgresEngine
from pytest_ampdb.postgres.errors import reason
from pytest_ampdb.postgres.source import SharedSource
from pytest_ampdb.seeds import SeedIds, SeedSet
from pytest_ampdb.seeds.postgres import load_into_postgres
from pytest_ampdb.types import Repositories
from pytest_ampdb.waiting import wait_until

T = TypeVar("T")
ACTIVE = TransactionStatus.ACTIVE
IDLE = TransactionStatus.IDLE
CLONE_TIMEOUT = 60
BUSY_WAIT = 3.0
"""Seconds a test waits for a connection slot on a full server before it fails."""


class NoCloneSource(AmpdbError):
    """No template to clone a test's database from (a preview PostgreSQL refused to copy): the
    tests that need a clone fail with it, the server is not lost and the run goes on."""


@dataclass
class Site:
    """The server, the ready template and how to name and clone databases on it."""

    server: Server
    template: str | None
    """The database clones are made from; made on first use by ``make_template`` when None."""
    strategy: str
    prefix: str
    """``ampdb_run_<run>_<worker>_<pid>_``: names of this process's databases."""
    on_ready: Callable[[str], None] = field(default=lambda dsn: None)
    label: str = "PostgreSQL"
    """Names the backend and server in errors."""
    run_id: str = ""
    """The run whose lease (and mark) this process's databases carry."""
    lost: str | None = None
    """Why the server stopped answering; once set, every later test fails at once."""
    generation: int = 0
    """Bumped each time the server closed a connection of this process and then took a new
    one (``back_after``): a connection opened in an older generation may be dead. (The run's
    lease and its hold on the template are taken again by the process that holds them, as
    soon as their connection closes: ``Template.watch``.)"""
    in_place: str | None = None
    """A database ``transaction`` isolation uses as it is (a shared preview), never cloned."""
    make_template: Callable[[], str] | None = None
    timeout: float | None = None
    """``--ampdb-timeout``: the longest a test waits on the server (None: unbounded)."""
    tables: Mapping[str, TableSpec[Any]] = field(default_factory=lambda: TABLES)
    """The declared schema (a project's own entities too): repositories and resets follow it."""
    project: str = ""
    """The checkout's key (``project_key``): a database kept for a failed test is marked
    with it, so ``ampdb clean`` in that checkout finds it."""
    _names: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def clone_source(self) -> str:
        """The template to clone from (made now, the first time, if it is made lazily); a
        ``NoCloneSource`` when there is none."""
        with self._lock:
            if self.template is None:
                if self.make_template is None:
                    raise NoCloneSource(f"{self.label}: no template to clone databases from")
                self.template = self.make_template()
            return self.template

    def mark_lost(self, message: str, cause: BaseException | None = None) -> str:
        """Remember that the server is gone (``message`` says why, or the server closed the
        connection of ``cause`` and did not come back), so later tests fail at once; unless the
        server that closed it takes new connections again. The message for the test at hand is
        returned."""
        closed = None if cause is None or self.lost is not None else _closed_by_server(cause)
        if cause is not None and closed is not None:
            said = f"{self.label} {what_ended(closed)}: {reason(closed)}"
            if self.back_after(cause):
                return f"{said}; it takes new connections again, so later tests go on"
            message = (
                f"{said}; it takes no new connections (it is down for good, or did not come "
                "back within the connect timeout), so later tests fail at once"
            )
        if self.lost is None:
            self.lost = message
        return message

    def back_after(self, cause: BaseException) -> bool:
        """Whether ``cause`` is a connection the server itself closed (or a connect it refused
        while down) and the server takes a new one now, waiting within the connect timeout
        while it is down, shutting down, starting up or in recovery. PostgreSQL ends every
        session after a crash of one of its processes (the OOM killer's pick) and takes
        connections again within a second or so; an admin's ``pg_terminate_backend`` ends one;
        ``pg_ctl restart`` or ``docker restart`` refuse connections for a moment. A server that
        stopped answering (frozen), that the plugin knows is down for good (``Server.gone``),
        that is not back within the timeout, or that lost the database is not back."""
        if _closed_by_server(cause) is None:
            return False
        try:
            with connect(
                self.server.admin_dsn,
                connect_timeout=connect_timeout(self.timeout),
                autocommit=True,
                coming_back=lambda: not self.server.gone(),
            ):
                pass
        except ServerBusyError:
            pass  # full for now, but there
        except ProvisioningError:
            return False
        with self._lock:
            self.generation += 1
        return True

    def again_if_back(self, work: Callable[[], T], reopen: Callable[[], object]) -> T:
        """``work()``; if it failed on a connection the server closed and the server is back,
        ``reopen()`` and ``work()`` once more (a second failure is the caller's)."""
        try:
            return work()
        except (psycopg.Error, ProvisioningError) as exc:
            if not self.back_after(exc):
                raise
        reopen()
        return work()

    def engine(self, conn: psycopg.Connection[Any]) -> PostgresEngine:
        """The engine over ``conn`` that reports a lost server to this site."""
        return PostgresEngine(
            SharedSource(conn), label=self.label, on_lost=self.mark_lost, tables=self.tables
        )

    def new_name(self) -> str:
        return f"{self.prefix}{next(self._names)}"

    def clone(self, conn: psycopg.Connection[Any]) -> str:
        source = self.clone_source()
        name = self.new_name()
        tpl.clone(conn, source, name, self.strategy, self.run_id)
        return name

    def connect(self, name: str) -> psycopg.Connection[Any]:
        """A test connection to ``name``: the server cancels a statement or lock wait at 90 % of
        the timeout (the connection stays usable), and the client gives up at the timeout (a
        frozen server never answers a cancel)."""
        conn = self._connect(self.server.dsn(name))
        server_side = None if self.timeout is None else self.timeout * 0.9
        configure_connection(conn, timeout=server_side)
        return conn

    def admin(self) -> psycopg.Connection[Any]:
        """An autocommit connection to the maintenance database, bounded like a test's."""
        return self._connect(self.server.admin_dsn, autocommit=True)

    def _connect(self, dsn: str, **kwargs: Any) -> psycopg.Connection[Any]:
        """Connect; a server that is full (for now) is tried again, backing off, for up to
        ``BUSY_WAIT`` seconds before the error is the test's."""
        timeout = connect_timeout(self.timeout)
        busy: list[ServerBusyError] = []

        def connected() -> psycopg.Connection[Any] | None:
            try:
                return connect(dsn, answer_timeout=self.timeout, connect_timeout=timeout, **kwargs)
            except ServerBusyError as exc:
                busy[:] = [exc]
                return None

        conn = wait_until(connected, timeout=BUSY_WAIT, interval=0.05, max_interval=1.0)
        if conn is None:
            raise busy[-1]
        return conn


@dataclass
class PostgresTestDatabase:
    """One test's engine over a connection; ``finish(failed, shared)`` undoes or keeps its
    writes (``shared``: the test handed its URL to other connections, which may commit)."""

    engine: PostgresEngine
    dsn: str | None
    finish: Callable[[bool, bool], str | None]
    shared: bool = False

    def share(self) -> str | None:
        self.shared = True
        return self.dsn

    def close(self, *, failed: bool) -> str | None:
        return self.finish(failed, self.shared)


def _closed_by_server(cause: BaseException) -> psycopg.Error | None:
    """The error of a connection the server itself closed (``answers.lost``'s), if ``cause``
    has one: not a server we gave up on (frozen), not a connect that failed (a database gone, a
    login refused) unless the server was down or cut it short (``restarting``)."""
    closed = lost_connection(cause)
    if closed is None or isinstance(closed, NoAnswerError | psycopg.errors.ConnectionTimeout):
        return None
    if isinstance(cause, ProvisioningError) and not restarting(closed):
        return None
    return closed


def ping(conn: psycopg.Connection[Any]) -> None:
    """One round trip that leaves no transaction open (autocommit for its length)."""
    conn.autocommit = True
    try:
        conn.execute("SELECT 1")
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.autocommit = False


def repositories_over(
    conn: psycopg.Connection[Any],
    *,
    label: str = "PostgreSQL",
    on_lost: Callable[[str, psycopg.Error], str] = lambda message, cause: message,
    tables: Mapping[str, TableSpec[Any]] = TABLES,
) -> Repositories:
    """Every declared table's repository sharing one connection (calls take turns; in a
    transaction each write runs in a savepoint)."""
    engine = PostgresEngine(SharedSource(conn), label=label, on_lost=on_lost, tables=tables)
    return repositories.build(engine, tables=tables)


def warm(conn: psycopg.Connection[Any]) -> None:
    """Run each table's lookups once on a fresh database, off the test's path.

    The first queries on a new database fill the server's catalog caches; measured here that is
    several milliseconds the test's first repository calls would otherwise pay.
    """
    for spec in TABLES.values():
        for columns in ((spec.primary_key,), (spec.scope,) if spec.scope else ()):
            blanks = [_blank(spec.column_map[c].kind) for c in columns]
            conn.execute(statements.select(spec, columns, False, True), [*blanks, 1])
    conn.rollback()


def _blank(kind: Kind) -> str:
    return "00000000-0000-0000-0000-000000000000" if kind is Kind.UUID else ""


def empty_tables(
    conn: psycopg.Connection[Any], tables: Mapping[str, TableSpec[Any]] = TABLES
) -> None:
    """Delete every row, children first (cheaper than TRUNCATE on small tables)."""
    for statement in delete_all(tables):
        conn.execute(statement)


def delete_all(tables: Mapping[str, TableSpec[Any]] = TABLES) -> list[sql.Composed]:
    """The statements that delete every row, children first (for a sync or async connection)."""
    return [
        sql.SQL("DELETE FROM {}").format(sql.Identifier(table))
        for table in reversed(load_plan(tables.values()).order)
    ]


class _ProcessDatabase:
    """One database of this process, cloned from the template (or ``in_place``, a database used
    as it is and never dropped), and one connection to it."""

    def __init__(self, site: Site, *, in_place: str | None = None, announce: bool = True) -> None:
        self.site = site
        self.owned = in_place is None
        if in_place is not None:
            self.name = in_place
        else:
            with site.admin() as admin:
                self.name = site.clone(admin)
        self.dsn = site.server.dsn(self.name)
        if announce:
            self.announce()
        self.generation = site.generation
        self.conn = site.connect(self.name)
        self.engine = site.engine(self.conn)

    def announce(self) -> None:
        """Tell the ``pytest_ampdb_database_ready`` hooks (from the thread that runs tests)."""
        self.site.on_ready(self.dsn)

    def reopen_if_stale(self) -> bool:
        """Drop the connection for a new one (True then) if it is closed, mid-query (a test
        stopped in the middle of a call by pytest-timeout's exception, raised while psycopg
        waited), or older than the server's latest restart."""
        if (
            not self.conn.closed
            and self.conn.info.transaction_status != ACTIVE
            and self.generation == self.site.generation
        ):
            return False
        self.conn.close()
        self.generation = self.site.generation
        self.conn = self.site.connect(self.name)
        self.engine = self.site.engine(self.conn)
        return True

    def on_live_connection(self, work: Callable[[], object]) -> None:
        """``work()`` on the connection; if the server closed it unnoticed and is back (it
        restarted between two calls), ``work()`` once more on a new connection."""
        self.reopen_if_stale()
        self.site.again_if_back(work, self.reopen_if_stale)

    def roll_back(self) -> None:
        """End the test's transaction (nothing to end on a new connection)."""
        if self.conn.info.transaction_status != IDLE:
            # Not conn.rollback(): psycopg forgets its prepared statements on that, and every
            # test would parse and plan each statement again; the server keeps them over this.
            self.conn.execute("ROLLBACK")

    def snapshot(self) -> SeedSet:
        """Every row of the database as it is now (committed), to ``reload`` later."""
        engine = PostgresEngine(SharedSource(self.conn))
        tables = self.site.tables
        rows = {name: engine.select(spec, {}) for name, spec in tables.items()}
        self.conn.commit()
        plan = load_plan(tables.values())
        return SeedSet(Path(self.name), rows, plan, SeedIds(), tables=tables)

    def reload(self, start: SeedSet) -> None:
        """Put back the rows of ``start`` in one commit, whatever was committed meanwhile."""
        if self.conn.info.transaction_status != IDLE:
            self.conn.rollback()
        load_into_postgres(self.conn, start, replace=True)
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()
        if self.owned and self.site.lost is None:
            with self.site.admin() as admin:
                tpl.drop_run_database(admin, self.name)


class TransactionIsolation(_ProcessDatabase):
    """Each test inside a transaction of one shared connection, rolled back at teardown.

    On a shared preview the preview itself is used: nothing a test writes is ever committed.
    """

    def __init__(self, site: Site, *, announce: bool = True) -> None:
        super().__init__(site, in_place=site.in_place, announce=announce)
        # the rows a test that shares its URL is reset to (a shared preview never is)
        self._start = self.snapshot() if self.owned else None

    def open(self, seed: bool) -> PostgresTestDatabase:
        # opens the test's transaction; writes nest savepoints
        self.on_live_connection(lambda: self.conn.execute("SELECT 1"))
        if not seed:
            empty_tables(self.conn, self.site.tables)
        return PostgresTestDatabase(self.engine, self.dsn, self._finish)

    def _finish(self, failed: bool, shared: bool) -> None:
        if self.site.lost is None:
            self.on_live_connection(self.roll_back)
        if shared and self._start is not None and self.site.lost is None:
            # other connections (ampdb_dsn) commit outside the test's transaction: undo them
            # too, or the next tests see their rows (a shared preview is never rewritten)
            start = self._start
            self.on_live_connection(lambda: self.reload(start))


class TruncateIsolation(_ProcessDatabase):
    """Tests commit for real; afterwards the tables are reloaded with the starting rows."""

    def __init__(self, site: Site) -> None:
        super().__init__(site)
        self.start = self.snapshot()

    def open(self, seed: bool) -> PostgresTestDatabase:
        self.on_live_connection(lambda: ping(self.conn) if seed else self._empty())
        return PostgresTestDatabase(self.engine, self.dsn, self._finish)

    def _empty(self) -> None:
        with self.conn.transaction():
            empty_tables(self.conn, self.site.tables)

    def _finish(self, failed: bool, shared: bool) -> None:
        if self.site.lost is None:
            self.on_live_connection(lambda: self.reload(self.start))


@dataclass(frozen=True)
class _Busy:
    """A clone the server had no room for: one test's error, not the end of the run."""

    error: AmpdbError


class _Clone(NamedTuple):
    """A database cloned ahead of demand, its connection, and the server's restart count then."""

    name: str
    conn: psycopg.Connection[Any]
    generation: int


_CLONE = ("clone", "")


class DatabaseIsolation:
    """A database per test, cloned ahead of demand and dropped in the background.

    One thread does the server work (clone, drop, mark kept) in order on one admin connection,
    so a process holds at most ``ahead + 1`` connections: the admin one and one per clone made
    ahead (the running test's among them). ``ahead`` shrinks when the server has few to spare.
    """

    def __init__(self, site: Site, ahead: int = 3) -> None:
        self.site = site
        self.ahead = ahead
        self._ready: queue.Queue[_Clone | BaseException | _Busy] = queue.Queue()
        self._jobs: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._closing = threading.Event()
        for _ in range(ahead):
            self._jobs.put(_CLONE)
        self._worker = threading.Thread(target=self._work, name="ampdb-cloner", daemon=True)
        self._worker.start()
        self.kept: list[str] = []

    def open(self, seed: bool) -> PostgresTestDatabase:
        name, conn = self._live(self._take())
        if not seed:
            with conn.transaction():
                empty_tables(conn, self.site.tables)
        dsn = self.site.server.dsn(name)
        self.site.on_ready(dsn)

        def finish(failed: bool, shared: bool) -> str | None:
            conn.close()
            if self.site.lost is not None:
                return None
            # the next clone is made between tests, not during one, after this one is gone
            self._jobs.put(("keep", name) if failed else ("drop", name))
            self._jobs.put(_CLONE)
            if failed:
                self.kept.append(name)
                return dsn
            return None

        return PostgresTestDatabase(self.site.engine(conn), dsn, finish)

    def _live(self, clone: _Clone) -> tuple[str, psycopg.Connection[Any]]:
        """The clone and its connection, or a new one if the server closed it since (asked
        with one round trip: a clone waits ahead of demand, and may have missed it). On an
        error the clone goes, and another is made for the next test."""
        conn = clone.conn

        def reopen() -> None:
            nonlocal conn
            conn.close()
            conn = self.site.connect(clone.name)

        try:
            if clone.generation != self.site.generation:
                reopen()
            else:
                self.site.again_if_back(lambda: ping(conn), reopen)
        except BaseException:
            conn.close()
            self._jobs.put(("drop", clone.name))
            self._jobs.put(_CLONE)
            raise
        return clone.name, conn

    def _take(self) -> _Clone:
        try:
            item = self._ready.get(timeout=CLONE_TIMEOUT)
        except queue.Empty:
            raise AmpdbError(
                f"{self.site.label}: no cloned database became ready in {CLONE_TIMEOUT} s"
            ) from None
        if isinstance(item, _Busy):  # this test fails; the worker tries again for the next
            self._jobs.put(_CLONE)
            raise item.error
        if isinstance(item, BaseException):
            self._ready.put(item)  # every later test gets the same answer at once
            raise item
        return item

    def _work(self) -> None:
        admin: psycopg.Connection[Any] | None = None
        try:
            while (job := self._jobs.get()) is not None:
                if admin is None or admin.closed:
                    admin = self._admin_or_busy()
                    if admin is None:
                        continue
                admin = self._run(job, admin)
            if admin is not None:  # closing: the clones no test took go too
                for name in self._unused():
                    tpl.drop_run_database(admin, name)
        except NoCloneSource as exc:  # every test that needs a clone fails; the others run on
            self._ready.put(exc)
        except Exception as exc:  # told to the test that waits for the clone, and every later one
            message = f"{self.site.label}: cloning a test database failed: {reason(exc)}"
            self.site.mark_lost(message)  # no more clones: the run cannot go on
            self._ready.put(AmpdbError(message))
        finally:
            if admin is not None:
                admin.close()

    def _run(
        self, job: tuple[str, str], admin: psycopg.Connection[Any]
    ) -> psycopg.Connection[Any] | None:
        """Do ``job``, once more on a new admin connection if the server closed this one and is
        back; the connection to go on with (None: a new one for the next job)."""
        current = admin

        def reopen() -> None:
            nonlocal current
            current.close()
            current = self.site.admin()

        try:
            self.site.again_if_back(lambda: self._do(job, current), reopen)
        except ServerBusyError as exc:  # full for now, not gone: a test fails, not all
            current.close()
            self._ready.put(_Busy(AmpdbError(f"{self.site.label}: {exc}")))
            return None
        return current

    def _do(self, job: tuple[str, str], admin: psycopg.Connection[Any]) -> None:
        kind, name = job
        if kind == "clone" and not self._closing.is_set():
            self._clone(admin)
        elif kind == "keep":
            kept.mark_kept_for(admin, name, self.site.project)
        elif kind == "drop":
            with contextlib.suppress(psycopg.errors.ObjectInUse):  # the final sweep
                tpl.drop_run_database(admin, name)

    def _admin_or_busy(self) -> psycopg.Connection[Any] | None:
        """The admin connection; None (and a failed test) while the server is full."""
        try:
            return self.site.admin()
        except ServerBusyError as exc:  # full for now, not gone
            self._ready.put(_Busy(AmpdbError(f"{self.site.label}: {exc}")))
            return None

    def _clone(self, admin: psycopg.Connection[Any]) -> None:
        name = self.site.clone(admin)
        generation = self.site.generation
        try:
            conn = self.site.connect(name)
        except ServerBusyError as exc:  # full for now, not gone: this clone goes, a test fails
            tpl.drop_run_database(admin, name)
            self._ready.put(_Busy(AmpdbError(f"{self.site.label}: {exc}")))
            return
        if not self._ready.empty():  # ahead of demand: time to spare
            warm(conn)
        self._ready.put(_Clone(name, conn, generation))

    def _unused(self) -> list[str]:
        """Close the connections of the clones no test took; their names."""
        names = []
        while not self._ready.empty():
            item = self._ready.get_nowait()
            if isinstance(item, _Clone):
                item.conn.close()
                names.append(item.name)
        return names

    def close(self) -> None:
        self._closing.set()
        self._jobs.put(None)
        self._worker.join(timeout=120)
        self._unused()  # the worker never got to them (the server is gone): connections only
