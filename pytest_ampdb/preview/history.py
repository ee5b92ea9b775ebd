"""Has a migration that the preview already ran been edited or removed since? (A preview refuses
either and asks for a rebuild; the comparison itself is the migration engine's.)"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_ampdb.migrations.directory import MigrationFile
from pytest_ampdb.migrations.history import drift
from pytest_ampdb.migrations.revisions import Revision
from pytest_ampdb.preview.errors import HistoryDriftError


def check_history(
    database: str, files: Sequence[MigrationFile], revisions: Sequence[Revision]
) -> None:
    """Raise :class:`HistoryDriftError` for the first applied file that changed or is gone."""
    found = drift(files, revisions)
    if found is not None:
        raise HistoryDriftError(database, *found)
