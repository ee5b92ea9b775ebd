"""The memory backend for test runs: seed once, then give each test a fresh copy.

The seeded state (JSON seeds plus rows from ``pytest_ampdb_seed`` hooks) is kept as a snapshot;
before each test the session's store is restored from it in place (the rows the last test
changed are put back), so what one test writes no other test sees, whatever the order, at a cost
of microseconds. The engine over that store serves every test, each through a ``TestEngine``
of its own.

A test's sync repositories refuse to be called inside a running event loop, as PostgreSQL's do
(there the call would block the loop): a test that does so fails the same way in both modes,
not only in CI's postgres run. Its async repositories (``ampdb_async``) are not affected.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from pytest_ampdb.harness.backends.base import SeedHook, TestOptions
from pytest_ampdb.memory.store import MemoryStore
from pytest_ampdb.models.schema import TableSpec
from pytest_ampdb.models.tables import TABLES
from pytest_ampdb.modes import Backend
from pytest_ampdb.repositories import Engine, build
from pytest_ampdb.repositories.bridge import refuse_in_loop
from pytest_ampdb.seeds import SeedSet, load_into_store

T = TypeVar("T")

_IN_LOOP = (
    "a sync repository was called inside a running event loop, which --ampdb=postgres refuses "
    "(there it would block the loop)"
)


class LoopGuard:
    """The store as a test's sync repositories see it: each ``Engine`` call refused inside a
    running event loop (``refuse_in_loop``), as the PostgreSQL engine refuses it."""

    GUARDED = ("insert", "select", "page", "update", "delete", "upsert")

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.models = store.models
        for name in self.GUARDED:
            setattr(self, name, _guarded(getattr(store, name)))

    def __repr__(self) -> str:
        return f"LoopGuard({self._store!r})"


def _guarded(method: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> T:
        refuse_in_loop(_IN_LOOP)
        return method(*args, **kwargs)

    return call


@dataclass(frozen=True, slots=True)
class MemoryTestDatabase:
    """One test's store and the engine over it."""

    store: MemoryStore
    engine: Engine

    def share(self) -> None:
        """No URL: the store lives in this process only."""
        return None

    def close(self, *, failed: bool) -> None:
        """Nothing to undo: the next test gets a store of its own."""
        return None


class MemoryBackend:
    """Holds the seeded snapshot every test starts from."""

    name: str = Backend.MEMORY

    def __init__(
        self,
        seeds: SeedSet | None,
        seed_hook: SeedHook,
        *,
        schema: str = "",
        tables: Mapping[str, TableSpec[Any]] = TABLES,
    ) -> None:
        self._schema = schema
        store = MemoryStore(tables)
        self._empty = store.snapshot()
        self._seed_rows = 0
        if seeds is not None:
            self._seed_rows = load_into_store(store, seeds)
            seed_hook(build(store, tables=store.specs))
        self._seeded = store.snapshot()
        self._seeds = seeds
        self._store = store
        self._engine = cast(Engine, LoopGuard(store))

    def open(self, options: TestOptions) -> MemoryTestDatabase:
        self._store.restore(self._seeded if options.seed else self._empty)
        return MemoryTestDatabase(self._store, self._engine)

    def describe(self) -> list[str]:
        schema = [self._schema] if self._schema else []
        if self._seeds is None:
            return ["backend memory (in-process MemoryStore), no seeds", *schema]
        tables = sum(1 for rows in self._seeds.rows.values() if rows)
        return [
            f"backend memory (in-process MemoryStore), seeds {self._seeds.directory} "
            f"({self._seed_rows} rows in {tables} tables)",
            *schema,
        ]

    def close(self) -> None:
        return None
