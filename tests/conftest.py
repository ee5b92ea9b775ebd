"""Fixtures shared by pytest-ampdb's own test suite."""

from __future__ import annotations

# ============================================================================================
# Real PostgreSQL 15 (local cluster) — pg_cluster, pg_admin_dsn, fresh_database.
# One cluster per test session (per xdist worker: each worker starts its own); a test that
# wants a database of its own takes `fresh_database`. Without PostgreSQL binaries these
# fixtures skip, except under CI (env CI set), where they fail.
# ============================================================================================
import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from pytest_ampdb.harness.provisioning import BinariesNotFoundError, LocalCluster


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[LocalCluster]:
    """A local PostgreSQL 15 cluster for the whole session, stopped at the end."""
    try:
        cluster = LocalCluster.start(major=15)
    except BinariesNotFoundError as exc:
        reason = f"needs PostgreSQL 15 server binaries: {exc}"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    with cluster:
        yield cluster


@pytest.fixture
def pg_admin_dsn(pg_cluster: LocalCluster) -> str:
    """The URL of the cluster's ``postgres`` database (superuser ``postgres``)."""
    return pg_cluster.dsn("postgres")


@pytest.fixture
def fresh_database(pg_cluster: LocalCluster, pg_admin_dsn: str) -> Iterator[str]:
    """A new, empty database of this test's own; returns its URL, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:20]}"
    ident = sql.Identifier(name)
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    yield pg_cluster.dsn(name)
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


@pytest.fixture(scope="module")
def migrated_dsn(pg_cluster: LocalCluster) -> Iterator[str]:
    """A database of the test module's own with every packaged migration applied."""
    from pytest_ampdb import migrations
    from pytest_ampdb.paths import migrations_dir

    name = f"migrated_{uuid.uuid4().hex[:16]}"
    admin = pg_cluster.dsn("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        dsn: str = pg_cluster.dsn(name)
        migrations.apply(dsn, migrations_dir())
        yield dsn
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(name)))


# ============================================================================================
# End of the real-PostgreSQL block.
# ============================================================================================


# ============================================================================================
# Markers: a test that takes a real-PostgreSQL fixture is marked `postgres`, so the tox memory
# envs can leave those out (`-m "not postgres"`) while the full run keeps them.
# ============================================================================================
_POSTGRES_FIXTURES = frozenset({"pg_cluster", "pg_admin_dsn", "fresh_database", "migrated_dsn"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _POSTGRES_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)
