"""Seed data: JSON per table, read and checked once, loaded into any backend in FK order."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_ampdb.memory.store import MemoryStore
from pytest_ampdb.models.schema import TableSpec
from pytest_ampdb.models.tables import TABLES
from pytest_ampdb.seeds.memory import load_into_store
from pytest_ampdb.seeds.reader import SeedError, SeedIds, SeedSet, read_files


def read_seeds(
    directory: Path | None = None, tables: Mapping[str, TableSpec[Any]] = TABLES
) -> SeedSet:
    """Read and check every seed file of ``directory`` (default: the packaged seeds) against
    the declared ``tables``.

    Keys and references across the files are checked by loading them into a scratch memory
    store, so a broken seed set stops the run with the store's one-line error.
    """
    seeds = read_files(directory, tables)
    load_into_store(MemoryStore(tables), seeds)
    return seeds


__all__ = ["SeedError", "SeedIds", "SeedSet", "load_into_store", "read_seeds"]
