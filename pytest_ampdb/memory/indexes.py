"""The memory store's per-table indexes, built from a ``TableSpec``'s declarations.

Every operation costs O(log n + rows touched) in the table size: a row by primary key is a
dictionary lookup, a unique key is a dictionary from its values to the primary key, each
reference column is a dictionary from the referenced key to the referencing rows (``Referrers``:
a delete finds the children there; the scope's are found through its list-order index), and
every equality filter a page is read by (the scope, each declared lookup;
``TableSpec.list_indexes``) is a dictionary from the filter values to the rows' list-order
values, sorted, so a page is a range read from a bisection point in one group. A removed entry
stays as a tombstone until the index is compacted (``Ordered``). Times in those entries are the
stored datetimes: all in UTC (``TableSpec.normalize``), and two datetimes with the very same
``tzinfo`` compare as fast as integers.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sortedcontainers import SortedList

from pytest_ampdb.models.columns import Kind
from pytest_ampdb.models.schema import Row, TableSpec, UniqueKey

Key = tuple[Any, ...]


def _getter(columns: tuple[str, ...]) -> Callable[[Mapping[str, Any]], Key]:
    """A fast ``row -> tuple of columns`` (``itemgetter`` returns a bare value for one)."""
    if len(columns) == 1:
        (column,) = columns
        return lambda row: (row[column],)
    if not columns:
        return lambda row: ()
    return itemgetter(*columns)


COMPACT_FLOOR = 32
"""Stale entries an ordered index tolerates before it may compact, however few rows it has."""


SMALL_GROUP = 256
"""Entries a group keeps in a plain sorted list (one object, no ``SortedList`` machinery;
an insertion moves at most this many pointers); a larger group is a ``SortedList``."""


def _group_of(entries: list[Key]) -> list[Key] | SortedList[Key]:
    """A group holding ``entries`` (in any order)."""
    if len(entries) > SMALL_GROUP:
        return SortedList(entries)
    entries.sort()
    return entries


class Ordered:
    """One list-order index: rows whose ``columns`` are not null, grouped by those columns'
    values, each group sorted by the list order (which ends with the primary key, so every
    entry is distinct).

    A query always binds every filter column (``Table.plan``), so an index needs no order
    across groups: a group is found by one dictionary lookup, and an entry is only the row's
    list-order values. A write then bisects just its group (a page of one installation's
    operations never compares against another's), and a comparison reads the list-order
    values alone, not the filter values first.

    Removing an entry from a ``SortedList`` is O(log n) Python work; a delete (or an update
    moving the entry) only forgets it in ``live`` instead, leaving a tombstone that a scan
    skips: an entry counts only while ``live`` maps its primary key to that very tuple. Once
    stale entries outnumber live ones the groups are rebuilt from ``live`` (amortized O(1)
    per removal, and a scan never walks more stale entries than live ones on average).
    """

    __slots__ = (
        "_group",
        "_order",
        "columns",
        "groups",
        "live",
        "order",
        "pk_at",
        "stale",
        "stored",
        "values",
        "watched",
        "width",
    )

    def __init__(
        self,
        columns: tuple[str, ...],
        order: tuple[str, ...],
        pk: str,
        stored: Mapping[object, Row],
    ) -> None:
        self.columns = columns
        self.order = order
        self.width = len(columns)
        self.pk_at = order.index(pk)
        """The primary key's position in an entry."""
        self.groups: dict[Key, list[Key] | SortedList[Key]] = {}
        """Filter values -> the entries of the rows holding them, in list order (a plain list
        up to ``SMALL_GROUP`` entries: most groups are small, e.g. one installation's
        operations in one status)."""
        self.live: dict[object, Key] = {}
        """Primary key -> the row's current entry (the only one of its entries a scan sees)."""
        self.stored = stored
        """The table's rows by primary key, where a compaction finds each live entry's group."""
        self.stale = 0
        self._group = _getter(columns)
        self.values = self._group
        """A query's group: the filter columns' values in a ``where``."""
        self._order = _getter(order)
        self.watched = frozenset(columns + order)
        """The columns whose change can move the row's entry."""

    def key(self, row: Row) -> tuple[Key, Key] | None:
        """The row's group and entry, or None when a filter column is null (no equality
        matches null; the list order is never null)."""
        group = self._group(row)
        if None in group:
            return None
        return group, self._order(row)

    def add(self, row: Row) -> None:
        held = self.key(row)
        if held is not None:
            group, entry = held
            entries = self.groups.get(group)
            if entries is None:
                self.groups[group] = [entry]
            elif type(entries) is list:
                if entry > entries[-1]:  # the newest row, as a create's usually is
                    entries.append(entry)
                else:
                    insort(entries, entry)
                if len(entries) > SMALL_GROUP:
                    self.groups[group] = SortedList(entries)
            else:
                entries.add(entry)  # type: ignore[union-attr]
            self.live[entry[self.pk_at]] = entry

    def drop(self, pk: object) -> None:
        """Leave the row's entry as a tombstone; compact once they outnumber live entries."""
        if self.live.pop(pk, None) is not None:
            self.stale += 1
            self.settle()

    def settle(self) -> None:
        """Compact once stale entries outnumber live ones."""
        if self.stale > COMPACT_FLOOR and self.stale > len(self.live):
            self.compact()

    def compact(self) -> None:
        """Rebuild the groups from the live entries alone."""
        grouped: dict[Key, list[Key]] = {}
        stored, group_of = self.stored, self._group
        for pk, entry in self.live.items():  # a live entry is its stored row's
            grouped.setdefault(group_of(stored[pk]), []).append(entry)
        self.groups = {group: _group_of(entries) for group, entries in grouped.items()}
        self.stale = 0

    def held(self) -> int:
        """Entries held, tombstones included."""
        return sum(len(entries) for entries in self.groups.values())

    def load(self, rows: Iterable[Row]) -> None:
        keys = (self.key(row) for row in rows)
        self.live = {held[1][self.pk_at]: held[1] for held in keys if held is not None}
        self.compact()

    def rows(
        self,
        values: Key,
        after: Sequence[object] | None,
        limit: int | None,
        rows: Mapping[object, Row],
        rest: Mapping[str, object] | None,
    ) -> list[Row]:
        """Up to ``limit`` stored rows whose filter columns equal ``values`` (and ``rest``),
        in list order, after the list-order key ``after``."""
        return [rows[pk] for pk in self.keys(values, after, limit, rows, rest)]

    def keys(
        self,
        values: Key,
        after: Sequence[object] | None,
        limit: int | None,
        rows: Mapping[object, Row],
        rest: Mapping[str, object] | None,
    ) -> list[object]:
        """The primary keys of ``rows``'s answer, which reads no row unless ``rest`` is given
        (at scale every row read is a cache miss).

        This is ``SortedList.irange`` without its slicing machinery (three times its cost for a
        page): bisect the sublists' maxima, then the sublist, then walk on. It reads
        ``_maxes``/``_lists``, the two lists every sortedcontainers 2.x ``SortedList`` is made of.
        """
        out: list[object] = []
        entries = self.groups.get(values)
        if entries is None or (limit is not None and limit <= 0):
            return out
        if type(entries) is list:
            lists, maxes = [entries], [entries[-1]]
        else:
            lists = entries._lists  # type: ignore[union-attr]
            maxes = entries._maxes  # type: ignore[union-attr]
        at = first = 0
        if after is not None:
            start = tuple(after)
            at = bisect_right(maxes, start)
            if at == len(maxes):
                return out
            first = bisect_right(lists[at], start)
        live, pk_at = self.live if self.stale else None, self.pk_at  # no tombstones: no check
        for k in range(at, len(lists)):
            sub = lists[k]
            for i in range(first, len(sub)):
                entry = sub[i]
                pk = entry[pk_at]
                if live is not None and live.get(pk) is not entry:  # a tombstone
                    continue
                if rest and not matches(rows[pk], rest):
                    continue
                out.append(pk)
                if len(out) == limit:
                    return out
            first = 0
        return out


class Plan:
    """How a ``where`` over given columns is answered: by primary key or a unique key (at most
    one row); by the list-order index binding the most of its columns, unless a reference
    column it does not bind is given (then by that reference's rows, sorted); with none of
    these (only ``MemoryStore.rows``: a whole scoped table, for inspection) by every row."""

    __slots__ = ("ordered", "reference", "rest", "unique")

    def __init__(
        self,
        unique: UniqueKey | None = None,
        ordered: Ordered | None = None,
        reference: str | None = None,
        rest: bool = False,
    ) -> None:
        self.unique = unique
        self.ordered = ordered
        self.reference = reference
        self.rest = rest
        """Whether some given column is not bound by ``ordered`` (rows are then filtered)."""


class Table:
    """One table's rows by primary key and the indexes over them."""

    __slots__ = (
        "json_columns",
        "listed",
        "ordered",
        "plans",
        "primary",
        "references",
        "rows",
        "spec",
        "unique",
        "unique_getters",
    )

    def __init__(self, spec: TableSpec[Any]) -> None:
        nullable = [c for c in spec.order_by if spec.column_map[c].nullable]
        if spec.primary_key not in spec.order_by or nullable:
            raise ValueError(f"{spec.name}: the list order must be non-null and hold the key")
        self.spec = spec
        self.primary = spec.primary
        self.rows: dict[object, Row] = {}
        self.unique: dict[str, dict[Key, object]] = {k.name: {} for k in spec.unique}
        self.unique_getters = [(self.unique[k.name], _getter(k.columns)) for k in spec.unique]
        self.ordered = tuple(
            Ordered(columns, spec.order_by, spec.primary_key, self.rows)
            for columns in spec.list_indexes
        )
        alone = {o.columns[0]: o for o in self.ordered if len(o.columns) == 1}
        self.listed = {
            fk.column: alone[fk.column] for fk in spec.foreign_keys if fk.column in alone
        }
        """Reference columns found through the list-order index of that column alone (the
        scope: every scoped row would otherwise sit in one more, very large, dictionary)."""
        self.references: dict[str, Referrers] = {
            fk.column: Referrers() for fk in spec.foreign_keys if fk.column not in alone
        }
        """Every other reference column: referenced key -> the referencing rows' keys."""
        self.plans: dict[tuple[str, ...], Plan] = {}
        self.json_columns = tuple(c.name for c in spec.columns if c.kind is Kind.JSONB)

    def index(self, row: Row) -> None:
        self._link(row)
        for ordered in self.ordered:
            ordered.add(row)

    def _link(self, row: Row) -> None:
        """Enter ``row`` in the unique keys and the references."""
        pk = row[self.spec.primary_key]
        for index, values_of in self.unique_getters:
            values = values_of(row)
            if None not in values:
                index[values] = pk
        for column, children in self.references.items():
            if row[column] is not None:
                children.attach(row[column], pk)

    def remove(self, rows: Mapping[object, Row]) -> None:
        """Drop stored rows (primary key -> row) and their index entries."""
        stored, uniques, references = self.rows, self.unique_getters, self.references.items()
        for pk, row in rows.items():
            del stored[pk]
            for index, values_of in uniques:
                index.pop(values_of(row), None)
            for column, children in references:
                parent = row[column]
                if parent is not None:
                    children.detach(parent, pk)
            for ordered in self.ordered:  # ``Ordered.drop``, the compaction left till the end
                if ordered.live.pop(pk, None) is not None:
                    ordered.stale += 1
        for ordered in self.ordered:
            if ordered.stale > COMPACT_FLOOR:
                ordered.settle()

    def reindex(self, old: Row, new: Row, changed: Collection[str] | None = None) -> None:
        """Move a row's index entries from ``old`` to ``new`` where their columns changed
        (``changed``: those columns, when the caller knows them)."""
        if changed is None:
            changed = {c for c, v in new.items() if v is not old[c] and v != old[c]}
        if not changed:
            return
        pk = new[self.spec.primary_key]
        for key in self.spec.unique:
            if not any(c in changed for c in key.columns):
                continue
            self.unique[key.name].pop(tuple(old[c] for c in key.columns), None)
            after = tuple(new[c] for c in key.columns)
            if None not in after:
                self.unique[key.name][after] = pk
        for column, children in self.references.items():
            if column in changed:
                children.detach(old[column], pk)
                if new[column] is not None:
                    children.attach(new[column], pk)
        for ordered in self.ordered:
            if ordered.watched.isdisjoint(changed):
                continue
            if ordered.key(old) != ordered.key(new):
                ordered.drop(pk)
                ordered.add(new)

    def load(self, rows: Mapping[object, Row]) -> None:
        """Replace every row and rebuild the indexes in bulk (the dictionaries stay the same
        objects: ``MemoryStore`` holds on to them)."""
        new = dict(rows)
        self.rows.clear()
        self.rows.update(new)
        for index, _ in self.unique_getters:
            index.clear()
        for children in self.references.values():
            children.clear()
        for row in self.rows.values():
            self._link(row)
        for ordered in self.ordered:
            ordered.load(self.rows.values())

    def plan(self, names: tuple[str, ...]) -> Plan:
        """The cheapest way to find rows equal on ``names`` (worked out once per shape)."""
        found = self.plans.get(names)
        if found is None:
            columns = frozenset(names)
            spec = self.spec
            keys = [k for k in spec.keys if set(k.columns) <= columns]
            usable = [o for o in self.ordered if set(o.columns) <= columns]
            ordered = max(usable, key=lambda o: o.width, default=None)
            bound = set(ordered.columns) if ordered else set()
            linked = [*self.references, *self.listed]
            references = [c for c in linked if c in columns and c not in bound]
            if keys:
                found = Plan(unique=keys[0])
            elif references:
                found = Plan(reference=references[0])
            else:
                found = Plan(ordered=ordered, rest=bool(columns - bound))
            self.plans[names] = found
        return found

    def find(
        self,
        where: Mapping[str, object],
        *,
        after: Sequence[object] | None = None,
        limit: int | None = None,
    ) -> list[Row]:
        """Stored rows equal to ``where``, in list order, after that list-order key."""
        plan = self.plan(tuple(where))
        if plan.unique is not None:
            row = self._by_key(plan.unique, where)
            if row is None or not matches(row, where):
                return []
            if after is None and (limit is None or limit > 0):
                return [row]
            return _page([row], after, limit, self.order_key)
        if plan.ordered is None:
            if plan.reference is None:
                rows: Iterable[Row] = self.rows.values()
            else:
                rows = self.referencing(plan.reference, where[plan.reference])
            found = sorted((r for r in rows if matches(r, where)), key=self.order_key)
            return _page(found, after, limit, self.order_key)
        stored = self.rows
        return [stored[pk] for pk in self._ordered_keys(plan, where, after, limit)]

    def find_keys(
        self, where: Mapping[str, object], *, after: Sequence[object] | None, limit: int
    ) -> list[object] | None:
        """The primary keys of ``find``'s rows when a list-order index answers ``where``
        (reading no row), else None."""
        plan = self.plan(tuple(where))
        if plan.ordered is None or plan.unique is not None:
            return None
        return self._ordered_keys(plan, where, after, limit)

    def _ordered_keys(
        self,
        plan: Plan,
        where: Mapping[str, object],
        after: Sequence[object] | None,
        limit: int | None,
    ) -> list[object]:
        """The keys ``plan``'s list-order index holds for ``where`` (``Ordered.keys``)."""
        ordered = plan.ordered
        assert ordered is not None
        values = ordered.values(where)
        rest = {c: v for c, v in where.items() if c not in ordered.columns} if plan.rest else None
        return ordered.keys(values, after, limit, self.rows, rest)

    def referencing(self, column: str, value: object) -> list[Row]:
        """The rows whose reference ``column`` holds ``value``, in no particular order."""
        children = self.references.get(column)
        if children is None:
            return self.listed[column].rows((value,), None, None, self.rows, None)
        return children.rows(value, self.rows)

    def order_key(self, row: Row) -> Key:
        return tuple(row[c] for c in self.spec.order_by)

    def _by_key(self, key: UniqueKey, where: Mapping[str, object]) -> Row | None:
        if key is self.primary:
            return self.rows.get(where[key.columns[0]])
        pk = self.unique[key.name].get(tuple([where[c] for c in key.columns]))
        return None if pk is None else self.rows[pk]


class Referrers(dict[object, Any]):
    """Referenced key -> the primary key of the one row referencing it, or a dict of the keys
    of several: most referenced rows have one referrer, kept without a dictionary of its own."""

    __slots__ = ()

    def attach(self, parent: object, pk: object) -> None:
        held = self.get(parent)
        if held is None:
            self[parent] = pk
        elif type(held) is dict:
            held[pk] = None
        elif held != pk:
            self[parent] = {held: None, pk: None}

    def detach(self, parent: object, pk: object) -> None:
        held = self.get(parent)
        if held is None:
            return
        if type(held) is not dict:
            if held == pk:
                del self[parent]
            return
        held.pop(pk, None)
        if len(held) == 1:
            (self[parent],) = held
        elif not held:
            del self[parent]

    def rows(self, parent: object, stored: Mapping[object, Row]) -> list[Row]:
        """The stored rows referencing ``parent``."""
        held = self.get(parent)
        if held is None:
            return []
        return [stored[pk] for pk in held] if type(held) is dict else [stored[held]]


def _page(
    rows: list[Row], after: Sequence[object] | None, limit: int | None, key: Any
) -> list[Row]:
    if after is not None:
        rows = [r for r in rows if key(r) > tuple(after)]
    return rows if limit is None else rows[: max(limit, 0)]


def matches(row: Row, where: Mapping[str, object]) -> bool:
    for column, value in where.items():  # noqa: SIM110 (hot: a loop beats all() on a generator)
        if row[column] != value:
            return False
    return True
