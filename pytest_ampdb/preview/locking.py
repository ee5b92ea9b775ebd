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
from pytest_ampdb.answers import open_bounded
from pytest_ampdb.preview.errors import PreviewLockTimeoutError

Connection = psycopg.Connection[Any]


def lock_key(name: str) -> int:
    """The advisory lock key of the preview ``name`` (on the maintenance database)."""
    return ownership.lock_key(f"pytest-ampdb preview {name}")


@contextlib.contextmanager
def locked(
    server_dsn: str, name: str, timeout: float, answer_timeout: float | None = None
) -> Iterator[Connection]:
    """An autocommit connection to the maintenance database holding the preview's lock, every
    call on it bounded by ``answer_timeout`` (``answers.open_bounded``; a call the server
    still runs, such as the preview's ``CREATE DATABASE`` or ``DROP DATABASE``, is waited for)."""
    conn = open_bounded(
        server_dsn, answer_timeout=answer_timeout, while_running=True, autocommit=True
    )
    try:
        key = lock_key(name)
        acquire(conn, name, key, timeout, poll=answer_timeout is not None)
        try:
            yield conn
        finally:
            if not conn.broken:
                with contextlib.suppress(psycopg.Error):
                    ownership.unlock(conn, key)
    finally:
        conn.close()


def acquire(conn: Connection, name: str, key: int, timeout: float, *, poll: bool = False) -> None:
    """Take the lock: at once if free, else wait up to ``timeout`` s (negative: forever).
    ``poll``: by tries with backoff, each a short call, so that a connection whose calls are
    bounded waits as long as the holder takes and still notices a server that froze."""
    if not ownership.acquire(conn, key, timeout=timeout, poll=poll):
        raise PreviewLockTimeoutError(name, timeout)
