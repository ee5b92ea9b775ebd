"""Shortcuts over the builders: find one by table or interface, and mock a whole bundle.

``repositories(connections=...)`` gives a complete ``Repositories`` for ``database.use(...)``
where every table not named is an empty mock, so an unexpected repository call fails loudly
(``NotStubbedError``) instead of reaching a real database.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any

from pytest_ampdb.harness.mock.builder import Builder, RepositoryMock, builders
from pytest_ampdb.models.declared import declared_spec
from pytest_ampdb.models.tables import SPEC_BY_MODEL
from pytest_ampdb.types import TABLE_NAMES, AsyncRepositories, Repositories
from pytest_ampdb.types.async_repositories import (
    AsyncProjectScopedRepository,
    AsyncUnscopedRepository,
)
from pytest_ampdb.types.repositories import ProjectScopedRepository, UnscopedRepository


def _interfaces_by_table(bundle: type[Any]) -> dict[str, type[Any]]:
    hints = typing.get_type_hints(bundle)
    return {table: hints[table] for table in TABLE_NAMES}


def builder_for(target: str | type[Any], *, asynchronous: bool = False) -> Builder[Any]:
    """A new builder for a table name (``"connections"``), an interface or a model class
    (``asynchronous``: the builder of the table's async interface)."""
    by_table = _interfaces_by_table(AsyncRepositories if asynchronous else Repositories)
    interface: Any = target
    if isinstance(target, str):
        interface = by_table.get(target)
    elif packaged := next((b for b in target.__mro__ if b in SPEC_BY_MODEL), None):
        interface = by_table[SPEC_BY_MODEL[packaged].name]  # a project's subclass adds columns
    builder = builders().get(interface) if interface is not None else None
    if builder is None and dataclasses.is_dataclass(target) and isinstance(target, type):
        return _own_entity_builder(target, asynchronous=asynchronous)
    if builder is None:
        shown = target if isinstance(target, str) else getattr(target, "__name__", repr(target))
        raise ValueError(
            f"no mock builder for {shown!r}: give a table name ({', '.join(TABLE_NAMES)}), "
            "a repository interface or a model class"
        )
    return builder()


def _own_entity_builder(model: type[Any], *, asynchronous: bool) -> Builder[Any]:
    """A builder for a project's own entity (``--ampdb-schema``), its stubs checked against
    ``ProjectScopedRepository`` of the model, or ``UnscopedRepository`` for an entity whose
    rows belong to no project (as declared; an entity whose schema module is not imported is
    project-scoped when it has a ``project_id``)."""
    spec = declared_spec(model)
    if spec is not None:
        scoped = spec.scope is not None
    else:
        scoped = "project_id" in {f.name for f in dataclasses.fields(model)}
    prefix = "Async" if asynchronous else ""
    # named as a packaged one is (``JwtKeyRepository(ProjectScopedRepository[JwtKey])``), so
    # a refused stub reads ``TagRepository.get_by_id(id: str) -> Tag``
    interface = types.new_class(
        f"{prefix}{model.__name__}Repository",
        (_GENERIC[asynchronous, scoped][model], typing.Protocol),
    )
    mock_class = types.new_class(
        f"{prefix}{model.__name__}Mock",
        (RepositoryMock, interface),
        exec_body=lambda ns: ns.update(spec=spec),  # how of(Model) finds a mock among repos
    )
    builder_class: type[Builder[Any]] = types.new_class(
        f"{prefix}{model.__name__}Builder",
        (Builder[mock_class],),  # type: ignore[valid-type]
    )
    return builder_class()


_GENERIC: dict[tuple[bool, bool], Any] = {
    (False, True): ProjectScopedRepository,
    (False, False): UnscopedRepository,
    (True, True): AsyncProjectScopedRepository,
    (True, False): AsyncUnscopedRepository,
}
"""The interface of a project's own entity, by (asynchronous, project-scoped)."""


def repositories(declared: Mapping[str, Any] | None = None, **by_table: Any) -> Repositories:
    """A bundle of mocks: each table given as a builder (built here) or any repository object;
    every other table an empty mock whose methods all raise ``NotStubbedError``. ``declared``:
    a project's own entities by table (``{"invoices": mock.builder_for(Invoice)}``)."""
    return Repositories(**_mocks(by_table, asynchronous=False), declared=_built(declared or {}))


def async_repositories(
    declared: Mapping[str, Any] | None = None, **by_table: Any
) -> AsyncRepositories:
    """``repositories`` for async code: every table not given an empty async mock."""
    return AsyncRepositories(**_mocks(by_table, asynchronous=True), declared=_built(declared or {}))


def _mocks(by_table: dict[str, Any], *, asynchronous: bool) -> dict[str, Any]:
    unknown = sorted(set(by_table) - set(TABLE_NAMES))
    if unknown:
        raise TypeError(
            f"mock.repositories() got unknown table name(s): {', '.join(unknown)} "
            f"(tables: {', '.join(TABLE_NAMES)}; a project's own: declared={{...}})"
        )
    chosen = {
        table: by_table.get(table) or builder_for(table, asynchronous=asynchronous)
        for table in TABLE_NAMES
    }
    return _built(chosen)


def _built(by_table: Mapping[str, Any]) -> dict[str, Any]:
    """Each builder built, any other repository object as given."""
    return {t: v.build() if isinstance(v, Builder) else v for t, v in by_table.items()}
