"""The in-memory backend: ``MemoryStore`` and the repositories over it."""

from __future__ import annotations

from pytest_ampdb import repositories as _repositories
from pytest_ampdb.memory.store import MemoryStore, Snapshot
from pytest_ampdb.repositories.table import Clock, utc_now
from pytest_ampdb.types import Repositories


def repositories(store: MemoryStore, clock: Clock = utc_now) -> Repositories:
    """Every repository of the tables ``store`` was made for, over it."""
    return _repositories.build(store, clock, store.specs)


__all__ = ["MemoryStore", "Snapshot", "repositories"]
