"""The twelve repositories: each names only what differs from the shared mechanism."""

from __future__ import annotations

from pytest_ampdb.errors import NotFoundError
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
from pytest_ampdb.models import tables as t
from pytest_ampdb.repositories.table import ScopedRepository, TableRepository, present
from pytest_ampdb.types import Page


class OrganizationRepository(TableRepository[Organization]):
    spec = t.ORGANIZATIONS

    def create(self, entity: Organization) -> Organization:
        return self._insert(entity)

    def get_by_id(self, id: str) -> Organization:
        return self._one({"id": id})

    def list(self, *, page_size: int = 100, page_token: str | None = None) -> Page[Organization]:
        return self._page({}, page_size, page_token)

    def update(self, entity: Organization) -> Organization:
        return self._save(entity)

    def delete(self, id: str) -> None:
        self._remove({"id": id})


class ProjectRepository(TableRepository[Project]):
    spec = t.PROJECTS

    def create(self, entity: Project) -> Project:
        return self._insert(entity)

    def get_by_id(self, id: str) -> Project:
        return self._one({"id": id})

    def get_by_name(self, name: str) -> Project:
        return self._one({"name": name.lower() if isinstance(name, str) else name})

    def list(
        self,
        *,
        organization_id: str | None = None,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[Project]:
        return self._page(present(organization_id=organization_id), page_size, page_token)

    def update(self, entity: Project) -> Project:
        return self._save(entity)

    def delete(self, id: str) -> None:
        self._remove({"id": id})


class IntegrationRepository(ScopedRepository[Integration]):
    spec = t.INTEGRATIONS

    def get_by_name(self, project_id: str, name: str) -> Integration:
        return self._one({"project_id": project_id, "name": name})


class RevisionRepository(ScopedRepository[Revision]):
    spec = t.REVISIONS

    def list_by_integration(self, project_id: str, integration_id: str) -> list[Revision]:
        return self._all({"project_id": project_id, "integration_id": integration_id})


class InstallationRepository(ScopedRepository[Installation]):
    spec = t.INSTALLATIONS

    def get_by_group_ref(
        self, project_id: str, integration_id: str, group_ref: str
    ) -> Installation:
        return self._one(
            {"project_id": project_id, "integration_id": integration_id, "group_ref": group_ref}
        )


class OperationRepository(ScopedRepository[Operation]):
    spec = t.OPERATIONS

    def transition(
        self, project_id: str, id: str, status: OperationStatus, *, result: str | None = None
    ) -> Operation:
        where = self._where({"project_id": project_id, "id": id})
        changes = self._where({"status": status, "update_time": self._clock()})
        target = changes["status"]
        if result is not None:
            changes.update(self._where({"result": result}))
        allowed_from = [s for s, moves in t.OPERATION_MOVES.items() if target in moves]
        stored = self._engine.update(self.spec, where, changes, expect={"status": allowed_from})
        if stored is None:
            raise NotFoundError(self.spec.name, self.spec.described(where))
        return self._model(stored)

    def list_by_installation(
        self, project_id: str, installation_id: str, *, status: OperationStatus | None = None
    ) -> list[Operation]:
        where = {"project_id": project_id, "installation_id": installation_id}
        return self._all(where | present(status=status))


class ConnectionRepository(ScopedRepository[Connection]):
    spec = t.CONNECTIONS

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
    ) -> Page[Connection]:
        filters = present(
            provider=provider, group_ref=group_ref, consumer_ref=consumer_ref, status=status
        )
        return self._page({"project_id": project_id} | filters, page_size, page_token)


class ProviderAppRepository(ScopedRepository[ProviderApp]):
    spec = t.PROVIDER_APPS

    def get_by_provider(self, project_id: str, provider: str) -> ProviderApp:
        return self._one({"project_id": project_id, "provider": provider})


class ApiKeyRepository(ScopedRepository[ApiKey]):
    spec = t.API_KEYS

    def get_by_key(self, key: str) -> ApiKey:
        return self._one({"key": key})


class DestinationRepository(ScopedRepository[Destination]):
    spec = t.DESTINATIONS

    def get_by_name(self, project_id: str, name: str) -> Destination:
        return self._one({"project_id": project_id, "name": name})


class JwtKeyRepository(ScopedRepository[JwtKey]):
    spec = t.JWT_KEYS


class ReadStateRepository(ScopedRepository[ReadState]):
    spec = t.READ_STATES

    def upsert(self, read_state: ReadState) -> ReadState:
        spec = self.spec
        row = spec.to_row(read_state)
        row["update_time"] = self._clock()
        row = spec.normalize(row)
        update = ("next_page_token", "since_time", "records_processed", "update_time")
        return self._model(self._engine.upsert(spec, row, spec.unique[0], update))

    def get(self, project_id: str, installation_id: str, object_name: str) -> ReadState:
        return self._one(
            {
                "project_id": project_id,
                "installation_id": installation_id,
                "object_name": object_name,
            }
        )
