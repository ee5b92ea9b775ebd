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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.modes import Backend, choices
from pytest_ampdb.types import (
    TABLE_NAMES,
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
    Repositories,
    RevisionRepository,
)

R = TypeVar("R")

_injected: dict[str, ContextVar[Any]] = {
    table: ContextVar(f"ampdb_{table}", default=None) for table in TABLE_NAMES
}


class _Default:
    """The process-wide default: the repositories, or what creates them on first use."""

    def __init__(self) -> None:
        self.repos: Repositories | None = None
        self.provider: Callable[[], Repositories] | None = None
        self.testing = False
        self.lock = threading.Lock()


_state = _Default()


_injected_declared: ContextVar[Mapping[str, Any] | None] = ContextVar(
    "ampdb_declared", default=None
)
"""Repositories of a project's own entities put in effect by ``use(repos)``."""


def current(table: str) -> Any:
    """The repository in effect for ``table`` in this context (a project's own entity too)."""
    if table not in _injected:
        found = declared().get(table)
        if found is None:
            raise AmpdbError(
                f"no repository for table {table!r}: not one of the packaged tables nor of "
                "the project's schema in effect (--ampdb-schema)"
            )
        return found
    repo = _injected[table].get()
    return repo if repo is not None else getattr(default(), table)


def declared() -> Mapping[str, Any]:
    """The repositories of the project's own entities in effect in this context, by table."""
    injected = _injected_declared.get()
    return injected if injected is not None else default().declared


def repositories() -> Repositories:
    """All repositories in effect in this context, as one bundle."""
    return Repositories(**{table: current(table) for table in TABLE_NAMES}, declared=declared())


@contextmanager
def use(repos: Repositories | None = None, /, **by_table: Any) -> Iterator[Repositories | None]:
    """Put ``repos`` (and/or single repositories by table name) in effect inside the block.

    Yields ``repos`` as given; nothing else is looked up, so injecting one mock never creates
    the default repositories.
    """
    unknown = sorted(set(by_table) - set(TABLE_NAMES))
    if unknown:
        raise TypeError(f"use() got unknown table name(s): {', '.join(unknown)}")
    chosen = {t: getattr(repos, t) for t in TABLE_NAMES} if repos is not None else {}
    chosen.update(by_table)
    tokens = [(_injected[table], _injected[table].set(repo)) for table, repo in chosen.items()]
    own = _injected_declared.set(repos.declared) if repos is not None else None
    try:
        yield repos
    finally:
        if own is not None:
            _injected_declared.reset(own)
        for var, token in reversed(tokens):
            var.reset(token)


class _Accessor(Generic[R]):
    """``database.<table>()``: the repository of one table in effect now."""

    def __init__(self, table: str) -> None:
        self.table = table

    def __call__(self) -> R:
        repo: R = current(self.table)
        return repo


class _Injector(Generic[R]):
    """``database.with_<entity>_repository(repo)``: a context manager injecting one repository."""

    def __init__(self, table: str) -> None:
        self.table = table

    @contextmanager
    def __call__(self, repo: R) -> Iterator[R]:
        with use(**{self.table: repo}):
            yield repo


organizations = _Accessor[OrganizationRepository]("organizations")
projects = _Accessor[ProjectRepository]("projects")
integrations = _Accessor[IntegrationRepository]("integrations")
revisions = _Accessor[RevisionRepository]("revisions")
installations = _Accessor[InstallationRepository]("installations")
operations = _Accessor[OperationRepository]("operations")
connections = _Accessor[ConnectionRepository]("connections")
provider_apps = _Accessor[ProviderAppRepository]("provider_apps")
api_keys = _Accessor[ApiKeyRepository]("api_keys")
destinations = _Accessor[DestinationRepository]("destinations")
jwt_keys = _Accessor[JwtKeyRepository]("jwt_keys")
read_states = _Accessor[ReadStateRepository]("read_states")

with_organization_repository = _Injector[OrganizationRepository]("organizations")
with_project_repository = _Injector[ProjectRepository]("projects")
with_integration_repository = _Injector[IntegrationRepository]("integrations")
with_revision_repository = _Injector[RevisionRepository]("revisions")
with_installation_repository = _Injector[InstallationRepository]("installations")
with_operation_repository = _Injector[OperationRepository]("operations")
with_connection_repository = _Injector[ConnectionRepository]("connections")
with_provider_app_repository = _Injector[ProviderAppRepository]("provider_apps")
with_api_key_repository = _Injector[ApiKeyRepository]("api_keys")
with_destination_repository = _Injector[DestinationRepository]("destinations")
with_jwt_key_repository = _Injector[JwtKeyRepository]("jwt_keys")
with_read_state_repository = _Injector[ReadStateRepository]("read_states")


def default() -> Repositories:
    """The process-wide default, created on first use (by the provider, else the environment)."""
    repos = _state.repos
    if repos is None:
        with _state.lock:
            if _state.repos is None:
                _state.repos = (_state.provider or _from_environment)()
            repos = _state.repos
    return repos


DefaultState = tuple[Repositories | None, Callable[[], Repositories] | None]


def set_default(
    repos: Repositories | None = None, *, provider: Callable[[], Repositories] | None = None
) -> DefaultState:
    """Make ``repos`` (or what ``provider`` creates on first use) the process-wide default.

    With neither, the default is recreated lazily from the environment. Returns the previous
    state for ``restore_default``; the plugin uses this to make each test's repositories the
    default while it runs, without creating them for tests that never touch the database.
    """
    with _state.lock:
        previous = (_state.repos, _state.provider)
        _state.repos, _state.provider = repos, provider
    return previous


def restore_default(state: DefaultState) -> None:
    """Put back what ``set_default`` returned."""
    with _state.lock:
        _state.repos, _state.provider = state


def mark_testing(active: bool) -> None:
    """Told by the pytest plugin that a test run is active (memory is then the lazy default)."""
    _state.testing = active


def _from_environment() -> Repositories:
    backend = os.environ.get("AMPDB_BACKEND", "").strip().lower()
    dsn = os.environ.get("AMPDB_DSN") or os.environ.get("DB_DSN")
    makers: dict[Backend, Callable[[], Repositories]] = {
        Backend.MEMORY: _memory_default,
        Backend.POSTGRES: lambda: _postgres_default(dsn),
    }
    if backend:
        if backend not in makers:
            raise AmpdbError(f"AMPDB_BACKEND={backend!r} is not one of {choices(Backend)}")
        return makers[Backend(backend)]()
    if dsn:
        return _postgres_default(dsn)
    if _state.testing:
        return _memory_default()
    raise AmpdbError(
        "no database configured: set AMPDB_DSN (or DB_DSN) to a PostgreSQL URL, "
        "or AMPDB_BACKEND=memory for the in-memory store"
    )


def _memory_default() -> Repositories:
    from pytest_ampdb import memory, seeds

    store = memory.MemoryStore()
    seeds.load_into_store(store, seeds.read_seeds())
    return memory.repositories(store)


def _postgres_default(dsn: str | None) -> Repositories:
    if not dsn:
        raise AmpdbError(
            "AMPDB_BACKEND=postgres needs AMPDB_DSN (or DB_DSN) set to a PostgreSQL URL"
        )
    from pytest_ampdb import postgres

    return postgres.repositories(postgres.connect(dsn))
