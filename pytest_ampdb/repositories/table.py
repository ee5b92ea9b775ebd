"""One repository mechanism for every table, over any ``Engine``.

Create, get, list, update and delete are written here once; the twelve repository classes only
name their lookups. Values are normalized here (identically for every backend) before the engine
stores them, and timestamps come from one clock, so both backends hand back the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

from pytest_ampdb.errors import NotFoundError, ValidationError
from pytest_ampdb.models.schema import Row, TableSpec
from pytest_ampdb.repositories import pagination
from pytest_ampdb.repositories.engine import Engine
from pytest_ampdb.types import Page

M = TypeVar("M")
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time in UTC, at the microsecond precision PostgreSQL keeps."""
    return datetime.now(UTC)


class TableRepository(Generic[M]):
    """The building blocks every repository method is made of."""

    spec: ClassVar[TableSpec[Any]]

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock
        models = getattr(engine, "models", None)  # an engine that keeps models (memory)
        self._build: Callable[[Row], M] = (
            models(self.spec) if models is not None else self.spec.to_model
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._engine!r})"

    def _insert(self, entity: M) -> M:
        spec = self.spec
        row = spec.to_row(entity)
        now = self._clock()
        if spec.created_column and row[spec.created_column] is None:
            row[spec.created_column] = now
        if spec.updated_on_create and spec.updated_column and row[spec.updated_column] is None:
            row[spec.updated_column] = row.get(spec.created_column or "", None) or now
        return self._model(self._engine.insert(spec, spec.normalize(row)))

    def _one(self, where: Mapping[str, object]) -> M:
        key = self._where(where)
        rows = self._engine.select(self.spec, key, limit=1)
        if not rows:
            raise NotFoundError(self.spec.name, self.spec.described(key))
        return self._model(rows[0])

    def _all(self, where: Mapping[str, object]) -> list[M]:
        return list(map(self._build, self._engine.select(self.spec, self._where(where))))

    def _page(self, where: Mapping[str, object], page_size: int, page_token: str | None) -> Page[M]:
        spec = self.spec
        pagination.check_page_size(spec, page_size)
        stored = self._where(where)
        bound = pagination.binding(spec, stored)
        after = pagination.decode(spec, page_token, bound) if page_token is not None else None
        page = getattr(self._engine, "page", None)  # models without stored rows (PostgreSQL)
        if page is not None:
            items, last = page(spec, stored, after=after, size=page_size)
            return Page(items, pagination.encode(spec, last, bound) if last is not None else None)
        rows = self._engine.select(spec, stored, after=after, limit=page_size + 1)
        last = rows[page_size - 1] if len(rows) > page_size else None
        token = pagination.encode(spec, last, bound) if last is not None else None
        return Page(list(map(self._build, rows[:page_size])), token)

    def _save(self, entity: M) -> M:
        spec = self.spec
        if spec.immutable:
            self._one(self.spec.key_of(spec.to_row(entity)))  # a missing row is NotFoundError
            raise ValidationError(spec.name, spec.primary_key, "rows are immutable once written")
        row = spec.to_row(entity)
        now = self._clock()
        if spec.created_column:
            row[spec.created_column] = row[spec.created_column] or now  # kept as stored
        if spec.updated_column:
            row[spec.updated_column] = now
        row = spec.normalize(row)
        key = self.spec.key_of(row)
        fixed = {*key, spec.created_column}
        changes = {k: v for k, v in row.items() if k not in fixed}
        moves = {c: spec.moves_into(c, changes[c]) for c in spec.transitions if c in changes}
        stored = self._engine.update(spec, key, changes, expect=moves or None)
        if stored is None:
            raise NotFoundError(spec.name, spec.described(key))
        return self._model(stored)

    def _remove(self, where: Mapping[str, object]) -> None:
        key = self._where(where)
        if self._engine.delete(self.spec, key) == 0:
            raise NotFoundError(self.spec.name, self.spec.described(key))

    def _where(self, where: Mapping[str, object]) -> dict[str, object]:
        """Lookup values in stored form. A key may not be ``None`` (it would match every row:
        ``get_by_key(None)`` must not find an API key); optional filters go through ``present``."""
        out: dict[str, object] = {}
        stored = self.spec.stored
        for name, value in where.items():
            if value is None:
                raise ValidationError(self.spec.name, name, "must not be null")
            out[name] = stored(name, value)
        return out

    def _model(self, row: Row) -> M:
        return self._build(row)


class ScopedRepository(TableRepository[M]):
    """The methods every project-scoped repository has."""

    def create(self, entity: M) -> M:
        return self._insert(entity)

    def get_by_id(self, project_id: str, id: str) -> M:
        return self._one({"project_id": project_id, self.spec.primary_key: id})

    def list(
        self, project_id: str, *, page_size: int = 100, page_token: str | None = None
    ) -> Page[M]:
        return self._page({"project_id": project_id}, page_size, page_token)

    def update(self, entity: M) -> M:
        return self._save(entity)

    def delete(self, project_id: str, id: str) -> None:
        self._remove({"project_id": project_id, self.spec.primary_key: id})


class UnscopedRepository(TableRepository[M]):
    """The methods of a repository whose rows belong to no project (looked up by key alone)."""

    def create(self, entity: M) -> M:
        return self._insert(entity)

    def get_by_id(self, id: str) -> M:
        return self._one({self.spec.primary_key: id})

    def list(self, *, page_size: int = 100, page_token: str | None = None) -> Page[M]:
        return self._page({}, page_size, page_token)

    def update(self, entity: M) -> M:
        return self._save(entity)

    def delete(self, id: str) -> None:
        self._remove({self.spec.primary_key: id})


def present(**filters: object) -> dict[str, object]:
    """The optional filters that were given (``None`` means "any")."""
    return {name: value for name, value in filters.items() if value is not None}
