"""The repository interfaces: one Protocol per entity, as production code sees them.

Every implementation (memory, postgres, mock builders) satisfies these; production code and
tests type against them and never against an implementation.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from pytest_ampdb.models import (
    ApiKey,
    Connection,
    ConnectionStatus,
    Destination,
    Installation,
    Integration,
    JwtKey,
    Operation,
    OperationStatus,
    Organization,
    Project,
    ProviderApp,
    ReadState,
    Revision,
)
from pytest_ampdb.types.page import Page

M = TypeVar("M")


class ProjectScopedRepository(Protocol[M]):
    """What every project-scoped table offers; an id from another project is not found."""

    def create(self, entity: M) -> M:
        """Save a new row (fills create_time); duplicates and dangling references are refused."""
        ...

    def get_by_id(self, project_id: str, id: str) -> M:
        """The row, or ``NotFoundError``."""
        ...

    def list(
        self, project_id: str, *, page_size: int = 100, page_token: str | None = None
    ) -> Page[M]:
        """A page in a stable order (create_time, then id)."""
        ...

    def update(self, entity: M) -> M:
        """Save changes to an existing row (sets update_time), or ``NotFoundError``."""
        ...

    def delete(self, project_id: str, id: str) -> None:
        """Remove the row (children cascade or refuse as the schema says), or ``NotFoundError``."""
        ...


class UnscopedRepository(Protocol[M]):
    """What every table whose rows belong to no project offers: rows are found by id alone."""

    def create(self, entity: M) -> M:
        """Save a new row (fills create_time); duplicates and dangling references are refused."""
        ...

    def get_by_id(self, id: str) -> M:
        """The row, or ``NotFoundError``."""
        ...

    def list(self, *, page_size: int = 100, page_token: str | None = None) -> Page[M]:
        """A page in a stable order (create_time, then id)."""
        ...

    def update(self, entity: M) -> M:
        """Save changes to an existing row (sets update_time), or ``NotFoundError``."""
        ...

    def delete(self, id: str) -> None:
        """Remove the row (children cascade or refuse as the schema says), or ``NotFoundError``."""
        ...


class OrganizationRepository(Protocol):
    def create(self, entity: Organization) -> Organization: ...
    def get_by_id(self, id: str) -> Organization: ...
    def list(
        self, *, page_size: int = 100, page_token: str | None = None
    ) -> Page[Organization]: ...
    def update(self, entity: Organization) -> Organization: ...
    def delete(self, id: str) -> None: ...


class ProjectRepository(Protocol):
    def create(self, entity: Project) -> Project: ...
    def get_by_id(self, id: str) -> Project: ...
    def get_by_name(self, name: str) -> Project: ...
    def list(
        self,
        *,
        organization_id: str | None = None,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[Project]: ...
    def update(self, entity: Project) -> Project: ...
    def delete(self, id: str) -> None: ...


class IntegrationRepository(ProjectScopedRepository[Integration], Protocol):
    def get_by_name(self, project_id: str, name: str) -> Integration: ...


class RevisionRepository(ProjectScopedRepository[Revision], Protocol):
    def list_by_integration(self, project_id: str, integration_id: str) -> list[Revision]: ...


class InstallationRepository(ProjectScopedRepository[Installation], Protocol):
    def get_by_group_ref(
        self, project_id: str, integration_id: str, group_ref: str
    ) -> Installation: ...


class OperationRepository(ProjectScopedRepository[Operation], Protocol):
    def transition(
        self, project_id: str, id: str, status: OperationStatus, *, result: str | None = None
    ) -> Operation:
        """Move the status atomically; a move the rules forbid is ``InvalidTransitionError``."""
        ...

    def list_by_installation(
        self, project_id: str, installation_id: str, *, status: OperationStatus | None = None
    ) -> list[Operation]: ...


class ConnectionRepository(ProjectScopedRepository[Connection], Protocol):
    def list(
        self,
        project_id: str,
        *,
        provider: str | None = None,
        group_ref: str | None = None,
        consumer_ref: str | None = None,
        status: ConnectionStatus | None = None,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[Connection]: ...


class ProviderAppRepository(ProjectScopedRepository[ProviderApp], Protocol):
    def get_by_provider(self, project_id: str, provider: str) -> ProviderApp: ...


class ApiKeyRepository(ProjectScopedRepository[ApiKey], Protocol):
    def get_by_key(self, key: str) -> ApiKey: ...


class DestinationRepository(ProjectScopedRepository[Destination], Protocol):
    def get_by_name(self, project_id: str, name: str) -> Destination: ...


class JwtKeyRepository(ProjectScopedRepository[JwtKey], Protocol):
    pass


class ReadStateRepository(ProjectScopedRepository[ReadState], Protocol):
    def upsert(self, read_state: ReadState) -> ReadState:
        """Insert, or update the row of the same installation and object (keeping its id); an
        installation of another project is a ``ForeignKeyError``, and its rows stay untouched."""
        ...

    def get(self, project_id: str, installation_id: str, object_name: str) -> ReadState: ...
