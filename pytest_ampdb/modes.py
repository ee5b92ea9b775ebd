"""The modes a run or a process chooses between, declared once as enums.

``Backend`` is also what ``AMPDB_BACKEND`` names for the process-wide default of
``pytest_ampdb.database``; ``ServerSource`` and ``Isolation`` are the plugin's
``--ampdb-postgres`` and ``--ampdb-isolation``. Each value is the string a user writes.
"""

from __future__ import annotations

from enum import StrEnum


class Backend(StrEnum):
    """Where the repositories keep rows."""

    MEMORY = "memory"
    POSTGRES = "postgres"


class ServerSource(StrEnum):
    """Where a postgres run's server comes from."""

    AUTO = "auto"
    """A DSN if given, else a container when Docker answers, else local binaries."""
    CONTAINER = "container"
    LOCAL = "local"
    DSN = "dsn"
    PREVIEW = "preview"
    """The branch's preview database on a shared server (``--ampdb-dsn``)."""


class Isolation(StrEnum):
    """How a postgres test is kept apart from the others."""

    TRANSACTION = "transaction"
    DATABASE = "database"
    TRUNCATE = "truncate"


def choices(mode: type[StrEnum]) -> str:
    """``memory, postgres``: the values, for a message naming what is allowed."""
    return ", ".join(mode)
