"""PostgreSQL errors to ``pytest_ampdb.errors``, by SQLSTATE and constraint name only.

The migrations name every constraint as ``TableSpec`` does, so the violated constraint says which
key, reference or rule it was; the values come from the row the repository was writing, not
from PostgreSQL's message text (one exception: a delete refused for a row its cascade reached,
whose key only the detail's untranslated ``(column)=(value)`` part names). The result is the
exact error the memory store raises.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import psycopg

from pytest_ampdb.errors import (
    AlreadyExistsError,
    AmpdbError,
    ForeignKeyError,
    ValidationError,
)
from pytest_ampdb.models.schema import Check, ForeignKey, TableSpec, UniqueKey
from pytest_ampdb.models.tables import TABLES
from pytest_ampdb.postgres import sqlstate


class ConnectionLostError(AmpdbError):
    """The server stopped answering (killed, shut down, out of connections)."""


class ServerTimeoutError(AmpdbError):
    """The server gave up on a call (``statement_timeout`` / ``lock_timeout``); it still answers."""


GAVE_UP = frozenset({sqlstate.QUERY_CANCELED, sqlstate.LOCK_NOT_AVAILABLE})

_LOST_STATES = frozenset({"57P01", "57P02", "57P03"})


def connection_lost(exc: psycopg.Error) -> bool:
    """True for errors that mean the server (or the connection to it) is gone, not the query."""
    state = exc.sqlstate
    if state is None:
        return isinstance(exc, psycopg.OperationalError)
    return state.startswith("08") or state in _LOST_STATES


def translate(
    exc: psycopg.Error, spec: TableSpec[Any], row: Mapping[str, object]
) -> AmpdbError | None:
    """The ``AmpdbError`` for ``exc`` raised while writing ``row`` to ``spec``'s table, if any.

    ``row`` holds what the statement wrote (insert/update) or its key (delete).
    """
    state = exc.sqlstate
    diag = exc.diag
    table = TABLES.get(diag.table_name or "", spec)
    constraint = table.constraint(diag.constraint_name or "")
    if state == sqlstate.UNIQUE_VIOLATION and isinstance(constraint, UniqueKey):
        values = table.shown(constraint.columns, [row.get(c) for c in constraint.columns])
        return AlreadyExistsError(table.name, constraint.columns, values)
    if state == sqlstate.FOREIGN_KEY_VIOLATION and isinstance(constraint, ForeignKey):
        parent = TABLES[constraint.table]
        if table is spec and constraint.column in row:  # the written row points nowhere
            value = row[constraint.column]
            detail = f"no {parent.name} row with {parent.primary_key}={value}"
        else:  # a delete of the parent would leave this table's rows dangling
            value = _referenced_key(diag.message_detail) or row.get(parent.primary_key)
            detail = f"{parent.name} row {parent.primary_key}={value} is still referenced"
        return ForeignKeyError(table.name, constraint.column, parent.name, detail)
    if state == sqlstate.NOT_NULL_VIOLATION and diag.column_name:
        return ValidationError(table.name, diag.column_name, "must not be null")
    if state == sqlstate.CHECK_VIOLATION:
        return _check(table, diag.constraint_name or "", row)
    if state == sqlstate.IMMUTABLE_ROW:
        return ValidationError(table.name, table.primary_key, "rows are immutable once written")
    return None


_KEY_DETAIL = re.compile(r"\((?P<column>[^)]*)\)=\((?P<value>[^)]*)\)")


def _referenced_key(detail: str | None) -> str | None:
    """The parent key in PostgreSQL's detail ``Key (id)=(<uuid>) is still referenced ...``.

    A delete that cascades (a project's connections) is refused for a row the repository never
    named, so its key is only in the detail; the ``(column)=(value)`` part is not translated.
    """
    found = _KEY_DETAIL.search(detail or "")
    return found["value"] if found else None


def _check(table: TableSpec[Any], name: str, row: Mapping[str, object]) -> ValidationError:
    constraint = table.constraint(name)
    if isinstance(constraint, Check):
        return ValidationError(table.name, constraint.column, constraint.rule)
    for column in table.columns:  # enum checks: <table>_<column>_check
        if column.enum is not None and name == f"{table.name}_{column.name}_check":
            allowed = ", ".join(m.value for m in column.enum)
            return ValidationError(
                table.name, column.name, f"{row.get(column.name)!r} is not one of {allowed}"
            )
    return ValidationError(table.name, name, "check constraint failed")
