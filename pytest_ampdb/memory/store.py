"""``MemoryStore``: the twelve tables in dictionaries, enforcing what the schema enforces.

Rows are stored in normalized form and never changed in place (an update stores a new dict),
so a row holding no JSON document is handed out as it is stored (read-only, as ``Engine``
says); a row with one is copied, JSON included, so a model handed to a caller shares nothing
mutable with the store. Each table keeps the indexes its declaration asks for
(``memory.indexes``), so every operation costs O(log n + rows touched) however large the table
grows. One re-entrant lock makes every operation atomic, which is what gives racing status
moves exactly one winner.

A snapshot copies the rows (they are immutable, so only the dictionaries). Since the last
snapshot taken or restored, the store remembers each changed row's earlier value; restoring
that same snapshot puts just those rows back, which is how a test is reset to the seeded state
in microseconds whatever the seeds hold. Any other snapshot is restored by a bulk rebuild.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pytest_ampdb.errors import AlreadyExistsError, ForeignKeyError, ValidationError
from pytest_ampdb.memory.indexes import Table
from pytest_ampdb.models.declared import schema_in_effect
from pytest_ampdb.models.schema import ForeignKey, OnDelete, Row, TableSpec, UniqueKey, copy_json

M = TypeVar("M")

_DOCUMENTS = (dict, list)
"""The JSON values a caller could change in place (the rest are immutable scalars)."""

JOURNAL_LIMIT = 10_000
"""Changed rows remembered for a fast restore; past it, a restore rebuilds from the snapshot."""


@dataclass(frozen=True, slots=True, eq=False)
class Snapshot:
    """A point-in-time copy of every table's rows, restorable any number of times."""

    tables: Mapping[str, Mapping[object, Row]]


class MemoryStore:
    """Thread-safe in-memory storage for the twelve tables (a ``repositories.Engine``)."""

    def __init__(self, specs: Mapping[str, TableSpec[Any]] | None = None) -> None:
        specs = schema_in_effect() if specs is None else specs  # as postgres.repositories
        self.specs = specs
        """The declared tables this store holds (a project's own entities too)."""
        self._lock = threading.RLock()
        self._tables = {name: Table(spec) for name, spec in specs.items()}
        self._links = {
            spec.name: [Link(self._tables[spec.name], fk, self._tables[fk.table])
                        for fk in spec.foreign_keys]
            for spec in specs.values()
        }  # fmt: skip
        """Per table, its references (checked on a write)."""
        self._children: dict[str, list[Link]] = {n: [] for n in specs}
        """Per table, the references to it: a delete cascades along the CASCADE ones and checks
        the others (refusing or setting null)."""
        for links in self._links.values():
            for link in links:
                self._children[link.fk.table].append(link)
        self._cascades = {n: [c for c in cs if c.cascades] for n, cs in self._children.items()}
        for cascades in self._cascades.values():
            for link in cascades:
                link.leaf = not self._cascades[link.name]
        self._keys = {name: spec.primary_key for name, spec in specs.items()}
        self._guards = {n: [c for c in cs if not c.cascades] for n, cs in self._children.items()}
        self._guarded = {n: any(self._guards[t] for t in self._reachable(n)) for n in specs}
        """Per table, whether a delete there can reach a row that another row guards (refusing
        the delete or set to null), so ``_check_dependents`` has something to check."""
        self._models: dict[str, dict[TableSpec[Any], dict[object, tuple[Row, Any]]]] = {
            name: {} for name in specs
        }
        """Per table and spec, primary key -> (stored row, its model): see ``models``."""
        self._base: Snapshot | None = None
        """The snapshot last taken or restored, which ``_journal`` leads back to."""
        self._journal: dict[tuple[str, object], Row | None] = {}
        """(table, primary key) -> the row as it was in ``_base`` (None: it did not exist)."""

    def __repr__(self) -> str:
        return f"MemoryStore({', '.join(f'{n}={len(t.rows)}' for n, t in self._tables.items())})"

    # -- snapshots ---------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """Copy the current state (rows are immutable, so only the dictionaries are copied)."""
        with self._lock:
            snapshot = Snapshot({name: dict(t.rows) for name, t in self._tables.items()})
            self._base, self._journal = snapshot, {}
            return snapshot

    def restore(self, snapshot: Snapshot) -> None:
        """Return to ``snapshot``; the snapshot stays usable for later restores."""
        with self._lock:
            if snapshot is self._base:
                self._undo()
            else:
                for name, rows in snapshot.tables.items():
                    self._tables[name].load(rows)
                    for built in self._models[name].values():
                        built.clear()
                self._base = snapshot
            self._journal = {}

    def _undo(self) -> None:
        """Put back every row changed since ``_base``: all removed first, then all re-added,
        so no unique key is briefly claimed twice."""
        journal = self._journal
        for (name, pk), _ in journal.items():
            table = self._tables[name]
            current = table.rows.get(pk)
            if current is not None:
                table.remove({pk: current})
        for (name, pk), old in journal.items():
            if old is not None:
                table = self._tables[name]
                table.rows[pk] = old
                table.index(old)

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        with self._lock:
            return {name: len(t.rows) for name, t in self._tables.items()}

    def rows(self, table: str) -> list[Row]:
        """Every row of a table in its list order (copies), for inspection and debugging."""
        spec = self._tables[table].spec
        return [dict(row) for row in self.select(spec, {})]

    # -- Engine ----------------------------------------------------------------------------

    def insert(self, spec: TableSpec[Any], row: Row) -> Row:
        with self._lock:
            table = self._tables[spec.name]
            pk = row[spec.primary_key]
            if pk in table.rows:
                key = (spec.primary_key,)
                raise AlreadyExistsError(spec.name, key, spec.shown(key, (pk,)))
            self._check_unique(table, row, exclude=None)
            self._check_references(spec, row, self._links[spec.name])
            stored = dict(row)
            for name in table.json_columns:  # the caller keeps no handle on the stored JSON
                stored[name] = copy_json(stored[name])
            self._write(table, None, stored)
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
            found = table.find(where, after=after, limit=limit)
            if not table.json_columns:
                return found
            return [self._out(table, r) for r in found]

    def page(
        self,
        spec: TableSpec[M],
        where: Mapping[str, object],
        *,
        after: Sequence[object] | None,
        size: int,
    ) -> tuple[list[M], Row | None]:
        """``select``'s first ``size`` rows as models, and the last of them when more follow
        (a ``repositories.Engine`` may offer this). A kept model is found by its row's key and
        handed out without reading the row: at scale each row read is a cache miss, which is
        most of a page's cost once other work has run between two pages."""
        with self._lock:
            table = self._tables[spec.name]
            keys = table.find_keys(where, after=after, limit=size + 1)
            if keys is None:
                rows = table.find(where, after=after, limit=size + 1)
                build = self.models(spec)
                last = rows[size - 1] if len(rows) > size else None
                return [build(self._out(table, row)) for row in rows[:size]], last
            stored = table.rows
            built: dict[object, tuple[Row, M]] = self._models[spec.name].setdefault(spec, {})
            items: list[M] = []
            for pk in keys[:size]:
                row = stored[pk]
                cached = built.get(pk)
                if cached is not None and cached[0] is row:  # kept: a row with no documents
                    items.append(cached[1])
                    continue
                out = self._out(table, row)
                made = spec.to_model(out)
                if out is row:
                    built[pk] = (row, made)
                items.append(made)
            return items, stored[keys[size - 1]] if len(keys) > size else None

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
            matched = table.find(where, limit=2)
            if len(matched) != 1:
                return None
            old = matched[0]
            for column, allowed in (expect or {}).items():
                if old[column] not in allowed:
                    raise spec.refused_move(old, column, changes[column])
            if spec.primary_key in changes and changes[spec.primary_key] != old[spec.primary_key]:
                raise ValidationError(spec.name, spec.primary_key, "the primary key cannot change")
            if spec.immutable:
                raise ValidationError(
                    spec.name, spec.primary_key, "rows are immutable once written"
                )
            new = {**old, **changes}
            changed = {c for c, v in changes.items() if v is not old[c] and v != old[c]}
            if changed:  # an unchanged column needs no check: the row already passed it
                self._check_moves(spec, old, new, changed)
                self._check_unique(table, new, exclude=old, changed=changed)
                moved = [link for link in self._links[spec.name] if link.moved(changed)]
                self._check_references(spec, new, moved)
            self._write(table, old, new, changed)
            return self._out(table, new)

    def delete(self, spec: TableSpec[Any], where: Mapping[str, object]) -> int:
        with self._lock:
            table = self._tables[spec.name]
            doomed = self._cascade(spec.name, table.find(where))
            nulls = self._check_dependents(doomed) if self._guarded[spec.name] else {}
            for name, rows in doomed.items():
                if self._base is not None:
                    for pk, row in rows.items():
                        self._remember(name, pk, row)
                self._tables[name].remove(rows)
            for (name, pk), columns in nulls.items():
                target = self._tables[name]
                old = target.rows[pk]
                self._write(target, old, {**old, **dict.fromkeys(columns)})
            return len(doomed.get(spec.name, {}))

    def upsert(self, spec: TableSpec[Any], row: Row, key: UniqueKey, update: Sequence[str]) -> Row:
        with self._lock:
            table = self._tables[spec.name]
            existing = table.unique[key.name].get(tuple(row[c] for c in key.columns))
            if existing is None:
                return self.insert(spec, row)
            where = {spec.primary_key: existing}
            stored = self.update(spec, where, {c: row[c] for c in update})
            assert stored is not None  # found under the same lock
            return stored

    def models(self, spec: TableSpec[M]) -> Callable[[Row], M]:
        """``spec.to_model`` for the rows this store hands out, each stored row's model built
        once, when the row is written (its values are then still in the CPU's caches): a row
        handed out as stored and its model are both immutable, so every read of that row
        version gets the same model, and an update stores a new row with a new model. A copy
        (a row holding JSON documents) is built afresh, so no two callers share a document.
        Kept per spec (a project's model subclass gets its own); rows stored before the first
        call get theirs on their first read."""
        with self._lock:
            built: dict[object, tuple[Row, M]] = self._models[spec.name].setdefault(spec, {})
        table = self._tables[spec.name]
        rows, build, key = table.rows, spec.to_model, spec.primary_key

        def model(row: Row) -> M:
            pk = row[key]
            cached = built.get(pk)
            if cached is not None and cached[0] is row:
                return cached[1]
            made = build(row)
            if rows.get(pk) is row:  # the stored row itself, not a copy
                built[pk] = (row, made)
            return made

        return model

    def _keep_models(self, table: Table, pk: object, row: Row) -> None:
        """Build the models of a row just stored, for every spec ``models`` was asked for."""
        caches = self._models[table.spec.name]
        if caches and self._out(table, row) is row:
            for spec, built in caches.items():
                if len(built) > 2 * len(table.rows) + 64:  # deleted rows' entries go eventually
                    built.clear()
                built[pk] = (row, spec.to_model(row))

    # -- rules -----------------------------------------------------------------------------

    def _check_unique(
        self,
        table: Table,
        row: Row,
        *,
        exclude: Row | None,
        changed: Collection[str] | None = None,
    ) -> None:
        spec = table.spec
        for key in spec.unique:
            if changed is not None and not any(c in changed for c in key.columns):
                continue
            values = tuple(row[c] for c in key.columns)
            if None in values:
                continue
            holder = table.unique[key.name].get(values)
            if holder is not None and (exclude is None or holder != exclude[spec.primary_key]):
                raise AlreadyExistsError(spec.name, key.columns, spec.shown(key.columns, values))

    @staticmethod
    def _check_references(spec: TableSpec[Any], row: Row, links: Sequence[Link]) -> None:
        for link in links:
            if not link.holds(row):
                fk = link.fk
                missing = fk.missing(link.parent.spec, row)
                raise ForeignKeyError(spec.name, fk.column, fk.table, missing)

    @staticmethod
    def _check_moves(spec: TableSpec[Any], old: Row, new: Row, changed: Collection[str]) -> None:
        for column, moves in spec.transitions.items():
            if column not in changed:
                continue
            before, after = old[column], new[column]
            if before != after and after not in moves[before]:
                raise spec.refused_move(old, column, after)

    def _cascade(self, name: str, rows: list[Row]) -> dict[str, dict[object, Row]]:
        """``rows`` of table ``name`` and every row the ON DELETE CASCADE references reach,
        per table in the order a depth-first walk first meets them (the order dependents are
        checked in, so the blocking row a refusal names is always the same)."""
        doomed: dict[str, dict[object, Row]] = {}
        for row in rows:
            self._reach(name, row, doomed)
        return doomed

    def _reach(self, name: str, row: Row, doomed: dict[str, dict[object, Row]]) -> None:
        pk = row[self._keys[name]]
        group = doomed.get(name)
        if group is None:
            group = doomed[name] = {}
        elif pk in group:
            return
        group[pk] = row
        for child in self._cascades[name]:  # ``Link.referencing``, inlined
            found = child.candidates(pk)
            if not found:
                continue
            scope = child.scope
            project = None if scope is None else row[scope]
            for each in found:
                if scope is not None and each[scope] != project:
                    continue
                if not child.leaf:
                    self._reach(child.name, each, doomed)
                    continue
                into = doomed.get(child.name)  # reaching no further: joins without a walk
                if into is None:
                    into = doomed[child.name] = {}
                into[each[child.primary_key]] = each

    def _reachable(self, name: str) -> set[str]:
        """Table ``name`` and every table its ON DELETE CASCADE references lead to."""
        reached, todo = {name}, [name]
        while todo:
            for link in self._cascades[todo.pop()]:
                if link.name not in reached:
                    reached.add(link.name)
                    todo.append(link.name)
        return reached

    def _check_dependents(
        self, doomed: Mapping[str, Mapping[object, Row]]
    ) -> dict[tuple[str, object], list[str]]:
        """Refuse (NO ACTION) or plan SET NULL for rows that survive the cascade."""
        nulls: dict[tuple[str, object], list[str]] = {}
        for name, rows in doomed.items():
            guards = self._guards[name]
            if not guards:
                continue
            parent_spec = self._tables[name].spec
            for pk, row in rows.items():
                for child in guards:
                    gone = doomed.get(child.name, {})
                    survivors = [
                        c for c in child.referencing(row) if c[child.primary_key] not in gone
                    ]
                    if survivors and child.fk.on_delete is OnDelete.NO_ACTION:
                        raise ForeignKeyError(
                            child.name,
                            child.fk.column,
                            name,
                            child.fk.still_referenced(parent_spec, pk),
                        )
                    for found in survivors:
                        nulls.setdefault((child.name, found[child.primary_key]), []).append(
                            child.fk.column
                        )
        return nulls

    # -- storage helpers -------------------------------------------------------------------

    def _write(
        self,
        table: Table,
        old: Row | None,
        new: Row | None,
        changed: Collection[str] | None = None,
    ) -> None:
        """Store ``new`` in place of ``old`` (either may be None: an insert, a delete), keep the
        indexes, and remember the row's value at the last snapshot for a fast restore."""
        row = new if new is not None else old
        assert row is not None
        pk = row[table.spec.primary_key]
        self._remember(table.spec.name, pk, old)
        if new is None:
            table.remove({pk: row})
            return
        if old is None:
            table.rows[pk] = new
            table.index(new)
        else:
            table.rows[pk] = new
            table.reindex(old, new, changed)
        self._keep_models(table, pk, new)

    def _remember(self, name: str, pk: object, old: Row | None) -> None:
        """Note the row's value at the last snapshot (the first change since it), for ``_undo``."""
        if self._base is not None:
            if len(self._journal) >= JOURNAL_LIMIT:  # a rebuild is as cheap by now
                self._base, self._journal = None, {}
            else:
                self._journal.setdefault((name, pk), old)

    @staticmethod
    def _out(table: Table, row: Row) -> Row:
        """A stored row as handed out: itself when it holds nothing mutable (rows are never
        changed in place, and a caller only reads it, e.g. to build a model), else a copy
        with its own JSON documents."""
        for name in table.json_columns:
            if isinstance(row[name], _DOCUMENTS):
                out = row.copy()
                for json in table.json_columns:
                    value = out[json]
                    if not value and type(value) in _DOCUMENTS:  # often an empty document
                        out[json] = type(value)()
                    else:
                        out[json] = copy_json(value)
                return out
        return row


class Link:
    """One reference between two tables, used from both sides: whether a row's reference
    names a parent, and which rows name a given parent."""

    __slots__ = (
        "cascades",
        "column",
        "fk",
        "index",
        "leaf",
        "name",
        "parent",
        "parent_key",
        "primary_key",
        "scope",
        "table",
    )

    def __init__(self, table: Table, fk: ForeignKey, parent: Table) -> None:
        self.table = table
        self.parent = parent
        self.fk = fk
        self.name = table.spec.name
        self.primary_key = table.spec.primary_key
        self.column = fk.column
        self.parent_key = parent.spec.primary_key
        self.index = table.references.get(fk.column)
        """Parent primary key -> the referencing rows' primary keys (a reference names the
        parent's primary key, with its scope when scoped); None for a column found through its
        list-order index (``Table.listed``)."""
        self.cascades = fk.on_delete is OnDelete.CASCADE
        self.scope = fk.scope
        """The column both rows must agree on besides the reference (a scoped reference)."""
        self.leaf = False
        """Whether no ON DELETE CASCADE leads on from this table (set by ``MemoryStore``)."""

    def holds(self, row: Row) -> bool:
        """Whether ``row``'s reference is null or names a stored parent (in its scope)."""
        value = row[self.column]
        if value is None:
            return True
        parent = self.parent.rows.get(value)
        if parent is None:
            return False
        return self.scope is None or parent[self.scope] == row[self.scope]

    def moved(self, changed: Collection[str]) -> bool:
        """Whether an update changing ``changed`` changes what the reference names."""
        return self.column in changed or (self.scope is not None and self.scope in changed)

    def referencing(self, parent: Row) -> list[Row]:
        """The rows whose reference names ``parent`` (all its columns), through the reference
        column's index."""
        found = self.candidates(parent[self.parent_key])
        scope = self.scope
        if scope is None or not found:
            return found
        project = parent[scope]
        return [row for row in found if row[scope] == project]

    def candidates(self, pk: object) -> list[Row]:
        """The rows whose reference column holds ``pk`` (their scope is not compared: see
        ``referencing``); most rows have none, found by one dictionary lookup."""
        index = self.index
        if index is None:
            return self.table.referencing(self.column, pk)
        return index.rows(pk, self.table.rows)
