"""``Repositories``: one repository per table, named after the table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

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
    ProjectScopedRepository,
    ProviderAppRepository,
    ReadStateRepository,
    RevisionRepository,
)

M = TypeVar("M")


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

    def of(self, model: type[M]) -> ProjectScopedRepository[M]:
        """The repository of a project's own (project-scoped) entity, typed by its model:
        ``repos.of(Invoice).get_by_id(...)`` is an ``Invoice`` to mypy as at run time."""
        for repo in self.declared.values():
            spec = getattr(repo, "spec", None)
            if spec is not None and spec.model is model and spec.scope is not None:
                found: ProjectScopedRepository[M] = repo
                return found
        raise KeyError(
            f"no project-scoped entity of the schema in effect has the model {model.__name__} "
            f"(declared: {', '.join(self.declared) or 'none'})"
        )

    def by_table(self) -> dict[str, Any]:
        """The repositories keyed by table name (a project's own entities too)."""
        return {name: getattr(self, name) for name in TABLE_NAMES} | dict(self.declared)


TABLE_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Repositories) if f.name != "declared")


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
