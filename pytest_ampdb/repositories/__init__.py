"""The repository classes, written once over a storage ``Engine`` (memory or postgres)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pytest_ampdb.models.schema import TableSpec
from pytest_ampdb.models.tables import TABLES
from pytest_ampdb.repositories import entities
from pytest_ampdb.repositories.engine import Engine
from pytest_ampdb.repositories.table import (
    Clock,
    ScopedRepository,
    TableRepository,
    UnscopedRepository,
    utc_now,
)
from pytest_ampdb.types import TABLE_NAMES, Repositories


def build(
    engine: Engine, clock: Clock = utc_now, tables: Mapping[str, TableSpec[Any]] = TABLES
) -> Repositories:
    """Every repository of the declared ``tables`` over one engine (mypy checks each packaged
    one against its Protocol here): an extended entity's repository works from its extended
    spec, a project's own entity gets the generic one."""
    e = entities
    return Repositories(
        organizations=_of(e.OrganizationRepository, tables)(engine, clock),
        projects=_of(e.ProjectRepository, tables)(engine, clock),
        integrations=_of(e.IntegrationRepository, tables)(engine, clock),
        revisions=_of(e.RevisionRepository, tables)(engine, clock),
        installations=_of(e.InstallationRepository, tables)(engine, clock),
        operations=_of(e.OperationRepository, tables)(engine, clock),
        connections=_of(e.ConnectionRepository, tables)(engine, clock),
        provider_apps=_of(e.ProviderAppRepository, tables)(engine, clock),
        api_keys=_of(e.ApiKeyRepository, tables)(engine, clock),
        destinations=_of(e.DestinationRepository, tables)(engine, clock),
        jwt_keys=_of(e.JwtKeyRepository, tables)(engine, clock),
        read_states=_of(e.ReadStateRepository, tables)(engine, clock),
        declared={
            name: generic_repository(spec)(engine, clock)
            for name, spec in tables.items()
            if name not in TABLE_NAMES
        },
    )


R = TypeVar("R", bound=TableRepository[Any])


def _of(cls: type[R], tables: Mapping[str, TableSpec[Any]]) -> type[R]:
    """``cls``, or a subclass of it bound to the project's extended spec of its table."""
    spec = tables.get(cls.spec.name, cls.spec)
    return cls if spec is cls.spec else type(cls.__name__, (cls,), {"spec": spec})


def generic_repository(spec: TableSpec[Any]) -> type[TableRepository[Any]]:
    """The repository class of a project's own entity: create, get_by_id, list, update and
    delete, project-scoped or not as the spec says."""
    base: type[TableRepository[Any]] = ScopedRepository if spec.scope else UnscopedRepository
    name = "".join(part.title() for part in spec.name.split("_")) + "Repository"
    return type(name, (base,), {"spec": spec})


__all__ = [
    "Clock",
    "Engine",
    "ScopedRepository",
    "TableRepository",
    "UnscopedRepository",
    "build",
    "generic_repository",
    "utc_now",
]
