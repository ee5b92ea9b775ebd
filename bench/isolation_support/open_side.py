"""The body's own cost: every test runs against one already-open connection to one database,
with no per-test isolation at all (rows accumulate; each repository call commits).

The database lives on a throwaway local cluster started the way ampdb starts one (same server
settings), created and filled before the first test, so none of that is timed. Run with
``-p no:ampdb``.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import psycopg
import pytest

from isolation_support.template import throwaway_database
from pytest_ampdb.postgres import configure_connection, repositories
from pytest_ampdb.seeds import read_seeds
from pytest_ampdb.types import Repositories

_STATE: dict[str, Any] = {}
_PROJECT_ID = read_seeds().ids.project_id


def pytest_sessionstart(session: pytest.Session) -> None:
    stack = ExitStack()
    _STATE["stack"] = stack
    conn = psycopg.connect(stack.enter_context(throwaway_database()))
    configure_connection(conn)
    _STATE["conn"] = conn
    _STATE["repos"] = repositories(conn)


def pytest_unconfigure(config: pytest.Config) -> None:
    conn = _STATE.pop("conn", None)
    if conn is not None:
        conn.close()
    stack = _STATE.pop("stack", None)
    if stack is not None:
        stack.close()


@pytest.fixture
def repos() -> Repositories:
    """The one shared set of repositories."""
    return _STATE["repos"]  # type: ignore[no-any-return]


@pytest.fixture
def project_id() -> str:
    """The seeded project."""
    return _PROJECT_ID
