"""The storage contract the repository classes are written against, once for every backend.

An engine stores normalized rows (``TableSpec.normalize``) and enforces what the schema enforces:
keys, references with their ON DELETE, and status moves. The memory store and the postgres
backend implement it; ``pytest_ampdb.repositories`` builds all twelve repositories over either.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol

from pytest_ampdb.models.schema import Row, TableSpec, UniqueKey


class Engine(Protocol):
    """Row storage for the twelve tables.

    A row an engine hands back is the caller's to read, not to change: the memory store may
    hand out the very row it stores (it never changes one in place, so that is safe to read).
    An engine may also offer ``models(spec)``, a ``row -> model`` function that keeps the
    models of the rows it stores; the repositories use it where it exists (the memory store).
    It may offer ``page(spec, where, *, after, size)``: the models of up to ``size`` rows as
    ``select`` orders them, and the ``spec.order_by`` columns of the last one when more rows
    follow (PostgreSQL: a page's models made straight from the result rows).
    """

    def insert(self, spec: TableSpec[Any], row: Row) -> Row:
        """Store a new row (duplicates: ``AlreadyExistsError``; no parent: ``ForeignKeyError``)."""
        ...

    def select(
        self,
        spec: TableSpec[Any],
        where: Mapping[str, object],
        *,
        after: Sequence[object] | None = None,
        limit: int | None = None,
    ) -> list[Row]:
        """Rows equal to ``where`` on each column, in ``spec.order_by`` order, after that key."""
        ...

    def update(
        self,
        spec: TableSpec[Any],
        where: Mapping[str, object],
        changes: Row,
        *,
        expect: Mapping[str, Collection[object]] | None = None,
    ) -> Row | None:
        """Change the one row matching ``where`` when each ``expect`` column holds one of its
        values (a status move's allowed starting points).

        Returns the stored row, or ``None`` when no row matched; a row whose ``expect`` column
        holds another value is refused with ``TableSpec.refused_move`` naming that value. The
        check and the write are one atomic step, which is what makes racing status moves have
        exactly one winner, and a refusal name the status it was refused from.
        """
        ...

    def delete(self, spec: TableSpec[Any], where: Mapping[str, object]) -> int:
        """Delete matching rows, cascading or refusing as the references say; the count deleted."""
        ...

    def upsert(self, spec: TableSpec[Any], row: Row, key: UniqueKey, update: Sequence[str]) -> Row:
        """Insert, or on a conflict of ``key`` update the ``update`` columns of the existing row."""
        ...
