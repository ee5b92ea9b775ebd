"""The PostgreSQL backend: repositories over psycopg 3 and a ``psycopg_pool.ConnectionPool``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import psycopg

from pytest_ampdb import repositories as _repositories
from pytest_ampdb.models.schema import TableSpec
from pytest_ampdb.models.tables import TABLES
from pytest_ampdb.postgres.convert import configure_connection
from pytest_ampdb.postgres.engine import PostgresEngine
from pytest_ampdb.postgres.source import ConnectionSource, PoolSource, SharedSource
from pytest_ampdb.repositories.table import Clock, utc_now
from pytest_ampdb.types import Repositories
from pytest_ampdb.urls import bounded, check_dsn

if TYPE_CHECKING:  # imported when used: a test run that never pools does not pay for it
    from psycopg_pool import ConnectionPool

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
    options: dict[str, Any] = {
        "min_size": MIN_IDLE,
        "max_size": MAX_OPEN,
        "max_lifetime": MAX_LIFETIME,
        "open": True,
        "name": "ampdb",
    }
    options.update(pool_options)
    options["kwargs"] = {**bounded(check_dsn(dsn, "the pool's DSN")), **options.get("kwargs", {})}
    from psycopg_pool import ConnectionPool

    return ConnectionPool(dsn, configure=configure_connection, **options)


def repositories(
    target: ConnectionPool[Any] | psycopg.Connection[Any] | ConnectionSource,
    clock: Clock = utc_now,
    tables: Mapping[str, TableSpec[Any]] = TABLES,
) -> Repositories:
    """Every declared table's repository (the packaged twelve unless a project's ``tables``
    are given) over a pool, one shared connection, or a connection source.

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
    return _repositories.build(PostgresEngine(source, tables=tables), clock, tables)


__all__ = [
    "ConnectionSource",
    "PoolSource",
    "PostgresEngine",
    "SharedSource",
    "configure_connection",
    "connect",
    "repositories",
]
