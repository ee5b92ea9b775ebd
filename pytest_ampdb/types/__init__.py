"""Repository interfaces (one Protocol per entity), ``Page`` and the ``Repositories`` bundle."""

from pytest_ampdb.types.bundle import TABLE_NAMES, AsyncRepositories, Repositories
from pytest_ampdb.types.page import Page
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
    ProjectScopedRepository,
    ProviderAppRepository,
    ReadStateRepository,
    RevisionRepository,
    UnscopedRepository,
)

__all__ = [
    "TABLE_NAMES",
    "ApiKeyRepository",
    "AsyncRepositories",
    "ConnectionRepository",
    "DestinationRepository",
    "InstallationRepository",
    "IntegrationRepository",
    "JwtKeyRepository",
    "OperationRepository",
    "OrganizationRepository",
    "Page",
    "ProjectRepository",
    "ProjectScopedRepository",
    "ProviderAppRepository",
    "ReadStateRepository",
    "Repositories",
    "RevisionRepository",
    "UnscopedRepository",
]
