"""The pytest-postgresql side: its ``postgresql_proc`` factory (a template loaded with the same
schema and seeds) and its ``postgresql`` factory (a database cloned from the template for every
test, dropped after it).

Run with ``-p no:ampdb``. ``repos`` wraps the test's connection in the same repositories the
ampdb side uses, so the test bodies are identical.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from pytest_postgresql import factories

from isolation_support.template import load_template
from pytest_ampdb.postgres import configure_connection, repositories
from pytest_ampdb.seeds import read_seeds
from pytest_ampdb.types import Repositories

# Named apart from the plugin's own ``postgresql_proc``/``postgresql`` (same factories), which
# would otherwise win over a ``-p`` plugin's fixtures of the same name.
bench_postgresql_proc = factories.postgresql_proc(load=[load_template])
bench_postgresql = factories.postgresql("bench_postgresql_proc")

_PROJECT_ID = read_seeds().ids.project_id


@pytest.fixture
def repos(bench_postgresql: psycopg.Connection[Any]) -> Repositories:
    """Repositories over this test's freshly cloned database."""
    configure_connection(bench_postgresql)
    return repositories(bench_postgresql)


@pytest.fixture
def project_id() -> str:
    """The seeded project."""
    return _PROJECT_ID
