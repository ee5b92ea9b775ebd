"""``Repositories``: one repository per table, named after the table."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from pytest_ampdb.types.async_repositories import (
    AsyncApiKeyRepository,
    AsyncConnectionRepository,
    AsyncDestinationRepository,
    AsyncInstallationRepository,
    AsyncIntegrationRepository,
    AsyncJwtKeyRepository,
    AsyncOperationRepository,
    AsyncOrganizationRepository,
    AsyncProjectRepository,
    AsyncProviderAppRepository,
    AsyncReadStateRepository,
    AsyncRevisionRepository,
)
from pytest_ampdb.types.repositories import (
    ApiKeyRepository,
    ConnectionRepository,
    DestinationRepository,
    InstallationRepository,
    IntegrationRepository,
    JwtKeyRepository,
    OperationRepository,
    OrganizationRepository,
    ProjectRepository,
    ProviderAppRepository,
    ReadStateRepository,
    RevisionRepository,
)


@dataclass(frozen=True, slots=True)
class Repositories:
    """A complete set of repositories from one backend (or a mix, via ``replace``)."""

    organizations: OrganizationRepository
    projects: ProjectRepository
    integrations: IntegrationRepository
    revisions: RevisionRepository
    installations: InstallationRepository
    operations: OperationRepository
    connections: ConnectionRepository
    provider_apps: ProviderAppRepository
    api_keys: ApiKeyRepository
    destinations: DestinationRepository
    jwt_keys: JwtKeyRepository
    read_states: ReadStateRepository

    def by_table(self) -> dict[str, Any]:
        """The repositories keyed by table name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


TABLE_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Repositories))


@dataclass(frozen=True, slots=True)
class AsyncRepositories:
    """The async twin of ``Repositories``: the same tables, each repository's methods awaited."""

    organizations: AsyncOrganizationRepository
    projects: AsyncProjectRepository
    integrations: AsyncIntegrationRepository
    revisions: AsyncRevisionRepository
    installations: AsyncInstallationRepository
    operations: AsyncOperationRepository
    connections: AsyncConnectionRepository
    provider_apps: AsyncProviderAppRepository
    api_keys: AsyncApiKeyRepository
    destinations: AsyncDestinationRepository
    jwt_keys: AsyncJwtKeyRepository
    read_states: AsyncReadStateRepository

    def by_table(self) -> dict[str, Any]:
        """The repositories keyed by table name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
