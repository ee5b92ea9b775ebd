"""Fixtures of the contract suite: the same tests over every backend.

``backend`` is parametrized over ``BACKENDS``; each name has a fixture ``<name>_repositories``
returning a ``RepositoriesMaker``: called with ``seeded=False`` it gives fresh ``Repositories``
on an empty store, with ``seeded=True`` fresh ones loaded with the packaged seeds. Adding a backend
is one entry in ``BACKENDS`` and one such fixture (e.g. ``postgres_repositories``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import psycopg
import pytest

from pytest_ampdb import memory, migrations
from pytest_ampdb.harness.isolation import empty_tables, repositories_over
from pytest_ampdb.harness.provisioning import LocalCluster
from pytest_ampdb.postgres.convert import configure_connection
from pytest_ampdb.seeds import SeedSet, load_into_store, read_seeds
from pytest_ampdb.seeds.postgres import load_into_postgres
from pytest_ampdb.types import Repositories

from .builders import Builder

BACKENDS = ("memory", pytest.param("postgres", marks=pytest.mark.postgres))


class RepositoriesMaker(Protocol):
    """Fresh repositories of one backend, empty or seeded."""

    def __call__(self, *, seeded: bool) -> Repositories: ...


@pytest.fixture(scope="session")
def seed_set() -> SeedSet:
    """The packaged seeds, read and checked once per session."""
    return read_seeds()


@pytest.fixture
def memory_repositories(seed_set: SeedSet) -> RepositoriesMaker:
    """Memory backend: every call is a new ``MemoryStore`` (nothing to clean up)."""

    def make(*, seeded: bool) -> Repositories:
        store = memory.MemoryStore()
        if seeded:
            load_into_store(store, seed_set)
        return memory.repositories(store)

    return make


@pytest.fixture(scope="session")
def contract_database(pg_cluster: LocalCluster, seed_set: SeedSet) -> str:
    """One migrated, seeded database for the whole contract suite (tests roll back)."""
    with psycopg.connect(pg_cluster.dsn(), autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS ampdb_contract WITH (FORCE)")
        admin.execute("CREATE DATABASE ampdb_contract")
    dsn = pg_cluster.dsn("ampdb_contract")
    migrations.apply(dsn)
    with psycopg.connect(dsn) as conn:
        load_into_postgres(conn, seed_set)
    return dsn


@pytest.fixture
def postgres_repositories(contract_database: str) -> Iterator[RepositoriesMaker]:
    """Postgres backend: each test works inside one transaction, rolled back afterwards."""
    conn = psycopg.connect(contract_database)
    configure_connection(conn)

    def make(*, seeded: bool) -> Repositories:
        conn.execute("SELECT 1")  # the test's transaction; repository writes nest savepoints
        if not seeded:
            empty_tables(conn)
        return repositories_over(conn)

    try:
        yield make
    finally:
        conn.rollback()
        conn.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend the test runs on."""
    name: str = request.param
    return name


@pytest.fixture
def make_repositories(backend: str, request: pytest.FixtureRequest) -> RepositoriesMaker:
    """The ``RepositoriesMaker`` of the backend under test."""
    maker: RepositoriesMaker = request.getfixturevalue(f"{backend}_repositories")
    return maker


@pytest.fixture
def repos(make_repositories: RepositoriesMaker) -> Repositories:
    """Repositories on an EMPTY store."""
    return make_repositories(seeded=False)


@pytest.fixture
def seeded(make_repositories: RepositoriesMaker) -> Repositories:
    """Repositories on a store loaded with the packaged seeds."""
    return make_repositories(seeded=True)


@pytest.fixture
def build(repos: Repositories) -> Builder:
    """Builds valid rows (and their parents) in ``repos``."""
    return Builder(repos)
