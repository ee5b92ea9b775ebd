"""``LoopPool``: the async pool ``postgres.async_pool`` makes, which can make itself again.

psycopg_pool never reopens a closed pool; the async repositories close one they opened when its
event loop ends (``AsyncPoolSource``), so a later loop (a second ``asyncio.run``) needs a new
pool with the same settings.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from psycopg_pool import AsyncConnectionPool

from pytest_ampdb.postgres.source import POOL_NAME


class LoopPool(AsyncConnectionPool[Any]):
    """An ``AsyncConnectionPool`` that keeps its settings, for ``remake``."""

    def __init__(self, conninfo: str, **options: Any) -> None:
        super().__init__(conninfo, **options)
        self._settings = (conninfo, options)

    def remake(self) -> LoopPool:
        """A new, not yet open pool with this one's settings."""
        conninfo, options = self._settings
        return LoopPool(conninfo, **options)


def _not_a_cancelled_connect(record: logging.LogRecord) -> bool:
    """Drop psycopg_pool's ``error connecting in 'ampdb': `` warning for a connection attempt
    that was cancelled (``asyncio.run`` ending while the pool still fills): the pool is being
    closed, nothing failed, and the warning (empty after the colon) reads like an outage."""
    args = record.args if isinstance(record.args, tuple) else ()
    ours = bool(args) and args[0] == POOL_NAME  # a user's own pools keep their warnings
    return not (ours and any(isinstance(arg, asyncio.CancelledError) for arg in args))


logging.getLogger("psycopg.pool").addFilter(_not_a_cancelled_connect)
