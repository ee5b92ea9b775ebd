"""Fill a database with the project's schema and seeds: the same migrations (through the same
executor) and the same seed loader ampdb's template is built with."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from pytest_ampdb import migrations
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
