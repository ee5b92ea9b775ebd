"""``MemoryStore``: the twelve tables in dictionaries, enforcing what the schema enforces.

Rows are stored in normalized form and never changed in place (an update stores a new dict), so
a snapshot is a cheap copy of the per-table dictionaries: that is how a test is reset to the
seeded state in microseconds. JSON values are copied on the way out, so a model handed to a
caller shares nothing mutable with the store. One re-entrant lock makes every operation atomic,
which is what gives racing status moves exactly one winner.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_ampdb.errors import (
    AlreadyExistsError,
    ForeignKeyError,
    InvalidTransitionError,
    ValidationError,
)
from pytest_ampdb.models.columns import Kind
from pytest_ampdb.models.schema import ForeignKey, OnDelete, Row, TableSpec, UniqueKey, copy_json
from pytest_ampdb.models.tables import TABLES


class _Table:
    """One table: rows by primary key, and an index per unique key."""

    __slots__ = ("indexes", "json_columns", "rows", "spec")

    def __init__(self, spec: TableSpec[Any]) -> None:
        self.spec = spec
        self.rows: dict[object, Row] = {}
        self.indexes: dict[str, dict[tuple[object, ...], object]] = {
            k.name: {} for k in spec.unique
        }
        self.json_columns = tuple(c.name for c in spec.columns if c.kind is Kind.JSONB)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A point-in-time copy of every table, restorable any number of times."""

    tables: Mapping[str, tuple[dict[object, Row], dict[str, dict[tuple[object, ...], object]]]]


class MemoryStore:
    """Thread-safe in-memory storage for the twelve tables (a ``repositories.Engine``)."""

    def __init__(self, specs: Mapping[str, TableSpec[Any]] = TABLES) -> None:
        self._lock = threading.RLock()
        self._tables = {name: _Table(spec) for name, spec in specs.items()}
        self._children: dict[str, list[tuple[TableSpec[Any], ForeignKey]]] = {n: [] for n in specs}
        for spec in specs.values():
            for fk in spec.foreign_keys:
                self._children[fk.table].append((spec, fk))

    def __repr__(self) -> str:
        return f"MemoryStore({', '.join(f'{n}={len(t.rows)}' for n, t in self._tables.items())})"

    # -- snapshots ---------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """Copy the current state (rows are immutable, so only the dictionaries are copied)."""
        with self._lock:
            return Snapshot(
                {name: _copy_table(t.rows, t.indexes) for name, t in self._tables.items()}
            )

    def restore(self, snapshot: Snapshot) -> None:
        """Return to ``snapshot``; the snapshot stays usable for later restores."""
        with self._lock:
            for name, (rows, indexes) in snapshot.tables.items():
                table = self._tables[name]
                table.rows, table.indexes = _copy_table(rows, indexes)

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        with self._lock:
            return {name: len(t.rows) for name, t in self._tables.items()}

    def rows(self, table: str) -> list[Row]:
        """Every row of a table in its list order (copies), for inspection and debugging."""
        spec = self._tables[table].spec
        return self.select(spec, {})

    # -- Engine ----------------------------------------------------------------------------

    def insert(self, spec: TableSpec[Any], row: Row) -> Row:
        with self._lock:
            table = self._tables[spec.name]
            pk = row[spec.primary_key]
            if pk in table.rows:
                key = (spec.primary_key,)
                raise AlreadyExistsError(spec.name, key, spec.shown(key, (pk,)))
            self._check_unique(table, row, exclude=None)
            self._check_references(spec, row, spec.foreign_keys)
            stored = dict(row)
            for name in table.json_columns:  # the caller keeps no handle on the stored JSON
                stored[name] = copy_json(stored[name])
            table.rows[pk] = stored
            self._index(table, stored)
            return self._out(table, stored)

    def select(
        self,
        spec: TableSpec[Any],
        where: Mapping[str, object],
        *,
        after: Sequence[object] | None = None,
        limit: int | None = None,
    ) -> list[Row]:
        with self._lock:
            table = self._tables[spec.name]
            order = spec.order_by
            found = [r for r in self._candidates(table, where) if _matches(r, where)]
            found.sort(key=lambda r: tuple(r[c] for c in order))
            if after is not None:
                start = tuple(after)
                found = [r for r in found if tuple(r[c] for c in order) > start]
            if limit is not None:
                found = found[:limit]
            return [self._out(table, r) for r in found]

    def update(
        self,
        spec: TableSpec[Any],
        where: Mapping[str, object],
        changes: Row,
        *,
        expect: Mapping[str, Collection[object]] | None = None,
    ) -> Row | None:
        with self._lock:
            table = self._tables[spec.name]
            matched = [r for r in self._candidates(table, where) if _matches(r, where)]
            if len(matched) != 1:
                return None
            old = matched[0]
            if expect and any(old[c] not in allowed for c, allowed in expect.items()):
                return None
            if spec.primary_key in changes and changes[spec.primary_key] != old[spec.primary_key]:
                raise ValidationError(spec.name, spec.primary_key, "the primary key cannot change")
            if spec.immutable:
                raise ValidationError(
                    spec.name, spec.primary_key, "rows are immutable once written"
                )
            new = {**old, **changes}
            self._check_moves(spec, old, new)
            self._check_unique(table, new, exclude=old)
            changed = [fk for fk in spec.foreign_keys if any(new[c] != old[c] for c in fk.columns)]
            self._check_references(spec, new, changed)
            self._replace(table, old, new)
            return self._out(table, new)

    def delete(self, spec: TableSpec[Any], where: Mapping[str, object]) -> int:
        with self._lock:
            table = self._tables[spec.name]
            doomed: dict[str, dict[object, Row]] = {}
            for row in [r for r in self._candidates(table, where) if _matches(r, where)]:
                self._collect_cascade(spec, row, doomed)
            nulls = self._check_dependents(doomed)
            for name, rows in doomed.items():
                target = self._tables[name]
                for pk, row in rows.items():
                    del target.rows[pk]
                    self._unindex(target, row)
            for (name, pk), columns in nulls.items():
                target = self._tables[name]
                old = target.rows[pk]
                self._replace(target, old, {**old, **dict.fromkeys(columns)})
            return len(doomed.get(spec.name, {}))

    def upsert(self, spec: TableSpec[Any], row: Row, key: UniqueKey, update: Sequence[str]) -> Row:
        with self._lock:
            table = self._tables[spec.name]
            existing = table.indexes[key.name].get(tuple(row[c] for c in key.columns))
            if existing is None:
                return self.insert(spec, row)
            where = {spec.primary_key: existing}
            stored = self.update(spec, where, {c: row[c] for c in update})
            assert stored is not None  # found under the same lock
            return stored

    # -- rules -----------------------------------------------------------------------------

    def _check_unique(self, table: _Table, row: Row, *, exclude: Row | None) -> None:
        spec = table.spec
        for key in spec.unique:
            values = tuple(row[c] for c in key.columns)
            if None in values:
                continue
            holder = table.indexes[key.name].get(values)
            if holder is not None and (exclude is None or holder != exclude[spec.primary_key]):
                raise AlreadyExistsError(spec.name, key.columns, spec.shown(key.columns, values))

    def _check_references(
        self, spec: TableSpec[Any], row: Row, foreign_keys: Sequence[ForeignKey]
    ) -> None:
        for fk in foreign_keys:
            value = row[fk.column]
            if value is None:
                continue
            parent_spec = self._tables[fk.table].spec
            parent = self._tables[fk.table].rows.get(value)
            if parent is None or not _points_at(fk, parent_spec, row, parent):
                raise ForeignKeyError(spec.name, fk.column, fk.table, fk.missing(parent_spec, row))

    @staticmethod
    def _check_moves(spec: TableSpec[Any], old: Row, new: Row) -> None:
        for column, moves in spec.transitions.items():
            before, after = old[column], new[column]
            if before != after and after not in moves[before]:
                key = f"{spec.primary_key}={old[spec.primary_key]}"
                raise InvalidTransitionError(spec.name, key, str(before), str(after))

    def _collect_cascade(
        self, spec: TableSpec[Any], row: Row, doomed: dict[str, dict[object, Row]]
    ) -> None:
        pk = row[spec.primary_key]
        rows = doomed.setdefault(spec.name, {})
        if pk in rows:
            return
        rows[pk] = row
        for child_spec, fk in self._children[spec.name]:
            if fk.on_delete is OnDelete.CASCADE:
                for child in self._referencing(child_spec, fk, spec, row):
                    self._collect_cascade(child_spec, child, doomed)

    def _check_dependents(
        self, doomed: Mapping[str, Mapping[object, Row]]
    ) -> dict[tuple[str, object], list[str]]:
        """Refuse (NO ACTION) or plan SET NULL for rows that survive the cascade."""
        nulls: dict[tuple[str, object], list[str]] = {}
        for name, rows in doomed.items():
            parent_spec = self._tables[name].spec
            for pk, row in rows.items():
                for child_spec, fk in self._children[name]:
                    if fk.on_delete is OnDelete.CASCADE:
                        continue
                    survivors = [
                        c
                        for c in self._referencing(child_spec, fk, parent_spec, row)
                        if c[child_spec.primary_key] not in doomed.get(child_spec.name, {})
                    ]
                    if survivors and fk.on_delete is OnDelete.NO_ACTION:
                        raise ForeignKeyError(
                            child_spec.name,
                            fk.column,
                            name,
                            f"{name} row {parent_spec.primary_key}={pk} is still referenced",
                        )
                    for child in survivors:
                        nulls.setdefault(
                            (child_spec.name, child[child_spec.primary_key]), []
                        ).append(fk.column)
        return nulls

    def _referencing(
        self, spec: TableSpec[Any], fk: ForeignKey, parent_spec: TableSpec[Any], parent: Row
    ) -> list[Row]:
        """The rows of ``spec`` whose ``fk`` points at ``parent`` (all its columns match)."""
        rows = self._tables[spec.name].rows.values()
        return [r for r in rows if _points_at(fk, parent_spec, r, parent)]

    # -- storage helpers -------------------------------------------------------------------

    def _candidates(self, table: _Table, where: Mapping[str, object]) -> Iterator[Row]:
        pk = table.spec.primary_key
        if pk in where:
            row = table.rows.get(where[pk])
            if row is not None:
                yield row
            return
        yield from table.rows.values()

    def _replace(self, table: _Table, old: Row, new: Row) -> None:
        self._unindex(table, old)
        table.rows[new[table.spec.primary_key]] = new
        self._index(table, new)

    @staticmethod
    def _index(table: _Table, row: Row) -> None:
        for key in table.spec.unique:
            values = tuple(row[c] for c in key.columns)
            if None not in values:
                table.indexes[key.name][values] = row[table.spec.primary_key]

    @staticmethod
    def _unindex(table: _Table, row: Row) -> None:
        for key in table.spec.unique:
            table.indexes[key.name].pop(tuple(row[c] for c in key.columns), None)

    @staticmethod
    def _out(table: _Table, row: Row) -> Row:
        out = dict(row)
        for name in table.json_columns:
            out[name] = copy_json(out[name])
        return out


def _points_at(fk: ForeignKey, parent_spec: TableSpec[Any], row: Row, parent: Row) -> bool:
    """Whether ``row``'s reference ``fk`` names ``parent``: every column pair equal."""
    pairs = zip(fk.columns, fk.target(parent_spec), strict=True)
    return all(row[c] == parent[p] for c, p in pairs)


def _matches(row: Row, where: Mapping[str, object]) -> bool:
    return all(row[c] == v for c, v in where.items())


def _copy_table(
    rows: dict[object, Row], indexes: dict[str, dict[tuple[object, ...], object]]
) -> tuple[dict[object, Row], dict[str, dict[tuple[object, ...], object]]]:
    return dict(rows), {name: dict(index) for name, index in indexes.items()}
