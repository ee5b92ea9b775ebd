"""Hook specifications other plugins and conftests implement (added with ``pytest_addhooks``)."""

from __future__ import annotations

import pytest

from pytest_ampdb.harness.settings import Settings
from pytest_ampdb.types import Repositories


@pytest.hookspec
def pytest_ampdb_configure(config: pytest.Config, settings: Settings) -> None:
    """Called once the settings are resolved; implementations may change ``settings``."""


@pytest.hookspec
def pytest_ampdb_seed(repos: Repositories) -> None:
    """Called once per session after the JSON seeds are loaded: add rows every test starts with.

    ``repos`` is also in effect (``pytest_ampdb.database``) while it runs, so factories'
    ``create()`` and code that reaches the facade write the same rows."""


@pytest.hookspec
def pytest_ampdb_database_ready(dsn: str) -> None:
    """Postgres mode: called when a database is migrated and seeded and about to be used."""
