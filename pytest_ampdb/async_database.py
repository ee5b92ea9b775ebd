"""The async ``database`` facade: the async repositories in effect for the task running now.

``await async_database.api_keys().get_by_key(key)`` in an asyncio service, exactly as sync code
calls ``database.api_keys()``. Injection (``use``, ``with_<entity>_repository``) is per context
variable, so each asyncio task sees what was injected for it (a task copies its creator's
context) and never another task's. The default comes from the same environment as the sync
facade's; under pytest the plugin sets it to the running test's async repositories (the same
rows, and the same transaction, as the sync ones).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pytest_ampdb.database import environment_default, require_dsn
from pytest_ampdb.injection import Accessor, Injection, Injector
from pytest_ampdb.types import AsyncRepositories
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

M = TypeVar("M")


def _memory_default() -> AsyncRepositories:
    """The sync facade's default memory store, seen through the async repositories (each call
    giving the loop a turn, as ``memory.async_repositories`` and a round trip do)."""
    from pytest_ampdb import database
    from pytest_ampdb.repositories.aio import asyncify, in_loop

    return asyncify(database.default(), in_loop)


def _postgres_default(dsn: str | None) -> AsyncRepositories:
    from pytest_ampdb import postgres

    pool = postgres.async_pool(require_dsn(dsn))
    return postgres.async_repositories(pool)


def _from_environment() -> AsyncRepositories:
    return environment_default(_memory_default, _postgres_default)


_injection = Injection[AsyncRepositories]("ampdb_async", AsyncRepositories, _from_environment)
current = _injection.current
"""The async repository in effect for ``table`` in this task."""
repositories = _injection.repositories
"""All async repositories in effect in this task, as one bundle."""
use = _injection.use
"""Put async ``repos`` (and/or single repositories by table name) in effect inside the block."""
default = _injection.default
"""The process-wide default, created on first use."""
set_default = _injection.set_default
"""Make ``repos`` (or what ``provider`` creates on first use) the default; returns the previous
state for ``restore_default``."""
restore_default = _injection.restore_default
"""Put back what ``set_default`` returned."""

organizations = Accessor[AsyncOrganizationRepository](_injection, "organizations")
projects = Accessor[AsyncProjectRepository](_injection, "projects")
integrations = Accessor[AsyncIntegrationRepository](_injection, "integrations")
revisions = Accessor[AsyncRevisionRepository](_injection, "revisions")
installations = Accessor[AsyncInstallationRepository](_injection, "installations")
operations = Accessor[AsyncOperationRepository](_injection, "operations")
connections = Accessor[AsyncConnectionRepository](_injection, "connections")
provider_apps = Accessor[AsyncProviderAppRepository](_injection, "provider_apps")
api_keys = Accessor[AsyncApiKeyRepository](_injection, "api_keys")
destinations = Accessor[AsyncDestinationRepository](_injection, "destinations")
jwt_keys = Accessor[AsyncJwtKeyRepository](_injection, "jwt_keys")
read_states = Accessor[AsyncReadStateRepository](_injection, "read_states")
declared = _injection.declared
"""The async repositories of the project's own entities in effect, by table."""


def of(model: type[M]) -> AsyncProjectScopedRepository[M]:
    """``database.of`` for async code: ``await async_database.of(Invoice).get_by_id(...)``."""
    found: AsyncProjectScopedRepository[M] = _injection.of(model, scoped=True)
    return found


def of_unscoped(model: type[M]) -> AsyncUnscopedRepository[M]:
    """``database.of_unscoped`` for async code."""
    found: AsyncUnscopedRepository[M] = _injection.of(model, scoped=False)
    return found


def __getattr__(name: str) -> Accessor[Any]:
    """``async_database.<table>()`` for each table a project's schema adds."""
    return _injection.accessor(__name__, name)


with_organization_repository = Injector[AsyncOrganizationRepository](_injection, "organizations")
with_project_repository = Injector[AsyncProjectRepository](_injection, "projects")
with_integration_repository = Injector[AsyncIntegrationRepository](_injection, "integrations")
with_revision_repository = Injector[AsyncRevisionRepository](_injection, "revisions")
with_installation_repository = Injector[AsyncInstallationRepository](_injection, "installations")
with_operation_repository = Injector[AsyncOperationRepository](_injection, "operations")
with_connection_repository = Injector[AsyncConnectionRepository](_injection, "connections")
with_provider_app_repository = Injector[AsyncProviderAppRepository](_injection, "provider_apps")
with_api_key_repository = Injector[AsyncApiKeyRepository](_injection, "api_keys")
with_destination_repository = Injector[AsyncDestinationRepository](_injection, "destinations")
with_jwt_key_repository = Injector[AsyncJwtKeyRepository](_injection, "jwt_keys")
with_read_state_repository = Injector[AsyncReadStateRepository](_injection, "read_states")
