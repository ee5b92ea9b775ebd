"""``Repositories``: one repository per table, named after the table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

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
    declared: Mapping[str, Any] = field(default_factory=dict)
    """Repositories of the entities a project's schema adds (``--ampdb-schema``), by table:
    ``repos.declared["invoices"].create(...)``; empty for the packaged schema."""

    def by_table(self) -> dict[str, Any]:
        """The repositories keyed by table name (a project's own entities too)."""
        return {name: getattr(self, name) for name in TABLE_NAMES} | dict(self.declared)


TABLE_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Repositories) if f.name != "declared")
