"""``Repositories``: one repository per table, named after the table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from pytest_ampdb.errors import AmpdbError
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
    AsyncProjectScopedRepository,
    AsyncProviderAppRepository,
    AsyncReadStateRepository,
    AsyncRevisionRepository,
    AsyncUnscopedRepository,
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
    UnscopedRepository,
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
        """The repository of a project-scoped entity, typed by its model: a project's own
        (``repos.of(Invoice).get_by_id(...)`` is an ``Invoice`` to mypy as at run time) or a
        packaged one (``repos.of(TieredApiKey)``: ``api_keys``, typed by the subclass)."""
        found: ProjectScopedRepository[M] = repository_of(self.by_table(), model, scoped=True)
        return found

    def of_unscoped(self, model: type[M]) -> UnscopedRepository[M]:
        """``of`` for an entity whose rows belong to no project (found by id alone)."""
        found: UnscopedRepository[M] = repository_of(self.by_table(), model, scoped=False)
        return found

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
    declared: Mapping[str, Any] = field(default_factory=dict)
    """The async repositories of the entities a project's schema adds, by table."""

    def of(self, model: type[M]) -> AsyncProjectScopedRepository[M]:
        """``Repositories.of``, awaited: ``await repos.of(Invoice).get_by_id(...)``."""
        found: AsyncProjectScopedRepository[M] = repository_of(self.by_table(), model, scoped=True)
        return found

    def of_unscoped(self, model: type[M]) -> AsyncUnscopedRepository[M]:
        """``Repositories.of_unscoped``, awaited."""
        found: AsyncUnscopedRepository[M] = repository_of(self.by_table(), model, scoped=False)
        return found

    def by_table(self) -> dict[str, Any]:
        """The repositories keyed by table name (a project's own entities too)."""
        return {name: getattr(self, name) for name in TABLE_NAMES} | dict(self.declared)


def repository_of(by_table: Mapping[str, Any], model: type[Any], *, scoped: bool) -> Any:
    """The repository among ``by_table`` whose table's model is ``model``, or one line saying
    why none is: no table has that model, or its scope is the other one (``of`` is for
    project-scoped entities, ``of_unscoped`` for the others). Something that is not a class
    (a table's name) is a ``TypeError`` saying what it takes, as a write of a wrong model is."""
    if not isinstance(model, type):
        call = "of" if scoped else "of_unscoped"
        hint = f" (a table by name: by_table()[{model!r}])" if isinstance(model, str) else ""
        raise TypeError(f"{call}() takes an entity's model class, not {model!r}{hint}")
    for table, repo in by_table.items():
        spec = getattr(repo, "spec", None)
        if spec is None or spec.model is not model:
            continue
        if (spec.scope is not None) != scoped:
            use, scope = ("of_unscoped", "no project") if scoped else ("of", "a project")
            raise AmpdbError(f"{table}: its rows belong to {scope}; use {use}({model.__name__})")
        return repo
    raise AmpdbError(
        f"no table of the schema in effect has the model {model.__name__} (a project's own "
        f"entities: {', '.join(t for t in by_table if t not in TABLE_NAMES) or 'none'})"
    )
