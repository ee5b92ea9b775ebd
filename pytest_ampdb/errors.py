"""The errors every backend raises, so callers handle one set whatever the storage.

The memory store raises these directly; the postgres backend maps PostgreSQL's SQLSTATEs (and the
constraint names our migrations give) onto the same classes with the same messages, which is what
lets one test suite run against either backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class AmpdbError(Exception):
    """Base class of every error pytest-ampdb raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled and copied as built (message and attributes), not by calling ``__init__``
        again with the message alone, which the subclasses' own arguments refuse: an error
        raised in a worker process (``ProcessPoolExecutor``, multiprocessing) or copied
        (``copy.copy``) was a ``TypeError`` instead."""
        return _rebuilt, (type(self), self.args, self.__dict__)


class NotFoundError(AmpdbError):
    """The row asked for does not exist (or belongs to another project)."""

    def __init__(self, table: str, key: str) -> None:
        self.table = table
        self.key = key
        super().__init__(f"{table}: no row with {key}")


class AlreadyExistsError(AmpdbError):
    """A primary or unique key would be duplicated."""

    def __init__(self, table: str, columns: Sequence[str], values: Sequence[object]) -> None:
        self.table = table
        self.columns = tuple(columns)
        self.values = tuple(values)
        super().__init__(f"{table}: a row with {_pairs(columns, values)} already exists")


class ForeignKeyError(AmpdbError):
    """A reference points at a missing row, or a delete would orphan children."""

    def __init__(self, table: str, column: str, references: str, detail: str) -> None:
        self.table = table
        self.column = column
        self.references = references
        super().__init__(f"{table}.{column} -> {references}: {detail}")


class InvalidTransitionError(AmpdbError):
    """An operation status move that the allowed moves do not contain."""

    def __init__(self, table: str, key: str, current: str, target: str) -> None:
        self.table = table
        self.key = key
        self.current = current
        self.target = target
        super().__init__(f"{table}: {key} cannot move from {current} to {target}")


class ValidationError(AmpdbError):
    """A value breaks a rule of the schema (not null, enum, pattern, length, immutability)."""

    def __init__(self, table: str, column: str, rule: str) -> None:
        self.table = table
        self.column = column
        self.rule = rule
        super().__init__(f"{table}.{column}: {rule}")


def _rebuilt(kind: type[AmpdbError], args: tuple[Any, ...], state: dict[str, Any]) -> AmpdbError:
    """An error of ``kind`` holding ``args`` and the attributes in ``state`` (``__reduce__``)."""
    error = kind.__new__(kind)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


def _pairs(columns: Sequence[str], values: Sequence[object]) -> str:
    return ", ".join(f"{c}={v}" for c, v in zip(columns, values, strict=True))
