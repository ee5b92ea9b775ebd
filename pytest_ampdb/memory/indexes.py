"""The memory store's per-table indexes, built from a ``TableSpec``'s declarations.

Every operation costs O(log n + rows touched) in the table size: a row by primary key is a
dictionary lookup, a unique key is a dictionary from its values to the primary key, and every
equality filter a list serves (the whole table, the scope, each reference's column, each
declared lookup; ``TableSpec.list_indexes``) is a ``SortedList`` of
``(filter values..., list-order values...)``, so a page is a range read from a bisection point
and a delete finds a parent's children the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sortedcontainers import SortedList

from pytest_ampdb.models.columns import Kind
from pytest_ampdb.models.schema import Row, TableSpec, UniqueKey

Key = tuple[Any, ...]


class Ordered:
    """One list-order index: rows whose ``columns`` are not null, sorted by those columns and
    then the list order (which ends with the primary key, so every key is distinct)."""

    __slots__ = ("columns", "entries", "order", "width")

    def __init__(self, columns: tuple[str, ...], order: tuple[str, ...]) -> None:
        self.columns = columns
        self.order = order
        self.width = len(columns)
        self.entries: SortedList[Key] = SortedList()

    def key(self, row: Row) -> Key | None:
        """The row's entry, or None when a filter column is null (no equality matches null)."""
        values = tuple(row[c] for c in self.columns)
        if None in values:
            return None
        return values + tuple(row[c] for c in self.order)

    def scan(self, values: Key, after: Sequence[object] | None) -> Iterator[Key]:
        """Entries whose filter columns equal ``values``, in list order, after ``after``."""
        if after is None:
            found = self.entries.irange(values)
        else:
            found = self.entries.irange((*values, *after), inclusive=(False, True))
        width = self.width
        for entry in found:
            if width and entry[:width] != values:
                return
            yield entry


class Plan:
    """How a ``where`` over given columns is answered: by primary key, by a unique key (both
    at most one row), or by the list-order index binding the most of its columns."""

    __slots__ = ("ordered", "unique")

    def __init__(self, unique: UniqueKey | None, ordered: Ordered | None) -> None:
        self.unique = unique
        self.ordered = ordered


class Table:
    """One table's rows by primary key and the indexes over them."""

    __slots__ = ("json_columns", "ordered", "pk_position", "plans", "rows", "spec", "unique")

    def __init__(self, spec: TableSpec[Any]) -> None:
        nullable = [c for c in spec.order_by if spec.column_map[c].nullable]
        if spec.primary_key not in spec.order_by or nullable:
            raise ValueError(f"{spec.name}: the list order must be non-null and hold the key")
        self.spec = spec
        self.rows: dict[object, Row] = {}
        self.unique: dict[str, dict[Key, object]] = {k.name: {} for k in spec.unique}
        self.ordered = tuple(Ordered(columns, spec.order_by) for columns in spec.list_indexes)
        self.plans: dict[frozenset[str], Plan] = {}
        self.json_columns = tuple(c.name for c in spec.columns if c.kind is Kind.JSONB)
        self.pk_position = spec.order_by.index(spec.primary_key)

    def index(self, row: Row) -> None:
        pk = row[self.spec.primary_key]
        for key in self.spec.unique:
            values = tuple(row[c] for c in key.columns)
            if None not in values:
                self.unique[key.name][values] = pk
        for ordered in self.ordered:
            entry = ordered.key(row)
            if entry is not None:
                ordered.entries.add(entry)

    def unindex(self, row: Row) -> None:
        for key in self.spec.unique:
            self.unique[key.name].pop(tuple(row[c] for c in key.columns), None)
        for ordered in self.ordered:
            entry = ordered.key(row)
            if entry is not None:
                ordered.entries.discard(entry)

    def reindex(self, old: Row, new: Row) -> None:
        """Move a row's index entries from ``old`` to ``new`` where they differ."""
        pk = new[self.spec.primary_key]
        for key in self.spec.unique:
            before = tuple(old[c] for c in key.columns)
            after = tuple(new[c] for c in key.columns)
            if before != after:
                self.unique[key.name].pop(before, None)
                if None not in after:
                    self.unique[key.name][after] = pk
        for ordered in self.ordered:
            was, now = ordered.key(old), ordered.key(new)
            if was != now:
                if was is not None:
                    ordered.entries.discard(was)
                if now is not None:
                    ordered.entries.add(now)

    def load(self, rows: Mapping[object, Row]) -> None:
        """Replace every row and rebuild the indexes in bulk."""
        self.rows = dict(rows)
        for key in self.spec.unique:
            index: dict[Key, object] = {}
            for pk, row in self.rows.items():
                values = tuple(row[c] for c in key.columns)
                if None not in values:
                    index[values] = pk
            self.unique[key.name] = index
        for ordered in self.ordered:
            entries = (ordered.key(row) for row in self.rows.values())
            ordered.entries = SortedList(e for e in entries if e is not None)

    def plan(self, columns: frozenset[str]) -> Plan:
        """The cheapest way to find rows equal on ``columns`` (worked out once per shape)."""
        found = self.plans.get(columns)
        if found is None:
            spec = self.spec
            keys = [k for k in spec.keys if set(k.columns) <= columns]
            if keys:
                found = Plan(keys[0], None)
            else:
                usable = [o for o in self.ordered if set(o.columns) <= columns]
                found = Plan(None, max(usable, key=lambda o: o.width))
            self.plans[columns] = found
        return found

    def find(
        self,
        where: Mapping[str, object],
        *,
        after: Sequence[object] | None = None,
        limit: int | None = None,
    ) -> list[Row]:
        """Stored rows equal to ``where``, in list order, after that list-order key."""
        plan = self.plan(frozenset(where))
        if plan.unique is not None:
            row = self._by_key(plan.unique, where)
            if row is None or not matches(row, where):
                return []
            if after is not None and self.order_key(row) <= tuple(after):
                return []
            return [row] if limit is None or limit > 0 else []
        assert plan.ordered is not None  # the whole-table index binds no column
        ordered = plan.ordered
        values = tuple(where[c] for c in ordered.columns)
        rest = {c: v for c, v in where.items() if c not in ordered.columns}
        out: list[Row] = []
        if limit is not None and limit <= 0:
            return out
        position = ordered.width + self.pk_position
        for entry in ordered.scan(values, after):
            row = self.rows[entry[position]]
            if rest and not matches(row, rest):
                continue
            out.append(row)
            if limit is not None and len(out) >= limit:
                break
        return out

    def order_key(self, row: Row) -> Key:
        return tuple(row[c] for c in self.spec.order_by)

    def _by_key(self, key: UniqueKey, where: Mapping[str, object]) -> Row | None:
        if key.columns == (self.spec.primary_key,):
            return self.rows.get(where[self.spec.primary_key])
        pk = self.unique[key.name].get(tuple(where[c] for c in key.columns))
        return None if pk is None else self.rows[pk]


def matches(row: Row, where: Mapping[str, object]) -> bool:
    return all(row[c] == v for c, v in where.items())
