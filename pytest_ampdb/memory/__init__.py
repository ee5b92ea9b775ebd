"""The in-memory backend: ``MemoryStore`` and the repositories over it."""

from __future__ import annotations

from pytest_ampdb import repositories as _repositories
from pytest_ampdb.memory.store import MemoryStore, Snapshot
from pytest_ampdb.repositories.table import Clock, utc_now
from pytest_ampdb.types import AsyncRepositories, Repositories


def repositories(store: MemoryStore, clock: Clock = utc_now) -> Repositories:
    """Every repository of the tables ``store`` was made for, over it."""
    return _repositories.build(store, clock, store.specs)


def async_repositories(store: MemoryStore, clock: Clock = utc_now) -> AsyncRepositories:
    """All twelve async repositories over ``store``: the same rows the sync ones see (the
    store is thread-safe, and its work is in memory, so an awaited call never blocks; each
    call still gives the event loop a turn, as a round trip does: ``bridge.in_loop``)."""
    from pytest_ampdb.repositories import aio

    return aio.asyncify(repositories(store, clock), aio.in_loop)


__all__ = ["MemoryStore", "Snapshot", "async_repositories", "repositories"]
