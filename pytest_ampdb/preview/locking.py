"""The per-preview advisory lock, held on the server's maintenance database.

Keyed by the preview's name, so two jobs of the same branch serialize while jobs of other
branches run freely. The migration engine's own lock (inside the preview) only guards
``apply``; this one also covers CREATE DATABASE, seeding, marking and dropping.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg

from pytest_ampdb import ownership
from pytest_ampdb.preview.errors import PreviewLockTimeoutError
from pytest_ampdb.urls import bounded

Connection = psycopg.Connection[Any]


def lock_key(name: str) -> int:
    """The advisory lock key of the preview ``name`` (on the maintenance database)."""
    return ownership.lock_key(f"pytest-ampdb preview {name}")


@contextlib.contextmanager
def locked(server_dsn: str, name: str, timeout: float) -> Iterator[Connection]:
    """An autocommit connection to the maintenance database holding the preview's lock."""
    conn = psycopg.connect(server_dsn, autocommit=True, **bounded(server_dsn))
    try:
        key = lock_key(name)
        acquire(conn, name, key, timeout)
        try:
            yield conn
        finally:
            if not conn.broken:
                with contextlib.suppress(psycopg.Error):
                    ownership.unlock(conn, key)
    finally:
        conn.close()


def acquire(conn: Connection, name: str, key: int, timeout: float) -> None:
    """Take the lock: at once if free, else wait up to ``timeout`` s (negative: forever)."""
    if not ownership.acquire(conn, key, timeout=timeout):
        raise PreviewLockTimeoutError(name, timeout)
