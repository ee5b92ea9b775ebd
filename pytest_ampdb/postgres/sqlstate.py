"""SQLSTATE codes raised by the triggers in ``schema/migrations`` (and the standard ones we map).

The schema enforces the operation status moves and revision immutability in PostgreSQL itself, so
a write that bypasses the repositories is refused too. The triggers raise these dedicated codes
(class ``AM``, unused by PostgreSQL) so the postgres backend can tell them apart from any other
error and raise the same ``pytest_ampdb.errors`` class the memory store raises.
"""

from __future__ import annotations

from typing import Final

INVALID_TRANSITION: Final = "AM001"
"""``operations_status_move`` trigger: a status move not in ``OPERATION_MOVES``.

Message: ``operations: id=<id> cannot move from <old> to <new>`` (the text of the matching
``InvalidTransitionError``); ``table`` and ``column`` are set in the error's diagnostics.
"""

IMMUTABLE_ROW: Final = "AM002"
"""``<table>_immutable`` trigger (``ampdb_refuse_update``): an UPDATE of an immutable table's row.

Message: ``<table>.<pk>: rows are immutable once written`` (the text of the matching
``ValidationError``), detail ``<pk>=<value>``; ``table`` is set in the diagnostics.
"""

UNIQUE_VIOLATION: Final = "23505"
"""A primary or unique key would be duplicated (constraint name in the diagnostics)."""

FOREIGN_KEY_VIOLATION: Final = "23503"
"""A dangling reference, or a delete refused by ON DELETE RESTRICT."""

NOT_NULL_VIOLATION: Final = "23502"
"""A NOT NULL column got NULL (column name in the diagnostics)."""

CHECK_VIOLATION: Final = "23514"
"""An enum, pattern, length or scope CHECK failed (constraint name in the diagnostics)."""

QUERY_CANCELED: Final = "57014"
"""The server cancelled a statement: its ``statement_timeout`` ran out (or a cancel request)."""

LOCK_NOT_AVAILABLE: Final = "55P03"
"""A lock was not granted within ``lock_timeout``."""
