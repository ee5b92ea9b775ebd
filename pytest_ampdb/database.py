"""Context injection: the repositories in effect for the code running now.

Production code calls ``database.connections()`` and gets whatever is in effect: a repository
injected for this context (``with_connection_repository``, ``use``), else the process-wide default.
Injection uses contextvars, so it is scoped to the current thread or asyncio task and never leaks
into another. The default is created lazily from the environment (``AMPDB_BACKEND``, ``AMPDB_DSN``
or ``DB_DSN``); under pytest the plugin sets it to the running test's repositories, so threads the
code under test starts see the test's data.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.injection import Accessor, Injection, Injector
from pytest_ampdb.modes import Backend, choices
from pytest_ampdb.types import (
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
    Repositories,
    RevisionRepository,
    UnscopedRepository,
)

if TYPE_CHECKING:
    pass

M = TypeVar("M")
_testing = threading.Event()
"""Set by the pytest plugin while a test run is active (memory is then the lazy default)."""


def _from_environment() -> Repositories:
    return environment_default(_memory_default, _postgres_default)


_injection = Injection[Repositories]("ampdb", Repositories, _from_environment)
current = _injection.current
"""The repository in effect for ``table`` in this context."""
repositories = _injection.repositories
"""All repositories in effect in this context, as one bundle."""
use = _injection.use
"""Put ``repos`` (and/or single repositories by table name) in effect inside the block; yields
``repos`` as given, and nothing else is looked up, so injecting one mock never creates the
default repositories."""
default = _injection.default
"""The process-wide default, created on first use (by the provider, else the environment)."""
set_default = _injection.set_default
"""Make ``repos`` (or what ``provider`` creates on first use) the process-wide default; with
neither, it is recreated lazily from the environment. Returns the previous state for
``restore_default``: the plugin makes each test's repositories the default while it runs."""
restore_default = _injection.restore_default
"""Put back what ``set_default`` returned."""

organizations = Accessor[OrganizationRepository](_injection, "organizations")
projects = Accessor[ProjectRepository](_injection, "projects")
integrations = Accessor[IntegrationRepository](_injection, "integrations")
revisions = Accessor[RevisionRepository](_injection, "revisions")
installations = Accessor[InstallationRepository](_injection, "installations")
operations = Accessor[OperationRepository](_injection, "operations")
connections = Accessor[ConnectionRepository](_injection, "connections")
provider_apps = Accessor[ProviderAppRepository](_injection, "provider_apps")
api_keys = Accessor[ApiKeyRepository](_injection, "api_keys")
destinations = Accessor[DestinationRepository](_injection, "destinations")
jwt_keys = Accessor[JwtKeyRepository](_injection, "jwt_keys")
read_states = Accessor[ReadStateRepository](_injection, "read_states")
declared: Callable[[], Mapping[str, Any]] = _injection.declared
"""The repositories of the project's own entities (``--ampdb-schema``) in effect, by table."""


def of(model: type[M]) -> ProjectScopedRepository[M]:
    """The repository in effect of a project-scoped entity, typed by its model (mypy sees
    ``database.of(Invoice).get_by_id(...).amount_cents``); ``database.invoices()`` is the same
    repository, untyped."""
    found: ProjectScopedRepository[M] = _injection.of(model, scoped=True)
    return found


def of_unscoped(model: type[M]) -> UnscopedRepository[M]:
    """``of`` for an entity whose rows belong to no project (found by id alone)."""
    found: UnscopedRepository[M] = _injection.of(model, scoped=False)
    return found


def __getattr__(name: str) -> Accessor[Any]:
    """``database.<table>()`` for each table a project's schema adds (``database.invoices()``),
    like the packaged accessors: the repository in effect when called."""
    return _injection.accessor(__name__, name)


with_organization_repository = Injector[OrganizationRepository](_injection, "organizations")
with_project_repository = Injector[ProjectRepository](_injection, "projects")
with_integration_repository = Injector[IntegrationRepository](_injection, "integrations")
with_revision_repository = Injector[RevisionRepository](_injection, "revisions")
with_installation_repository = Injector[InstallationRepository](_injection, "installations")
with_operation_repository = Injector[OperationRepository](_injection, "operations")
with_connection_repository = Injector[ConnectionRepository](_injection, "connections")
with_provider_app_repository = Injector[ProviderAppRepository](_injection, "provider_apps")
with_api_key_repository = Injector[ApiKeyRepository](_injection, "api_keys")
with_destination_repository = Injector[DestinationRepository](_injection, "destinations")
with_jwt_key_repository = Injector[JwtKeyRepository](_injection, "jwt_keys")
with_read_state_repository = Injector[ReadStateRepository](_injection, "read_states")


def mark_testing(active: bool) -> None:
    """Told by the pytest plugin that a test run is active (memory is then the lazy default)."""
    if active:
        _testing.set()
    else:
        _testing.clear()


def environment_default(
    memory_default: Callable[[], M], postgres_default: Callable[[str | None], M]
) -> M:
    """The default from ``AMPDB_BACKEND`` / ``AMPDB_DSN`` / ``DB_DSN`` (for either facade)."""
    backend = os.environ.get("AMPDB_BACKEND", "").strip().lower()
    dsn = os.environ.get("AMPDB_DSN") or os.environ.get("DB_DSN")
    makers: dict[Backend, Callable[[], M]] = {
        Backend.MEMORY: memory_default,
        Backend.POSTGRES: lambda: postgres_default(dsn),
    }
    if backend:
        if backend not in makers:
            raise AmpdbError(f"AMPDB_BACKEND={backend!r} is not one of {choices(Backend)}")
        return makers[Backend(backend)]()
    if dsn:
        return postgres_default(dsn)
    if _testing.is_set():
        return memory_default()
    raise AmpdbError(
        "no database configured: set AMPDB_DSN (or DB_DSN) to a PostgreSQL URL, "
        "or AMPDB_BACKEND=memory for the in-memory store"
    )


def _memory_default() -> Repositories:
    from pytest_ampdb import memory, seeds

    store = memory.MemoryStore()  # the schema in effect (AMPDB_SCHEMA)
    tables = store.specs
    directory = os.environ.get("AMPDB_SEEDS")  # a project's own seeds, as under pytest
    seeds.load_into_store(store, seeds.read_seeds(Path(directory) if directory else None, tables))
    return memory.repositories(store)


def _postgres_default(dsn: str | None) -> Repositories:
    from pytest_ampdb import postgres

    pool = postgres.connect(require_dsn(dsn))
    return postgres.repositories(pool)  # the schema in effect (AMPDB_SCHEMA)


def require_dsn(dsn: str | None) -> str:
    """The DSN ``AMPDB_BACKEND=postgres`` needs, or a one-line refusal."""
    if not dsn:
        raise AmpdbError(
            "AMPDB_BACKEND=postgres needs AMPDB_DSN (or DB_DSN) set to a PostgreSQL URL"
        )
    return dsn
