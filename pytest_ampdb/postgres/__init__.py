"""The PostgreSQL backend: repositories over psycopg 3 and a ``psycopg_pool.ConnectionPool``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import psycopg

from pytest_ampdb import repositories as _repositories
from pytest_ampdb.models.declared import schema_in_effect
from pytest_ampdb.models.schema import TableSpec
from pytest_ampdb.postgres.async_engine import (
    AsyncConnectionSource,
    AsyncPoolSource,
    AsyncPostgresEngine,
    AsyncSharedSource,
)
from pytest_ampdb.postgres.convert import aconfigure_connection, configure_connection
from pytest_ampdb.postgres.engine import PostgresEngine
from pytest_ampdb.postgres.source import POOL_NAME, ConnectionSource, PoolSource, SharedSource
from pytest_ampdb.repositories.table import Clock, utc_now
from pytest_ampdb.types import AsyncRepositories, Repositories
from pytest_ampdb.urls import bounded, check_dsn

if TYPE_CHECKING:  # imported when used: a test run that never pools does not pay for it
    from psycopg_pool import AsyncConnectionPool, ConnectionPool

MIN_IDLE = 10
MAX_OPEN = 100
MAX_LIFETIME = 60.0


def connect(dsn: str, **pool_options: Any) -> ConnectionPool[Any]:
    """An open pool with the seed's defaults: 10 idle, 100 open, 1-minute connection lifetime.

    ``pool_options`` go to ``ConnectionPool`` (``min_size``, ``max_size``, ``max_lifetime``,
    ``timeout``, ...) and override those defaults. Connections get a connect timeout of 10 s
    unless the DSN or ``PGCONNECT_TIMEOUT`` sets one; a DSN libpq cannot parse is refused with
    one line that does not quote it.
    """
    from psycopg_pool import ConnectionPool

    return ConnectionPool(dsn, configure=configure_connection, **_pool_options(dsn, pool_options))


async def async_connect(dsn: str, **pool_options: Any) -> AsyncConnectionPool[Any]:
    """``connect`` for asyncio: an open ``AsyncConnectionPool`` with the same defaults."""
    pool = async_pool(dsn, **pool_options)
    await pool.open()
    return pool


def async_pool(dsn: str, **pool_options: Any) -> AsyncConnectionPool[Any]:
    """``async_connect``'s pool, not yet open (made outside an event loop): the async
    repositories over it open it in the first task that uses them, close it when that task's
    event loop ends, and open a new one like it in a later loop."""
    from pytest_ampdb.postgres.loop_pool import LoopPool

    options = _pool_options(dsn, pool_options)
    options["open"] = False
    return LoopPool(dsn, configure=aconfigure_connection, **options)


def _pool_options(dsn: str, pool_options: dict[str, Any]) -> dict[str, Any]:
    """The seed's pool defaults, overridden by ``pool_options``; the DSN checked and bounded."""
    options: dict[str, Any] = {
        "min_size": MIN_IDLE,
        "max_size": MAX_OPEN,
        "max_lifetime": MAX_LIFETIME,
        "open": True,
        "name": POOL_NAME,
    }
    options.update(pool_options)
    options["kwargs"] = {**bounded(check_dsn(dsn, "the pool's DSN")), **options.get("kwargs", {})}
    return options


def repositories(
    target: ConnectionPool[Any] | psycopg.Connection[Any] | ConnectionSource,
    clock: Clock = utc_now,
    tables: Mapping[str, TableSpec[Any]] | None = None,
) -> Repositories:
    """Every declared table's repository over a pool, one shared connection, or a connection
    source: ``tables``, else the schema in effect (``models.declared.schema_in_effect``).

    A shared connection must have been set up with ``configure_connection``.
    """
    from psycopg_pool import ConnectionPool

    source: ConnectionSource
    if isinstance(target, ConnectionPool):
        source = PoolSource(target)
    elif isinstance(target, psycopg.Connection):
        source = SharedSource(target)
    else:
        source = target
    tables = schema_in_effect() if tables is None else tables
    return _repositories.build(PostgresEngine(source, tables=tables), clock, tables)


def async_repositories(
    target: AsyncConnectionPool[Any]
    | psycopg.AsyncConnection[Any]
    | psycopg.Connection[Any]
    | AsyncConnectionSource,
    clock: Clock = utc_now,
    tables: Mapping[str, TableSpec[Any]] | None = None,
) -> AsyncRepositories:
    """Every declared table's async repository over an async pool, one ``AsyncConnection`` or
    a source: ``tables``, else the schema in effect (``models.declared.schema_in_effect``).

    Over a sync ``psycopg.Connection`` (a test's transaction) each call runs the sync repository
    in a worker thread, so async and sync code share that connection's transaction. Connections
    must have been set up with ``configure_connection`` / ``aconfigure_connection``.
    """
    from psycopg_pool import AsyncConnectionPool

    from pytest_ampdb.repositories import aio

    if isinstance(target, psycopg.Connection):
        return aio.asyncify(repositories(target, clock, tables), aio.in_thread)
    tables = schema_in_effect() if tables is None else tables
    source: AsyncConnectionSource
    if isinstance(target, AsyncConnectionPool):
        source = AsyncPoolSource(target)
    elif isinstance(target, psycopg.AsyncConnection):
        source = AsyncSharedSource(target)
    else:
        source = target
    engine = AsyncPostgresEngine(source, tables=tables)
    return aio.asyncify(_repositories.build(engine, clock, tables), aio.spawn)


__all__ = [
    "AsyncConnectionSource",
    "AsyncPoolSource",
    "AsyncPostgresEngine",
    "AsyncSharedSource",
    "ConnectionSource",
    "PoolSource",
    "PostgresEngine",
    "SharedSource",
    "aconfigure_connection",
    "async_connect",
    "async_pool",
    "async_repositories",
    "configure_connection",
    "connect",
    "repositories",
]
