"""Where the engine gets a connection: a pool (production), or one shared connection (tests).

With a pool every repository call takes a connection, runs its statement as its own transaction
and returns it. With a shared connection (``transaction`` isolation: the test's writes are
rolled back at teardown) every call runs inside the test's transaction, each in a savepoint
(see ``wire.exchange``), under a lock, so threads the code under test starts take turns and a
refused call never aborts the test's transaction.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol

import psycopg

if TYPE_CHECKING:  # only annotated here; importing it costs a test run's start ~5 ms
    from psycopg_pool import ConnectionPool


class ConnectionSource(Protocol):
    """Lends a connection for the duration of one repository call."""

    def connection(self) -> Any:
        """A context manager yielding a ``psycopg.Connection``."""
        ...


POOL_NAME = "ampdb"
"""The name of the pools ``postgres.connect`` and ``postgres.async_pool`` make."""


class PoolSource:
    """Connections from a ``psycopg_pool.ConnectionPool``."""

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self.pool = pool

    def connection(self) -> Any:
        return self.pool.connection()

    def __repr__(self) -> str:
        return f"PoolSource({self.pool.name})"


class SharedSource:
    """One connection for every call, taken in turns."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self._lock = threading.RLock()

    def connection(self) -> SharedSource:
        return self  # its own context manager: no generator per call (a few µs of each call)

    def __enter__(self) -> psycopg.Connection[Any]:
        self._lock.acquire()
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def __repr__(self) -> str:
        return "SharedSource()"
