"""``AsyncPostgresEngine``: the PostgreSQL engine with its round trip on psycopg's AsyncConnection.

Everything but the round trip is ``PostgresEngine``'s: the SQL, the parameters, the row
conversion and the error translation. Only ``_io`` differs: it hands the async round trip to
``await_only``, so the sync repository code runs unchanged under ``repositories.bridge.spawn``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol
from weakref import WeakKeyDictionary

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row

from pytest_ampdb.postgres import wire
from pytest_ampdb.postgres.convert import beyond_9999
from pytest_ampdb.postgres.engine import PostgresEngine, returns_rows
from pytest_ampdb.postgres.wire import Result
from pytest_ampdb.repositories.bridge import await_only

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool


class AsyncConnectionSource(Protocol):
    """Lends an ``AsyncConnection`` for the duration of one repository call."""

    def connection(self) -> Any:
        """An async context manager yielding a ``psycopg.AsyncConnection``."""
        ...


class AsyncPoolSource:
    """Connections from a ``psycopg_pool.AsyncConnectionPool``."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool
        self._opening = asyncio.Lock()
        self._unopened = pool.closed
        """Made by ``async_pool`` outside a loop: opened by the first call. A pool closed
        after that stays closed, refused as the sync ``PoolSource`` refuses it."""

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        if self._unopened:
            async with self._opening:
                if self._unopened:
                    await self.pool.open()
                    self._unopened = False
        async with self.pool.connection() as conn:
            yield conn

    def __repr__(self) -> str:
        return f"AsyncPoolSource({self.pool.name})"


class AsyncLoopPools:
    """A pool of its own for each event loop, made by ``make`` and opened by the loop's first
    call, closed when the loop ends (``asyncio.run`` cancels the loop's tasks): for a pool
    nobody else holds to close (``async_database``'s default).

    psycopg_pool's tasks outlive a cancel, so a pool still open when ``asyncio.run`` ends keeps
    it from returning; and a pool serves only the loop it was opened in, so a script's second
    ``asyncio.run`` needs a pool of its own."""

    def __init__(self, make: Callable[[], AsyncConnectionPool[Any]]) -> None:
        self._make = make
        self._sources: WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[AsyncPoolSource, asyncio.Task[None]]
        ] = WeakKeyDictionary()

    def connection(self) -> Any:
        loop = asyncio.get_running_loop()
        found = self._sources.get(loop)
        if found is None:
            pool = self._make()
            closer = loop.create_task(self._close_at_the_end(loop, pool), name="ampdb-pool-closer")
            found = self._sources[loop] = (AsyncPoolSource(pool), closer)  # keeps the task
        return found[0].connection()

    async def _close_at_the_end(
        self, loop: asyncio.AbstractEventLoop, pool: AsyncConnectionPool[Any]
    ) -> None:
        try:
            await loop.create_future()  # never set: the loop's end cancels the wait
        finally:
            self._sources.pop(loop, None)
            await pool.close()

    def __repr__(self) -> str:
        return "AsyncLoopPools()"


class AsyncSharedSource:
    """One ``AsyncConnection`` for every call, taken in turns by the tasks of one event loop."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn
        self._lock = asyncio.Lock()

    def connection(self) -> AsyncSharedSource:
        return self  # its own context manager: no generator per call (a few µs of each call)

    async def __aenter__(self) -> psycopg.AsyncConnection[Any]:
        await self._lock.acquire()
        return self.conn

    async def __aexit__(self, *exc: object) -> None:
        self._lock.release()

    def __repr__(self) -> str:
        return "AsyncSharedSource()"


class AsyncPostgresEngine(PostgresEngine):
    """Row storage in PostgreSQL over async connections (used under ``bridge.spawn``)."""

    source: AsyncConnectionSource

    def __repr__(self) -> str:
        return f"AsyncPostgresEngine({self.source!r})"

    def _io(self, query: bytes, args: Sequence[object]) -> Result:
        return await_only(self._round_trip(query, args))

    async def _round_trip(self, query: bytes, args: Sequence[object]) -> Result:
        async with self.source.connection() as conn:
            return await aexecute(conn, query, args)


async def aexecute(
    conn: psycopg.AsyncConnection[Any], query: bytes, args: Sequence[object]
) -> Result:
    """``engine.execute`` on an ``AsyncConnection``: the same round trip, awaited."""
    if not wire.usable(conn):
        return await _in_pipeline(conn, query, args)
    async with conn.lock:
        return await conn.wait(wire.exchange(conn, query, args))


async def _in_pipeline(
    conn: psycopg.AsyncConnection[Any], query: bytes, args: Sequence[object]
) -> Result:
    """``engine._in_pipeline`` on an ``AsyncConnection``."""
    savepoint = wire.savepointed(conn)
    try:
        async with conn.pipeline():
            if savepoint:
                await conn.execute(wire.SAVEPOINT)
            cur = await conn.cursor(row_factory=tuple_row).execute(query, args)
            if savepoint:
                await conn.execute(wire.RELEASE)
    except psycopg.Error:
        if savepoint and conn.info.transaction_status == TransactionStatus.INERROR:
            for undo in wire.UNDO:
                await conn.execute(undo)
        raise
    rows: list[Any] = []
    if returns_rows(cur):
        try:
            rows = await cur.fetchall()
        except psycopg.DataError:  # a time past 9999 (any other refusal is raised again)
            rows = beyond_9999(conn, cur.pgresult)
    return Result(rows, cur.rowcount)
