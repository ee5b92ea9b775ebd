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


class DatabaseError(AmpdbError):
    """PostgreSQL refused a call for a reason the schema's rules do not name: a serialization
    failure or deadlock (class 40, worth retrying), a cancelled statement (57), a read-only
    transaction (25), a missing privilege (42), ... ``sqlstate`` says which (``None`` when the
    driver itself refused, before the server)."""

    def __init__(self, table: str, sqlstate: str | None, message: str) -> None:
        self.table = table
        self.sqlstate = sqlstate
        code = f"SQLSTATE {sqlstate}" if sqlstate else "driver"
        super().__init__(f"{table}: PostgreSQL refused the call ({code}): {message}")


class ServerTimeoutError(DatabaseError):
    """The server gave up on a call (``statement_timeout`` / ``lock_timeout``); it still answers.

    A ``DatabaseError`` like any other refusal (``sqlstate`` 57014 or 55P03), worded for the
    test that waited: the backend and server (``label``) and why."""

    def __init__(self, label: str, table: str, sqlstate: str | None, message: str) -> None:
        self.table = table
        self.sqlstate = sqlstate
        AmpdbError.__init__(self, f"{label}: {message}")


GAVE_UP = frozenset({sqlstate.QUERY_CANCELED, sqlstate.LOCK_NOT_AVAILABLE})

_LOST_STATES = frozenset({"57P01", "57P02", "57P03"})
_VALUE_CLASSES = ("22", "54")
"""Data exceptions and program limits: the value written is at fault, as with a ValidationError."""


def reason(exc: BaseException) -> str:
    """The first meaningful line of a driver error."""
    lines = [line.strip() for line in str(exc).splitlines()]
    return next((line for line in lines if line), type(exc).__name__)


def connection_lost(exc: psycopg.Error) -> bool:
    """True for errors that mean the server (or the connection to it) is gone, not the query."""
    state = exc.sqlstate
    if state is None:
        return isinstance(exc, psycopg.OperationalError)
    return state.startswith("08") or state in _LOST_STATES


def translate(
    exc: psycopg.Error,
    spec: TableSpec[Any],
    row: Mapping[str, object],
    tables: Mapping[str, TableSpec[Any]] = TABLES,
) -> AmpdbError | None:
    """The ``AmpdbError`` for ``exc`` raised while writing ``row`` to ``spec``'s table.

    ``row`` holds what the statement wrote (insert/update) or its key (delete). Only an invalid
    status move gives ``None``: the engine reads the current status to report it.
    """
    state = exc.sqlstate
    diag = exc.diag
    table = tables.get(diag.table_name or "", spec)
    constraint = table.constraint(diag.constraint_name or "")
    if state == sqlstate.UNIQUE_VIOLATION and isinstance(constraint, UniqueKey):
        values = table.shown(constraint.columns, [row.get(c) for c in constraint.columns])
        return AlreadyExistsError(table.name, constraint.columns, values)
    if state == sqlstate.FOREIGN_KEY_VIOLATION and isinstance(constraint, ForeignKey):
        parent = tables[constraint.table]
        if table is spec and constraint.column in row:  # the written row points nowhere
            detail = constraint.missing(parent, row)
        else:  # a delete of the parent would leave this table's rows dangling
            named = _referenced_key(diag.message_detail, parent.primary_key)
            value = named if named is not None else row.get(parent.primary_key)
            detail = constraint.still_referenced(parent, value)
        return ForeignKeyError(table.name, constraint.column, parent.name, detail)
    if state == sqlstate.NOT_NULL_VIOLATION and diag.column_name:
        return ValidationError(table.name, diag.column_name, "must not be null")
    if state == sqlstate.CHECK_VIOLATION:
        return _check(table, diag.constraint_name or "", row)
    if state == sqlstate.IMMUTABLE_ROW:
        return ValidationError(table.name, table.primary_key, "rows are immutable once written")
    if state == sqlstate.INVALID_TRANSITION:
        return None
    message = diag.message_primary or str(exc).strip() or type(exc).__name__
    if state is not None and state.startswith(_VALUE_CLASSES):
        return ValidationError(table.name, diag.column_name or "value", message)
    return DatabaseError(table.name, state, message)


_KEY_DETAIL = re.compile(r"\((?P<columns>[^)]*)\)=\((?P<values>[^)]*)\)")


def _referenced_key(detail: str | None, column: str) -> str | None:
    """``column``'s value in PostgreSQL's detail ``Key (project_id, id)=(<p>, <id>) is still
    referenced ...``.

    A delete that cascades is refused for a row the repository never named, so its key is only
    in the detail; the ``(columns)=(values)`` part is not translated. The referenced columns
    are uuids, so a comma only ever separates two values.
    """
    found = _KEY_DETAIL.search(detail or "")
    if found is None:
        return None
    pairs = dict(zip(found["columns"].split(", "), found["values"].split(", "), strict=False))
    return pairs.get(column)


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
