"""The call bench's body timing, importable by this tree and by the baseline commit's package.

It imports only what both trees have (``pytest_ampdb.postgres`` and the shared body), and finds
``repositories_over`` wherever the running tree keeps it: the baseline had it in
``pytest_ampdb.postgres.isolation``, before the harness was split from the data layer.
"""

from __future__ import annotations

import importlib
import statistics
import time
from collections.abc import Callable
from typing import Any

import psycopg

from isolation_support.body import exercise
from pytest_ampdb import postgres
from pytest_ampdb.types import Repositories

_HOMES = ("pytest_ampdb.harness.isolation", "pytest_ampdb.postgres.isolation")


def repositories_over(conn: psycopg.Connection[Any]) -> Repositories:
    """Repositories sharing ``conn`` (writes in a savepoint inside its transaction)."""
    for home in _HOMES:
        try:
            module = importlib.import_module(home)
        except ModuleNotFoundError:
            continue
        over: Callable[[psycopg.Connection[Any]], Repositories] = module.repositories_over
        return over(conn)
    raise ModuleNotFoundError(f"repositories_over is in none of {', '.join(_HOMES)}")


def body_figures(dsn: str, pid: str, bodies: int) -> dict[str, float]:
    """Median ms per body: on an open connection (each call its own transaction) and inside
    one open transaction (``transaction`` isolation, rolled back at the end)."""
    out: dict[str, float] = {}
    with psycopg.connect(dsn) as conn:
        postgres.configure_connection(conn)
        for mode in ("open", "transaction"):
            if mode == "transaction":
                conn.execute("SELECT 1")
                repos = repositories_over(conn)
            else:
                repos = postgres.repositories(conn)
            times = []
            for _ in range(bodies):
                started = time.perf_counter()
                exercise(repos, pid)
                times.append((time.perf_counter() - started) * 1000.0)
            out[mode] = statistics.median(times)
            conn.rollback()
    return out
