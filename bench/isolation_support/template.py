"""Fill a database with the project's schema and seeds: the same migrations (through the same
executor) and the same seed loader ampdb's template is built with."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from pytest_ampdb import migrations
from pytest_ampdb.harness.provisioning.local import LocalCluster
from pytest_ampdb.paths import migrations_dir
from pytest_ampdb.seeds import read_seeds
from pytest_ampdb.seeds.postgres import load_into_postgres


def fill(dsn: str) -> None:
    """Apply ``schema/migrations`` in order, then load ``schema/seed``."""
    migrations.apply(dsn, migrations_dir())
    with psycopg.connect(dsn) as conn:
        load_into_postgres(conn, read_seeds())
        conn.commit()


def load_template(
    host: str, port: int, user: str, dbname: str, password: str | None, **_: Any
) -> None:
    """pytest-postgresql ``load`` callable: fills its template database."""
    fill(make_conninfo(host=host, port=port, user=user, dbname=dbname, password=password or ""))


@contextmanager
def throwaway_database(name: str = "bench") -> Iterator[str]:
    """A throwaway local cluster started the way ampdb starts one (same server settings), with
    one database filled by ``fill``; its dsn. The cluster is stopped and removed afterwards."""
    cluster = LocalCluster.start(major=15)
    try:
        with psycopg.connect(cluster.dsn("postgres"), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        fill(cluster.dsn(name))
        yield cluster.dsn(name)
    finally:
        cluster.stop()
