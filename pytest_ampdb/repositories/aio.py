"""Async repositories from the sync ones: the repository code is written once, only I/O differs.

An async repository method runs the sync repository's method (validation, normalizing, the
engine calls: all the same code) in one of two ways (``repositories.bridge``):

- ``spawn`` runs it in a greenlet inside the event loop. Where the engine has I/O to do it hands
  the awaitable to ``await_only``, which suspends the greenlet until the loop has awaited it
  (SQLAlchemy's asyncio bridge works the same way). The memory store never awaits; the async
  PostgreSQL engine (``postgres.async_engine``) awaits psycopg's ``AsyncConnection``.
- ``in_thread`` runs it in a worker thread: how async code shares a sync connection's
  transaction (``transaction`` isolation in tests), the connection's lock taking turns.

Calling an async repository outside a running event loop is refused with one line.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any, get_type_hints

from pytest_ampdb.repositories.bridge import (
    EventLoopError,
    await_only,
    in_bridge,
    in_loop,
    in_thread,
    running_loop,
    spawn,
)
from pytest_ampdb.types import TABLE_NAMES, AsyncRepositories, Repositories
from pytest_ampdb.types.repositories import ProjectScopedRepository, UnscopedRepository

Runner = Callable[..., Coroutine[Any, Any, Any]]
"""Runs ``fn(*args, **kwargs)`` (a sync repository method) for the event loop."""


class AsyncRepository:
    """An async repository: each method of its Protocol runs the sync one through ``run``."""

    __slots__ = ("_run", "_sync")

    def __init__(self, sync: Any, run: Runner) -> None:
        self._sync = sync
        self._run = run

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._sync!r})"

    @property
    def spec(self) -> Any:
        """The sync repository's table declaration (how ``of(Model)`` finds a repository)."""
        return getattr(self._sync, "spec", None)


def _method(protocol: type, name: str) -> Callable[..., Any]:
    def method(self: AsyncRepository, *args: Any, **kwargs: Any) -> Coroutine[Any, Any, Any]:
        if running_loop() is None:
            raise EventLoopError(
                f"{type(self).__name__}.{name}() was called outside a running event loop: "
                "await it inside async code, or use the sync repositories (ampdb, "
                "pytest_ampdb.database) from sync code"
            )
        return self._run(getattr(self._sync, name), *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = getattr(protocol, name).__doc__
    method.__signature__ = inspect.signature(getattr(protocol, name))  # type: ignore[attr-defined]
    return method


def _async_class(protocol: type) -> type[AsyncRepository]:
    names = [n for n in dir(protocol) if not n.startswith("_")]
    body: dict[str, Any] = {name: _method(protocol, name) for name in names}
    body["__slots__"] = ()
    return type(f"Async{protocol.__name__}", (AsyncRepository,), body)


PROTOCOLS: dict[str, type] = {
    table: protocol
    for table, protocol in get_type_hints(Repositories).items()
    if table in TABLE_NAMES
}
"""The sync Protocol of each packaged table (the bundle's declaration): the methods its async
twin has."""

ASYNC_CLASSES: dict[str, type[AsyncRepository]] = {
    table: _async_class(protocol) for table, protocol in PROTOCOLS.items()
}


GENERIC_CLASSES: dict[bool, type[AsyncRepository]] = {
    True: _async_class(ProjectScopedRepository),
    False: _async_class(UnscopedRepository),
}
"""The async twin of a project's own entity's repository, by whether it is project-scoped."""


def asyncify(repos: Repositories, run: Runner = spawn) -> AsyncRepositories:
    """The async twin of ``repos``: every method runs the sync one through ``run`` (a
    project's own entities too)."""
    made: dict[str, Any] = {
        table: ASYNC_CLASSES[table](getattr(repos, table), run) for table in TABLE_NAMES
    }
    declared = {
        table: GENERIC_CLASSES[_scoped(repo)](repo, run) for table, repo in repos.declared.items()
    }
    return AsyncRepositories(**made, declared=declared)


def _scoped(repo: Any) -> bool:
    """Whether a repository's rows belong to a project (a mock, which has no spec: assumed)."""
    spec = getattr(repo, "spec", None)
    return spec is None or spec.scope is not None


__all__ = [
    "ASYNC_CLASSES",
    "GENERIC_CLASSES",
    "AsyncRepository",
    "EventLoopError",
    "asyncify",
    "await_only",
    "in_bridge",
    "in_loop",
    "in_thread",
    "running_loop",
    "spawn",
]
