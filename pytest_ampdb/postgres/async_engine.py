"""``AsyncPostgresEngine``: the PostgreSQL engine with its round trip on psycopg's AsyncConnection.

Everything but the round trip is ``PostgresEngine``'s: the SQL, the parameters, the row
conversion and the error translation. Only ``_io`` differs: it hands the async round trip to
``await_only``, so the sync repository code runs unchanged under ``repositories.bridge.spawn``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row

from pytest_ampdb.errors import AmpdbError
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
    """Connections from a ``psycopg_pool.AsyncConnectionPool``.

    A pool handed over not yet open (``postgres.async_pool``, ``async_database``'s default) is
    opened in the first task that uses it and closed when that task's event loop ends
    (``asyncio.run`` returning): left open, psycopg_pool retries the connections it was still
    opening when ``asyncio.run`` cancels them, and ``asyncio.run`` never returns. A later event
    loop then gets a new pool with the same settings (``LoopPool.remake``).
    """

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool
        self._opening: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}
        self._closer: asyncio.Task[None] | None = None
        self._ours_to_open = pool.closed
        """Made by ``async_pool`` outside a loop (opened by the first call), or closed by us
        when a loop ended (made again in the next). A pool the service closed stays closed,
        refused as the sync ``PoolSource`` refuses it."""
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop the pool was opened in (it serves that loop only)."""
        self._ended: asyncio.AbstractEventLoop | None = None
        """The loop whose end closed the pool: a call still running in it gets no new pool."""

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        if self.pool.closed and self._ours_to_open:
            await self._open()
        elif self._loop is not None and self._loop is not asyncio.get_running_loop():
            self._refuse_another_loop()
        async with self.pool.connection() as conn:
            yield conn

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        async with self._opening.setdefault(loop, asyncio.Lock()):
            if not self.pool.closed:
                return
            if self._closer is not None:  # closed at the end of an earlier loop: a new pool
                remake = getattr(self.pool, "remake", None)
                if remake is None or self._ended is loop:  # no remaking: refused as closed
                    from psycopg_pool import PoolClosed

                    raise PoolClosed(f"the pool {self.pool.name!r} is already closed")
                self.pool = remake()
            await self.pool.open()
            self._ours_to_open = False
            self._loop = loop
            self._closer = loop.create_task(_close_when_the_loop_ends(self))
            self._opening = {loop: self._opening[loop]}

    def _refuse_another_loop(self) -> None:
        """A second event loop (another thread's ``asyncio.run``) while the pool's own runs:
        psycopg's pool serves one loop, and sharing it hangs; the closed loop's is remade."""
        if self._loop is not None and self._loop.is_running():
            raise AmpdbError(
                f"the async pool {self.pool.name!r} serves the event loop that opened it, "
                "which still runs: an event loop in another thread needs repositories of its "
                "own (postgres.async_repositories(postgres.async_pool(dsn)) made there)"
            )

    def __repr__(self) -> str:
        return f"AsyncPoolSource({self.pool.name})"


async def _close_when_the_loop_ends(source: AsyncPoolSource) -> None:
    """Wait until cancelled (``asyncio.run`` cancels every task left when its main one ends),
    then close the source's pool, which stops its connection attempts (made again for a later
    loop)."""
    pool, loop = source.pool, asyncio.get_running_loop()
    try:
        await loop.create_future()
    finally:
        source._ours_to_open = not pool.closed  # closed by the service meanwhile: it stays so
        source._ended = loop
        # psycopg_pool's close waits for its workers first, and asyncio.run has cancelled them:
        # it gives up (CancelledError) before closing its idle connections, which then stayed
        # open until the process ended; they are closed here whatever it does
        idle: list[psycopg.AsyncConnection[Any]] = list(getattr(pool, "_pool", ()))
        try:
            await pool.close(timeout=1.0)
        finally:
            for conn in idle:
                if not conn.closed:
                    await conn.close()


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
