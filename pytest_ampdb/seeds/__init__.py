"""Seed data: JSON per table, read and checked once, loaded into any backend in FK order."""

from pytest_ampdb.seeds.memory import load_into_store
from pytest_ampdb.seeds.reader import SeedError, SeedIds, SeedSet, read_seeds

__all__ = ["SeedError", "SeedIds", "SeedSet", "load_into_store", "read_seeds"]
