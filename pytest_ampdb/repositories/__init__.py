"""The repository classes, written once over a storage ``Engine`` (memory or postgres)."""

from __future__ import annotations

from pytest_ampdb.repositories import entities
from pytest_ampdb.repositories.engine import Engine
from pytest_ampdb.repositories.table import Clock, ScopedRepository, TableRepository, utc_now
from pytest_ampdb.types import Repositories


def build(engine: Engine, clock: Clock = utc_now) -> Repositories:
    """All twelve repositories over one engine (mypy checks each against its Protocol here)."""
    e = entities
    return Repositories(
        organizations=e.OrganizationRepository(engine, clock),
        projects=e.ProjectRepository(engine, clock),
        integrations=e.IntegrationRepository(engine, clock),
        revisions=e.RevisionRepository(engine, clock),
        installations=e.InstallationRepository(engine, clock),
        operations=e.OperationRepository(engine, clock),
        connections=e.ConnectionRepository(engine, clock),
        provider_apps=e.ProviderAppRepository(engine, clock),
        api_keys=e.ApiKeyRepository(engine, clock),
        destinations=e.DestinationRepository(engine, clock),
        jwt_keys=e.JwtKeyRepository(engine, clock),
        read_states=e.ReadStateRepository(engine, clock),
    )


__all__ = ["Clock", "Engine", "ScopedRepository", "TableRepository", "build", "utc_now"]
