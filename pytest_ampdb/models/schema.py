"""The declarative table description one mechanism in every layer works from.

A ``TableSpec`` says what differs per entity: its model, primary key, unique keys, foreign keys
(with the ON DELETE the migrations declare), CHECK rules, the status moves a column allows, the
list order and the project scope. Constraint names are the ones the migrations give, so the
postgres backend maps a violated constraint back to the same error the memory store raises.
"""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from functools import cached_property
from typing import Any, Generic, TypeVar

from pytest_ampdb.errors import InvalidTransitionError, ValidationError
from pytest_ampdb.models.columns import Column, Kind, columns_of
from pytest_ampdb.models.construct import constructor

M = TypeVar("M")
Row = dict[str, Any]


class OnDelete(Enum):
    """What deleting a referenced row does to the rows that reference it."""

    CASCADE = "CASCADE"
    NO_ACTION = "NO ACTION"
    """Refuse, checked once the whole cascade is known (not RESTRICT, which would refuse a
    delete whose cascade removes the referencing row too, e.g. a project's installations)."""
    SET_NULL = "SET NULL"


@dataclass(frozen=True, slots=True)
class UniqueKey:
    """A unique (or primary) key and the constraint name the migrations give it."""

    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ForeignKey:
    """A reference from ``column`` to another table's primary key.

    With a ``scope`` (``project_id``) the reference is composite, ``(scope, column) ->
    (scope, <primary key>)``: the referenced row must be in the referencing row's project, so
    no reference, and no ON DELETE, ever leaves the project. SET NULL clears ``column`` only.
    """

    name: str
    column: str
    table: str
    on_delete: OnDelete
    scope: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """The referencing columns, in the constraint's order."""
        return (self.column,) if self.scope is None else (self.scope, self.column)

    def target(self, parent: TableSpec[Any]) -> tuple[str, ...]:
        """The referenced columns of ``parent``, matching ``columns`` one to one."""
        pk = parent.primary_key
        return (pk,) if self.scope is None else (self.scope, pk)

    def missing(self, parent: TableSpec[Any], row: Mapping[str, object]) -> str:
        """Why ``row``'s reference is refused: no such parent (in its project, when scoped).

        A row of another project is described exactly as a missing one, so the error tells
        nothing about other tenants; a secret it names (an API key) is shown as ``***``.
        """
        target = self.target(parent)
        values = parent.shown(target, [row.get(c) for c in self.columns])
        pairs = ", ".join(f"{c}={v}" for c, v in zip(target, values, strict=True))
        return f"no {parent.name} row with {pairs}"

    @staticmethod
    def still_referenced(parent: TableSpec[Any], key: object) -> str:
        """Why deleting ``parent``'s row ``key`` is refused (a secret key shown as ``***``)."""
        pk = parent.primary_key
        return f"{parent.name} row {pk}={parent.shown((pk,), (key,))[0]} is still referenced"


@dataclass(frozen=True, slots=True)
class Check:
    """A CHECK constraint: its name, the column it guards, a predicate (what the memory store
    runs), the rule in words and the same rule as a SQL expression (what PostgreSQL runs)."""

    name: str
    column: str
    predicate: Callable[[Any], bool]
    rule: str
    sql: str


@dataclass(frozen=True, eq=False)
class TableSpec(Generic[M]):
    """Everything about one table that is not plain column data (compared by identity)."""

    name: str
    model: type[M]
    primary_key: str = "id"
    unique: tuple[UniqueKey, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    checks: tuple[Check, ...] = ()
    order_by: tuple[str, ...] = ("create_time", "id")
    lookups: tuple[tuple[str, ...], ...] = ()
    """Equality filters a page of a list is read by, besides the scope: each is kept in list
    order, in the memory store and in the migrations (an index led by those columns)."""
    indexes: tuple[tuple[str, ...], ...] = ()
    """Indexes besides the keys and the list-order index (``list_order_index``): each a tuple
    of columns, named ``<table>_<columns>_idx`` (references, lookups, other read orders)."""
    scope: str | None = "project_id"
    created_column: str | None = "create_time"
    updated_column: str | None = "update_time"
    updated_on_create: bool = False
    immutable: bool = False
    transitions: Mapping[str, Mapping[str, frozenset[str]]] = field(default_factory=dict)
    defaulted: frozenset[str] = frozenset()
    """Columns whose model default is also their SQL DEFAULT (what ``extend`` declares for the
    columns and entities a project adds, so existing rows get the value)."""
    normalizers: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)

    @cached_property
    def columns(self) -> tuple[Column, ...]:
        """Model columns; the repository-filled times are NOT NULL in the table."""
        required = {self.created_column} if self.created_column else set()
        if self.updated_on_create and self.updated_column:
            required.add(self.updated_column)
        return tuple(
            Column(c.name, c.kind, False, c.enum) if c.name in required else c
            for c in columns_of(self.model)
        )

    @cached_property
    def declared_defaults(self) -> dict[str, Any]:
        """The model defaults of the ``defaulted`` columns: what a row that omits one gets
        (a seed row, an existing row when the column is added), in both backends."""
        return {
            f.name: f.default
            for f in dataclasses.fields(self.model)  # type: ignore[arg-type]
            if f.name in self.defaulted and f.default is not dataclasses.MISSING
        }

    @cached_property
    def column_map(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}

    @cached_property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @cached_property
    def list_indexes(self) -> tuple[tuple[str, ...], ...]:
        """The equality columns of every index kept in list order: the scope (none, the whole
        table, for an unscoped table), then each declared lookup. (A reference column is
        indexed too, for deletes and its own lookups, but needs no order.)"""
        found: list[tuple[str, ...]] = [(self.scope,)] if self.scope else [()]
        return tuple(dict.fromkeys([*found, *self.lookups]))

    @cached_property
    def list_order_index(self) -> tuple[str, ...]:
        """The columns of the index a page of ``list`` reads: the scope, then the order."""
        return ((self.scope,) if self.scope else ()) + self.order_by

    @cached_property
    def index_columns(self) -> tuple[tuple[str, ...], ...]:
        """Every non-key index of the table: the list order first, then the declared ones."""
        return tuple(dict.fromkeys([self.list_order_index, *self.indexes]))

    @cached_property
    def primary(self) -> UniqueKey:
        return UniqueKey(f"{self.name}_pkey", (self.primary_key,))

    @cached_property
    def scope_key(self) -> UniqueKey | None:
        """``UNIQUE (scope, primary key)``: what a project-scoped reference to this table needs."""
        if self.scope is None:
            return None
        columns = (self.scope, self.primary_key)
        return UniqueKey(f"{self.name}_{'_'.join(columns)}_key", columns)

    @cached_property
    def keys(self) -> tuple[UniqueKey, ...]:
        """The primary key first, then the unique keys: the order duplicates are reported in."""
        return (self.primary, *self.unique)

    def constraint(self, name: str) -> UniqueKey | ForeignKey | Check | None:
        """The key, reference or check with this constraint name, if it is one of ours."""
        items: tuple[UniqueKey | ForeignKey | Check, ...] = (
            *self.keys,
            *self.foreign_keys,
            *self.checks,
        )
        return next((item for item in items if item.name == name), None)

    def shown(self, columns: Sequence[str], values: Sequence[object]) -> tuple[object, ...]:
        """Values as an error message may show them: secrets (an API key) as ``***``."""
        secrets: frozenset[str] = getattr(self.model, "secrets", frozenset())
        return tuple("***" if c in secrets else v for c, v in zip(columns, values, strict=True))

    def key_of(self, row: Mapping[str, object]) -> dict[str, object]:
        """The row's key as every error names it (get, update, delete, a status move): the
        scope first, then the primary key."""
        key = {self.scope: row[self.scope]} if self.scope else {}
        key[self.primary_key] = row[self.primary_key]
        return key

    def described(self, key: Mapping[str, object]) -> str:
        """``key`` as an error's ``key`` shows it (``project_id=..., id=...``), secrets hidden."""
        shown = self.shown(list(key), list(key.values()))
        return ", ".join(f"{k}={v}" for k, v in zip(key, shown, strict=True))

    def moves_into(self, column: str, target: object) -> frozenset[object]:
        """The values of ``column`` a row may hold to be given ``target`` (itself included: an
        unchanged status is no move), by the column's ``transitions``."""
        moves = self.transitions[column]
        return frozenset({target, *(s for s, allowed in moves.items() if target in allowed)})

    def refused_move(
        self, row: Mapping[str, object], column: str, target: object
    ) -> InvalidTransitionError:
        """The error of a move of ``row``'s ``column`` to ``target`` its rules refuse, naming
        the value the row held when it was refused (every engine, and a move's race, alike)."""
        key = self.described(self.key_of(row))
        return InvalidTransitionError(self.name, key, str(row[column]), str(target))

    def to_row(self, entity: M) -> Row:
        """The columns of ``entity``; something without them (a dict, another table's model,
        ``None``, the model class itself) is one ``TypeError`` line naming the table and the
        model it takes."""
        if not isinstance(entity, type):  # a slotted class has its columns, as descriptors
            kind = type(entity)
            if kind is not self.model and (extra := self._fields_not_held(kind)):
                raise TypeError(
                    f"{self.name}: {kind.__name__} has fields the table does not hold "
                    f"({extra}); declare it as the table's model (--ampdb-schema) so its "
                    "columns exist, or pass a " + getattr(self.model, "__name__", "model")
                )
            try:
                return {name: getattr(entity, name) for name in self.column_names}
            except AttributeError:
                pass
        model = getattr(self.model, "__name__", self.model)
        got = type(entity).__name__
        if isinstance(entity, type):
            got = f"the class {entity.__name__} (not an instance of it)"
        raise TypeError(f"{self.name}: expected a {model}, got {got}")

    @cached_property
    def _other_models(self) -> dict[type, str]:
        """Per subclass of the model given to ``to_row``: its fields the table lacks."""
        return {}

    def _fields_not_held(self, kind: type) -> str:
        """The dataclass fields of ``kind`` the table has no column for (a subclass that adds
        fields and is not declared: storing it would drop them, in both backends, silently)."""
        known = self._other_models.get(kind)
        if known is None:
            if not (issubclass(kind, self.model) and dataclasses.is_dataclass(kind)):
                return ""  # not remembered: a mock's class is new on every instance
            held = set(self.column_names)
            known = self._other_models[kind] = ", ".join(
                f.name for f in dataclasses.fields(kind) if f.name not in held
            )
        return known

    @cached_property
    def _build(self) -> Callable[[Mapping[str, Any]], M]:
        return constructor(self.model)

    def to_model(self, row: Mapping[str, Any]) -> M:
        """The model of a stored row (exactly ``model(**row)``, built faster where it can be)."""
        return self._build(row)

    @cached_property
    def _steps(self) -> tuple[tuple[Column, Callable[[Column, Any], Any], Any], ...]:
        """Per column: the column, its kind's coercion and its normalizer (or None)."""
        return tuple((c, _COERCE[c.kind], self.normalizers.get(c.name)) for c in self.columns)

    @cached_property
    def _coercions(self) -> dict[str, tuple[Column, Callable[[Column, Any], Any]]]:
        return {column.name: (column, convert) for column, convert, _ in self._steps}

    def stored(self, name: str, value: Any) -> Any:
        """``value`` in column ``name``'s stored form (``coerce``, with the column found once
        per table rather than per call)."""
        column, convert = self._coercions[name]
        try:
            return convert(column, value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValidationError(self.name, name, f"{exc}") from None

    def normalize(self, row: Mapping[str, Any]) -> Row:
        """Coerce values to their stored form and enforce what a column type, NOT NULL and CHECK do.

        Both backends call this before writing, so a value PostgreSQL would reject (or store in a
        different form: an upper-case UUID, a naive time, a JSON tuple) is treated the same way.
        """
        out: Row = {}
        for column, convert, normalizer in self._steps:
            value = row.get(column.name)
            if normalizer is not None and value is not None:
                value = normalizer(value)
            if value is None:
                if not column.nullable:
                    raise ValidationError(self.name, column.name, "must not be null")
                out[column.name] = None
                continue
            try:  # ``coerce``, inlined: this runs for every column of every write
                out[column.name] = convert(column, value)
            except (TypeError, ValueError, OverflowError) as exc:
                raise ValidationError(self.name, column.name, f"{exc}") from None
        for check in self.checks:
            value = out[check.column]
            if value is not None and not check.predicate(value):
                raise ValidationError(self.name, check.column, check.rule)
        return out


MAX_JSON_DEPTH = 100
"""Nesting a jsonb document may have: PostgreSQL takes deeper ones, but Python's recursion (in
``json`` and here) would fail far below what PostgreSQL allows, so both backends refuse them."""

BEYOND_9999 = timezone(-timedelta(hours=23, minutes=59))
"""Where a time is kept whose UTC value passes year 9999 (PostgreSQL stores it; a UTC Python
``datetime`` cannot hold it): the same instant at the farthest-west offset, so it still fits."""


def coerce(table: str, column: Column, value: Any) -> Any:
    """One value in its stored Python form, or a ``ValidationError`` naming table and column."""
    try:
        return _BY_KIND[column.kind._value_](column, value)  # no Enum.__hash__ (Python code)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValidationError(table, column.name, f"{exc}") from None


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


KNOWN_UUIDS_LIMIT = 16_384
"""Canonical UUID texts remembered as checked; past it the memory starts over."""

_known_uuids: set[str] = set()
"""UUID texts already found canonical: an id is checked on every call naming it (each lookup,
each write of a row referencing it), and a set lookup is a sixth of the pattern match's cost."""


def _uuid(column: Column, value: Any) -> str:
    if type(value) is str:  # already the stored form?
        if value in _known_uuids:
            return value
        if _CANONICAL_UUID.fullmatch(value):
            if len(_known_uuids) >= KNOWN_UUIDS_LIMIT:
                _known_uuids.clear()
            _known_uuids.add(value)
            return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise TypeError(f"expected a UUID, got {type(value).__name__}")
    try:
        return str(uuid.UUID(value))
    except ValueError:  # not quoted: an API key passed by mistake is a secret
        raise ValueError(f"a {len(value)}-character text is not a valid UUID") from None


def _text(column: Column, value: Any) -> Any:
    if type(value) is str and column.enum is None and value.isascii() and "\x00" not in value:
        return value  # already the stored form (ASCII has no surrogates)
    if column.enum is not None:
        if type(value) is column.enum:
            return value
        try:
            return column.enum(value)
        except ValueError:
            allowed = ", ".join(m.value for m in column.enum)
            raise ValueError(f"{value!r} is not one of {allowed}") from None
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return _plain_text(value)


def _plain_text(value: str) -> str:
    """``value`` as the plain ``str`` PostgreSQL hands back (a subclass or a ``StrEnum`` member
    is copied to its text), refused where PostgreSQL would refuse it."""
    if "\x00" in value:
        raise ValueError("text cannot contain NUL characters")
    _check_encodable(value)
    return str.__str__(value)


def _check_encodable(value: str) -> None:
    """PostgreSQL stores UTF-8: a str with a surrogate code point (lone, or a pair left
    uncombined) cannot be sent, so it is refused here as it would be there."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text cannot contain surrogate characters") from None


def _boolean(column: Column, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected a boolean, got {type(value).__name__}")
    return value


_BIGINT_MIN, _BIGINT_END = -(2**63), 2**63


def _bigint(column: Column, value: Any) -> int:
    if type(value) is int and _BIGINT_MIN <= value < _BIGINT_END:
        return value  # already the stored form
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    if not _BIGINT_MIN <= value < _BIGINT_END:
        raise ValueError("out of range for bigint")
    return int.__index__(value)  # an IntEnum member or other subclass: the plain int


def _timestamptz(column: Column, value: Any) -> datetime:
    if type(value) is datetime and value.tzinfo is UTC:
        return value  # already the stored form
    if isinstance(value, str):
        value = _parsed_time(value)
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # after 9999-12-31 in UTC: PostgreSQL stores it, keep it as it can be
        value = _beyond_9999(value)
    if type(value) is datetime:
        return value
    v = value  # a subclass (a frozen clock's) as the plain datetime PostgreSQL returns
    return datetime(
        v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, v.tzinfo, fold=v.fold
    )


_SUBMICRO = re.compile(r"(?<=\d)[.,](\d{7,})")
"""A fraction of a second finer than a microsecond, in an ISO 8601 time."""


_NOT_POSTGRESQL_ISO = re.compile(r",|W|^[^Tt ]+[Tt ]\d\d(?:$|[Z+\-.])")
"""ISO 8601 forms ``datetime.fromisoformat`` reads and PostgreSQL refuses: a comma before the
fraction (``00:00:00,5``), a week date (``2024-W01-1``), a time of the hour alone (``T00``,
``T10.5``)."""


def _parsed_time(text: str) -> datetime:
    """``text`` (ISO 8601) as PostgreSQL reads it: a fraction finer than a microsecond is
    rounded to the microsecond, half to even (``...00.1234567`` is ``.123457``, ``.9999995`` the
    next second), where ``datetime.fromisoformat`` drops the digits past the sixth; a form
    PostgreSQL refuses is refused."""
    if _NOT_POSTGRESQL_ISO.search(text):
        raise ValueError(f"invalid input syntax for type timestamp with time zone: {text!r}")
    finer = _SUBMICRO.search(text)
    if finer is None:
        return datetime.fromisoformat(text)
    whole = datetime.fromisoformat(text[: finer.start()] + text[finer.end() :])
    micro = timedelta(microseconds=round(Decimal(f"0.{finer.group(1)}") * 1_000_000))
    try:
        return whole + micro
    except OverflowError:  # carried past 9999-12-31: PostgreSQL holds it, kept as it can be
        aware = whole if whole.tzinfo is not None else whole.replace(tzinfo=UTC)
        return _beyond_9999(aware) + micro


def _beyond_9999(value: datetime) -> datetime:
    """``value`` (aware, past 9999 in UTC) at ``BEYOND_9999``, shifted on its wall clock (going
    through UTC, as ``astimezone`` does, would overflow)."""
    shift = BEYOND_9999.utcoffset(None) - (value.utcoffset() or timedelta())
    try:
        return (value.replace(tzinfo=None) + shift).replace(tzinfo=BEYOND_9999)
    except OverflowError:
        raise ValueError("out of range for timestamp with time zone") from None


def _jsonb(column: Column, value: Any) -> Any:
    _check_depth(value)
    text = json.dumps(value, allow_nan=False)
    return _as_jsonb(json.loads(text, parse_float=_jsonb_number))


def _check_depth(value: Any) -> None:
    """Refuse a document nested deeper than ``MAX_JSON_DEPTH`` (walked without recursion)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list | tuple):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"jsonb nests deeper than {MAX_JSON_DEPTH} levels")
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)


def _jsonb_number(literal: str) -> int | float:
    """A JSON number with a fraction or exponent as jsonb hands it back: ``numeric`` keeps no
    exponent, so ``1e+16`` reads back as the integer 10000000000000000, and has no negative
    zero, so ``-0.0`` reads back as ``0.0``."""
    exponent = Decimal(literal).as_tuple().exponent
    if isinstance(exponent, int) and exponent >= 0:
        return int(Decimal(literal))
    return float(literal) + 0.0


def _jsonb_key(key: str) -> tuple[int, bytes]:
    """jsonb's object key order: shorter keys (in UTF-8 bytes) first, then bytewise."""
    data = key.encode("utf-8")
    return len(data), data


def _as_jsonb(value: Any) -> Any:
    """A parsed document in jsonb's stored form: object keys in jsonb order, text checked."""
    if isinstance(value, dict):
        for key in value:
            _check_json_text(key)
        return {key: _as_jsonb(value[key]) for key in sorted(value, key=_jsonb_key)}
    if isinstance(value, list):
        return [_as_jsonb(item) for item in value]
    if isinstance(value, str):
        _check_json_text(value)
    return value


def _check_json_text(value: str) -> None:
    """A NUL character (JSON ``\\u0000``) is refused by jsonb; the six characters of a literal
    backslash-u0000 are ordinary text and stored as they are."""
    if "\x00" in value:
        raise ValueError("jsonb cannot contain NUL characters")
    _check_encodable(value)


def _text_array(column: Column, value: Any) -> tuple[str, ...]:
    if type(value) is tuple and all(
        type(item) is str and item.isascii() and "\x00" not in item for item in value
    ):
        return value  # already the stored form
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise TypeError(f"expected a list of text, got {type(value).__name__}")
    if not all(isinstance(item, str) for item in value):
        raise TypeError("expected a list of text")
    return tuple(_plain_text(item) for item in value)


_COERCE: dict[Kind, Callable[[Column, Any], Any]] = {
    Kind.UUID: _uuid,
    Kind.TEXT: _text,
    Kind.BOOLEAN: _boolean,
    Kind.BIGINT: _bigint,
    Kind.TIMESTAMPTZ: _timestamptz,
    Kind.JSONB: _jsonb,
    Kind.TEXT_ARRAY: _text_array,
}
_BY_KIND = {kind._value_: convert for kind, convert in _COERCE.items()}


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON document (dicts, lists and scalars), cheaper than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value
