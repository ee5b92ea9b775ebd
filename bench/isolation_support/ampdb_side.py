"""The ampdb side: ``repos`` and ``project_id`` from the plugin's ``ampdb`` and ``ampdb_seed``.

Run with ``--ampdb=postgres --ampdb-postgres=local --ampdb-isolation=<mode>``.
"""

from __future__ import annotations

import pytest

from pytest_ampdb.seeds import SeedIds
from pytest_ampdb.types import Repositories


@pytest.fixture
def repos(ampdb: Repositories) -> Repositories:
    """This test's repositories, isolated by the plugin."""
    return ampdb


@pytest.fixture
def project_id(ampdb_seed: SeedIds) -> str:
    """The seeded project."""
    return ampdb_seed.project_id
