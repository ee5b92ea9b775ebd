"""One test run's state, independent of pytest: settings, checked seeds, the lazy backend.

Seeds are read and checked when the run is created (so a broken seed file stops the session at
once, with one line); the backend starts when first asked for: the plugin asks at session start
(outside xdist workers), so a failing provisioning or seed hook stops the run with one line.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar, cast

from pytest_ampdb import modes
from pytest_ampdb.harness.backends.base import (
    Backend,
    BackendContext,
    TestDatabase,
    TestEngine,
    TestOptions,
    check_memory_schema,
)
from pytest_ampdb.harness.interrupt import StopSignalsAsInterrupt
from pytest_ampdb.harness.settings import Settings
from pytest_ampdb.models.declared import schema_tables
from pytest_ampdb.repositories import Engine, build
from pytest_ampdb.repositories.bridge import running_loop
from pytest_ampdb.seeds import SeedSet, read_seeds
from pytest_ampdb.types import AsyncRepositories, Repositories

A = TypeVar("A")
T = TypeVar("T")


class AmpdbRun:
    """Settings, seeds and the (lazily started) backend of one run."""

    def __init__(self, settings: Settings, context: BackendContext) -> None:
        self.settings = settings
        # checked before any database is touched; imported from the project root if need be
        self.tables = schema_tables(settings.schema, context.project_root)
        self.seeds: SeedSet | None = (
            None if settings.no_seed else read_seeds(settings.seeds, self.tables)
        )
        self.context = context
        if settings.backend == modes.Backend.MEMORY:  # no server to wait: check the schema now
            context.schema_line = check_memory_schema(settings)
        self._backend: Backend | None = None
        self._lock = threading.Lock()
        self._stop_signals = StopSignalsAsInterrupt()

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            with self._lock:
                if self._backend is None:
                    if self.settings.backend == modes.Backend.POSTGRES:  # it holds a server
                        self._stop_signals.install()
                    self._backend = start_backend(self.settings, self.seeds, self.context)
        return self._backend

    @property
    def stopped_by_signal(self) -> bool:
        """SIGTERM or SIGHUP stopped the run: it cleans up as soon as the session ends."""
        return self._stop_signals.stopping

    @property
    def started(self) -> bool:
        return self._backend is not None

    def close(self) -> None:
        with self._stop_signals.closing():
            if self._backend is not None:
                self._backend.close()
                self._backend = None


@dataclass
class TestScope:
    """The database of one test, opened on first use and closed at teardown."""

    run: AmpdbRun
    options: TestOptions
    _db: TestDatabase | None = field(default=None, init=False)
    _engine: TestEngine | None = field(default=None, init=False)
    _repos: Repositories | None = field(default=None, init=False)
    _async: AsyncRepositories | None = field(default=None, init=False)

    def repos(self) -> Repositories:
        """The test's own repositories, over a ``TestEngine`` that refuses calls after the test
        (a thread or task that outlives it reaches no other test's rows, in any mode)."""
        if self._repos is None:
            self._engine = TestEngine(self.database().engine)
            self._repos = build(cast(Engine, self._engine), tables=self.run.tables)
        return self._repos

    def async_repos(self) -> AsyncRepositories:
        """The test's repositories, async: over the same store or the same connection.

        In memory each call runs inline (the store never blocks), then gives the loop a turn as
        a round trip would; on PostgreSQL each call runs the test's sync repository in a worker
        thread, so async code shares the test's connection, its transaction and its isolation
        exactly (see README, "Async").
        """
        if self._async is None:
            from pytest_ampdb.repositories import aio

            run = aio.in_loop if self.run.settings.backend == "memory" else aio.in_thread
            self._async = aio.asyncify(self.repos(), run)
        return self._async

    def database(self) -> TestDatabase:
        if self._db is None:
            self._db = off_the_loop(self.run.backend.open, self.options)
        return self._db

    @property
    def opened(self) -> bool:
        return self._db is not None

    def close(self, *, failed: bool) -> str | None:
        """Close the test's database; the URL of a database kept for a failed test, if any."""
        if self._engine is not None:
            self._engine.ended = True
        if self._db is None:
            return None
        db, self._db, self._engine, self._repos, self._async = self._db, None, None, None, None
        return db.close(failed=failed)


_DEFERRED: contextvars.ContextVar[list[Callable[[], None]] | None] = contextvars.ContextVar(
    "ampdb_deferred_hooks", default=None
)
"""Hook calls ``off_the_loop``'s worker thread leaves to the thread that runs the test."""


def on_test_thread(hook: Callable[[A], None]) -> Callable[[A], None]:
    """``hook``, called where the test runs even when the database is opened off the loop (a
    project's ``pytest_ampdb_database_ready`` may rely on the thread, as pytest's hooks do)."""

    def call(arg: A) -> None:
        deferred = _DEFERRED.get()
        if deferred is None:
            hook(arg)
        else:
            deferred.append(lambda: hook(arg))

    return call


def off_the_loop(fn: Callable[[A], T], arg: A) -> T:
    """``fn(arg)``, on a worker thread (this context copied) when an event loop runs in this
    thread: opening a test's database is the harness's blocking work (a clone, a snapshot of the
    starting rows), not a sync repository call of the test's, which the guard against blocking
    the loop would refuse when async code opens it first (``async_database``'s lazy default).
    The loop waits for it, as it waits for any setup of the test; the hooks it calls
    (``on_test_thread``) run afterwards, on this thread."""
    if running_loop() is None:
        return fn(arg)
    context = contextvars.copy_context()
    deferred: list[Callable[[], None]] = []
    context.run(_DEFERRED.set, deferred)
    with ThreadPoolExecutor(1, thread_name_prefix="ampdb-open") as pool:
        result = pool.submit(context.run, fn, arg).result()
    for hook in deferred:
        hook()
    return result


def start_backend(settings: Settings, seeds: SeedSet | None, context: BackendContext) -> Backend:
    """Start the backend the settings name."""
    if settings.backend == modes.Backend.MEMORY:
        from pytest_ampdb.harness.backends.memory import MemoryBackend

        tables = schema_tables(settings.schema)
        return MemoryBackend(seeds, context.seed_hook, schema=context.schema_line, tables=tables)
    if settings.backend == modes.Backend.POSTGRES:
        from pytest_ampdb.harness.backends.postgres import PostgresBackend

        return PostgresBackend(settings, seeds, context)
    raise ValueError(f"unknown backend {str(settings.backend)!r}")
