"""Column kinds, read from model annotations so each column is declared exactly once.

A model field's annotation says what PostgreSQL type the column has: ``Id`` is ``uuid``, ``Json``
is ``jsonb``, ``TextArray`` is ``text[]``, a ``StrEnum`` is ``text`` with a CHECK, ``X | None`` is
nullable. The memory store, the postgres backend, the seed loader and the catalog test all read
these, so a column added to a model shows up everywhere (and fails CI until a migration adds it).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from typing import Annotated, Any


class Kind(Enum):
    """The PostgreSQL type family of a column."""

    UUID = "uuid"
    TEXT = "text"
    BOOLEAN = "boolean"
    BIGINT = "bigint"
    TIMESTAMPTZ = "timestamp with time zone"
    JSONB = "jsonb"
    TEXT_ARRAY = "text[]"


Id = Annotated[str, Kind.UUID]
"""A UUID, held as its canonical lowercase text (what psycopg's text loader gives back)."""

JsonObject = Annotated[dict[str, Any], Kind.JSONB]
"""A jsonb document (an object)."""

JsonValue = Annotated[Any, Kind.JSONB]
"""A jsonb document of any JSON type."""

TextArray = Annotated[tuple[str, ...], Kind.TEXT_ARRAY]
"""A text[] column, held as a tuple so a model stays immutable."""


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a table, derived from one model field."""

    name: str
    kind: Kind
    nullable: bool
    enum: type[StrEnum] | None = None


def columns_of(model: type[Any]) -> tuple[Column, ...]:
    """The columns of a model dataclass, in field order."""
    hints = typing.get_type_hints(model, include_extras=True)
    return tuple(_column(f.name, hints[f.name]) for f in dataclasses.fields(model))


def _column(name: str, hint: Any) -> Column:
    nullable = False
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        rest = [a for a in args if a is not type(None)]
        nullable = len(rest) != len(args)
        if len(rest) != 1:
            raise TypeError(f"column {name}: unsupported union {hint!r}")
        hint = rest[0]
    if typing.get_origin(hint) is Annotated:
        kind = next(a for a in typing.get_args(hint)[1:] if isinstance(a, Kind))
        return Column(name, kind, nullable)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return Column(name, Kind.TEXT, nullable, enum=hint)
    simple: dict[Any, Kind] = {
        str: Kind.TEXT,
        bool: Kind.BOOLEAN,
        int: Kind.BIGINT,
        datetime: Kind.TIMESTAMPTZ,
    }
    if hint in simple:
        return Column(name, simple[hint], nullable)
    raise TypeError(f"column {name}: no column kind for {hint!r}")
