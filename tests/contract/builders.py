"""Valid rows and parent chains for the contract suite, without the ``factories`` package.

The contract suite must not depend on the factories (they are built on top of what it checks), so
this module makes the smallest valid row of each table by hand: ``Builder.new(table, **fields)``
saves whatever parents are missing and returns the row unsaved; ``Builder.make`` also saves it.
Names carry a per-builder counter plus a random suffix so rows never collide by accident, also
with the seeded rows.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from typing import Any

from pytest_ampdb.models import (
    ApiKey,
    AuthScheme,
    Connection,
    Destination,
    DestinationType,
    Installation,
    Integration,
    JwtKey,
    Operation,
    OperationStatus,
    OperationType,
    Organization,
    Project,
    ProviderApp,
    ReadState,
    Revision,
)
from pytest_ampdb.models.tables import TABLES
from pytest_ampdb.types import Page, Repositories

PUBLIC_KEY_PEM = (
    "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
    "-----END PUBLIC KEY-----\n"
)

_PROJECT_SCOPED_PARENTS = {"integration_id", "installation_id", "connection_id", "provider_app_id"}

# The road from ``pending`` to each status through allowed moves only.
STATUS_PATHS: dict[OperationStatus, tuple[OperationStatus, ...]] = {
    OperationStatus.PENDING: (),
    OperationStatus.RUNNING: (OperationStatus.RUNNING,),
    OperationStatus.COMPLETED: (OperationStatus.RUNNING, OperationStatus.COMPLETED),
    OperationStatus.FAILED: (OperationStatus.FAILED,),
}


class Builder:
    """Makes valid rows of every table over one ``Repositories``, parents first."""

    def __init__(self, repos: Repositories) -> None:
        self.repos = repos
        self._counter = itertools.count(1)
        self._salt = uuid.uuid4().hex[:6]

    def _tag(self) -> str:
        return f"{next(self._counter)}-{self._salt}"

    # -- generic entry points --------------------------------------------------------------

    def new(self, table: str, **fields: Any) -> Any:
        """An unsaved valid row of ``table``; missing parents are created and saved."""
        maker: Callable[[dict[str, Any]], Any] = getattr(self, f"_new_{table}")
        return maker(dict(fields))

    def make(self, table: str, **fields: Any) -> Any:
        """A saved valid row of ``table`` (as the repository returned it)."""
        return getattr(self.repos, table).create(self.new(table, **fields))

    # -- typed shortcuts -------------------------------------------------------------------

    def organization(self, **fields: Any) -> Organization:
        made: Organization = self.make("organizations", **fields)
        return made

    def project(self, **fields: Any) -> Project:
        made: Project = self.make("projects", **fields)
        return made

    def integration(self, **fields: Any) -> Integration:
        made: Integration = self.make("integrations", **fields)
        return made

    def revision(self, **fields: Any) -> Revision:
        made: Revision = self.make("revisions", **fields)
        return made

    def installation(self, **fields: Any) -> Installation:
        made: Installation = self.make("installations", **fields)
        return made

    def operation(self, **fields: Any) -> Operation:
        made: Operation = self.make("operations", **fields)
        return made

    def connection(self, **fields: Any) -> Connection:
        made: Connection = self.make("connections", **fields)
        return made

    def provider_app(self, **fields: Any) -> ProviderApp:
        made: ProviderApp = self.make("provider_apps", **fields)
        return made

    def api_key(self, **fields: Any) -> ApiKey:
        made: ApiKey = self.make("api_keys", **fields)
        return made

    def destination(self, **fields: Any) -> Destination:
        made: Destination = self.make("destinations", **fields)
        return made

    def jwt_key(self, **fields: Any) -> JwtKey:
        made: JwtKey = self.make("jwt_keys", **fields)
        return made

    def read_state(self, **fields: Any) -> ReadState:
        made: ReadState = self.make("read_states", **fields)
        return made

    def operation_in(self, status: OperationStatus, **fields: Any) -> Operation:
        """A saved operation brought to ``status`` through allowed moves only."""
        op = self.operation(**fields)
        for step in STATUS_PATHS[status]:
            op = self.repos.operations.transition(op.project_id, op.id, step)
        return op

    # -- parents ---------------------------------------------------------------------------

    def _project_id(self, f: dict[str, Any]) -> str:
        if "project_id" not in f:
            given = sorted(set(f) & _PROJECT_SCOPED_PARENTS)
            if given:
                raise TypeError(f"pass project_id along with {', '.join(given)}")
            f["project_id"] = self.project().id
        project_id: str = f["project_id"]
        return project_id

    def _integration_id(self, f: dict[str, Any]) -> str:
        if "integration_id" not in f:
            f["integration_id"] = self.integration(project_id=self._project_id(f)).id
        integration_id: str = f["integration_id"]
        return integration_id

    def _installation_id(self, f: dict[str, Any]) -> str:
        if "installation_id" not in f:
            f["installation_id"] = self.installation(project_id=self._project_id(f)).id
        installation_id: str = f["installation_id"]
        return installation_id

    # -- one maker per table ---------------------------------------------------------------

    def _new_organizations(self, f: dict[str, Any]) -> Organization:
        return Organization(**{"label": f"Org {self._tag()}", "default_team_id": _uuid(), **f})

    def _new_projects(self, f: dict[str, Any]) -> Project:
        if "organization_id" not in f:
            f["organization_id"] = self.organization().id
        tag = self._tag()
        return Project(**{"name": f"project-{tag}", "app_name": f"App {tag}", **f})

    def _new_integrations(self, f: dict[str, Any]) -> Integration:
        self._project_id(f)
        return Integration(
            **{"name": f"read-accounts-{self._tag()}", "provider": "salesforce", **f}
        )

    def _new_revisions(self, f: dict[str, Any]) -> Revision:
        self._integration_id(f)
        content = {
            "name": "read-accounts",
            "provider": "salesforce",
            "read": {"objects": [{"objectName": "account", "schedule": "*/10 * * * *"}]},
        }
        return Revision(**{"spec_version": "1.0.0", "content": content, **f})

    def _new_installations(self, f: dict[str, Any]) -> Installation:
        project_id = self._project_id(f)
        self._integration_id(f)
        if "connection_id" not in f:
            f["connection_id"] = self.connection(project_id=project_id).id
        tag = self._tag()
        config = {
            "provider": "salesforce",
            "read": {"objects": {"contact": {"objectName": "contact"}}},
        }
        return Installation(
            **{
                "group_ref": f"group-{tag}",
                "group_name": f"Group {tag}",
                "created_by": f"consumer:user-{tag}",
                "config": config,
                **f,
            }
        )

    def _new_operations(self, f: dict[str, Any]) -> Operation:
        project_id = self._project_id(f)
        if "installation_id" not in f:
            kwargs = {"integration_id": f["integration_id"]} if "integration_id" in f else {}
            f["installation_id"] = self.installation(project_id=project_id, **kwargs).id
        if "integration_id" not in f:
            owner = self.repos.installations.get_by_id(project_id, f["installation_id"])
            f["integration_id"] = owner.integration_id
        return Operation(**{"type": OperationType.READ, "metadata": {"objects": ["contact"]}, **f})

    def _new_connections(self, f: dict[str, Any]) -> Connection:
        self._project_id(f)
        tag = self._tag()
        return Connection(
            **{
                "provider": "salesforce",
                "group_ref": f"xyz-company-{tag}",
                "group_name": "Acme Corp",
                "consumer_ref": f"user-{tag}",
                "consumer_name": "John Doe",
                "auth_scheme": AuthScheme.OAUTH2_AUTHORIZATION_CODE,
                **f,
            }
        )

    def _new_provider_apps(self, f: dict[str, Any]) -> ProviderApp:
        self._project_id(f)
        tag = self._tag()
        return ProviderApp(
            **{
                "provider": f"provider-{tag}",
                "client_id": f"client-{tag}",
                "client_secret": f"client-secret-{uuid.uuid4().hex}",
                "scopes": ("read", "write"),
                **f,
            }
        )

    def _new_api_keys(self, f: dict[str, Any]) -> ApiKey:
        self._project_id(f)
        return ApiKey(
            **{
                "key": f"amp_test_{uuid.uuid4().hex}",
                "label": f"Key {self._tag()}",
                "scopes": ("full",),
                **f,
            }
        )

    def _new_destinations(self, f: dict[str, Any]) -> Destination:
        self._project_id(f)
        tag = self._tag()
        return Destination(
            **{
                "name": f"webhook-{tag}",
                "type": DestinationType.WEBHOOK,
                "metadata": {"url": f"https://webhooks.example.com/{tag}"},
                **f,
            }
        )

    def _new_jwt_keys(self, f: dict[str, Any]) -> JwtKey:
        self._project_id(f)
        return JwtKey(**{"label": f"jwt {self._tag()}", "public_key_pem": PUBLIC_KEY_PEM, **f})

    def _new_read_states(self, f: dict[str, Any]) -> ReadState:
        self._installation_id(f)
        return ReadState(
            **{
                "object_name": f"contact-{self._tag()}",
                "next_page_token": "Q9JT+2qfys28V4ODN+UayA==",
                **f,
            }
        )


# -- generic access: the same call shape for every table ----------------------------------


def _uuid() -> str:
    return str(uuid.uuid4())


def key_of(table: str, entity: Any) -> tuple[Any, ...]:
    """The arguments ``get_by_id``/``delete`` take for this row (project first when scoped)."""
    spec = TABLES[table]
    pk = getattr(entity, spec.primary_key)
    return (pk,) if spec.scope is None else (getattr(entity, spec.scope), pk)


def get(repos: Repositories, table: str, entity: Any) -> Any:
    """The stored row of ``entity``, read back through the repository."""
    return getattr(repos, table).get_by_id(*key_of(table, entity))


def delete(repos: Repositories, table: str, entity: Any) -> None:
    """Delete ``entity`` through the repository."""
    getattr(repos, table).delete(*key_of(table, entity))


def scope_of(table: str, entity: Any) -> dict[str, Any]:
    """The fields that put a new row next to ``entity`` in the same list."""
    if table == "organizations":
        return {}
    if table == "projects":
        return {"organization_id": entity.organization_id}
    return {"project_id": entity.project_id}


def list_page(repos: Repositories, table: str, scope: dict[str, Any], **paging: Any) -> Page[Any]:
    """One page of the list ``scope`` selects (see ``scope_of``)."""
    repo = getattr(repos, table)
    if table in ("organizations", "projects"):
        page: Page[Any] = repo.list(**scope, **paging)
    else:
        page = repo.list(scope["project_id"], **paging)
    return page


def list_all(
    repos: Repositories, table: str, scope: dict[str, Any], *, page_size: int = 1000
) -> list[Any]:
    """Every row of the list, following page tokens to the end."""
    items: list[Any] = []
    token: str | None = None
    while True:
        page = list_page(repos, table, scope, page_size=page_size, page_token=token)
        items.extend(page.items)
        if page.next_page_token is None:
            return items
        token = page.next_page_token


def order_key(table: str, entity: Any) -> tuple[Any, ...]:
    """The list order of ``table`` as a sort key."""
    return tuple(getattr(entity, c) for c in TABLES[table].order_by)
