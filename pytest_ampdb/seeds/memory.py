"""Load a ``SeedSet`` into a ``MemoryStore``, parents first, cyclic references set last."""

from __future__ import annotations

from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.memory.store import MemoryStore
from pytest_ampdb.seeds.reader import SeedError, SeedSet


def load_into_store(store: MemoryStore, seeds: SeedSet) -> int:
    """Insert every seed row; a row the store refuses is a ``SeedError`` naming file and row."""
    deferred = seeds.plan.deferred
    for table in seeds.plan.order:
        spec = seeds.tables[table]
        later = {fk.column for fk in deferred.get(table, ())}
        for number, row in enumerate(seeds.rows[table], start=1):
            with _blame(seeds, table, number):
                store.insert(spec, {**row, **dict.fromkeys(later)})
    for table, fks in deferred.items():
        spec = seeds.tables[table]
        for number, row in enumerate(seeds.rows[table], start=1):
            changes = {fk.column: row[fk.column] for fk in fks if row[fk.column] is not None}
            if changes:
                with _blame(seeds, table, number):
                    store.update(spec, {spec.primary_key: row[spec.primary_key]}, changes)
    return seeds.count()


class _blame:
    """Re-raise a store error as one line naming the seed file and row."""

    def __init__(self, seeds: SeedSet, table: str, number: int) -> None:
        self.where = f"{seeds.files.get(table, seeds.directory / f'{table}.json')}: row {number}"

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, AmpdbError) and not isinstance(exc, SeedError):
            raise SeedError(f"{self.where}: {exc}") from None
