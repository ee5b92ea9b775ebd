"""Async repositories from the sync ones: the repository code is written once, only I/O differs.

An async repository method runs the sync repository's method (validation, normalizing, the
engine calls: all the same code) in one of two ways:

- ``spawn`` runs it in a greenlet inside the event loop. Where the engine has I/O to do it hands
  the awaitable to ``await_only``, which suspends the greenlet until the loop has awaited it
  (SQLAlchemy's asyncio bridge works the same way). The memory store never awaits; the async
  PostgreSQL engine (``postgres.async_engine``) awaits psycopg's ``AsyncConnection``.
- ``in_thread`` runs it in a worker thread: how async code shares a sync connection's
  transaction (``transaction`` isolation in tests), the connection's lock taking turns.

Calling an async repository outside a running event loop is refused with one line.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, NamedTuple, TypeVar, cast, get_type_hints

import greenlet

from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.types import AsyncRepositories, Repositories

T = TypeVar("T")
Runner = Callable[..., Coroutine[Any, Any, Any]]
"""Runs ``fn(*args, **kwargs)`` (a sync repository method) for the event loop."""


class EventLoopError(AmpdbError):
    """Async code called where it cannot run, or sync code where it would block the loop."""


_MARK = "ampdb_bridge"
"""Set on the greenlets ``spawn`` makes: their engine calls may await, via the parent."""


def in_bridge() -> bool:
    """Whether the running code is a sync repository method driven by ``spawn``."""
    return getattr(greenlet.getcurrent(), _MARK, False)


def await_only(awaitable: Awaitable[T]) -> T:
    """Await from sync code running under ``spawn`` (the engine's only I/O point)."""
    current = greenlet.getcurrent()
    if not getattr(current, _MARK, False):
        if inspect.iscoroutine(awaitable):
            awaitable.close()  # never to be awaited: no "never awaited" warning on top
        raise EventLoopError("await_only() needs a repository call driven by spawn()")
    result: T = current.parent.switch(awaitable)
    return result


class _Returned(NamedTuple):
    value: Any


class _Raised(NamedTuple):
    error: BaseException


def _serve(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """A worker greenlet's life: run one call, hand its outcome back, wait for the next."""
    while True:
        outcome: _Returned | _Raised
        try:
            outcome = _Returned(fn(*args, **kwargs))
        except greenlet.GreenletExit:  # the worker is collected (its task was): just end
            raise
        except BaseException as exc:  # handed to the awaiting task, which raises it
            outcome = _Raised(exc)
        fn, args, kwargs = greenlet.getcurrent().parent.switch(outcome)


def _worker() -> Any:
    worker = greenlet.greenlet(_serve)
    setattr(worker, _MARK, True)
    return worker


_idle = threading.local()
"""Each thread's idle worker greenlets: reusing one costs a switch, making one ~8 µs."""


async def spawn(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` in a greenlet, awaiting for it each awaitable it passes to ``await_only``."""
    idle: list[Any] = _idle.__dict__.setdefault("workers", [])
    worker = idle.pop() if idle else _worker()
    worker.parent = greenlet.getcurrent()
    result: Any = worker.switch(fn, args, kwargs)
    while not isinstance(result, _Returned | _Raised):
        try:
            value = await result
        except BaseException:
            result = worker.throw(*sys.exc_info())
        else:
            result = worker.switch(value)
    idle.append(worker)
    if isinstance(result, _Raised):
        raise result.error
    return cast(T, result.value)


async def in_thread(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` in a worker thread (with this task's context variables)."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, if any."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class AsyncRepository:
    """An async repository: each method of its Protocol runs the sync one through ``run``."""

    __slots__ = ("_run", "_sync")

    def __init__(self, sync: Any, run: Runner) -> None:
        self._sync = sync
        self._run = run

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._sync!r})"


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


PROTOCOLS: dict[str, type] = get_type_hints(Repositories)
"""The sync Protocol of each table (the bundle's declaration): the methods its async twin has."""

ASYNC_CLASSES: dict[str, type[AsyncRepository]] = {
    table: _async_class(protocol) for table, protocol in PROTOCOLS.items()
}


def asyncify(repos: Repositories, run: Runner = spawn) -> AsyncRepositories:
    """The async twin of ``repos``: every method runs the sync one through ``run``."""
    made: dict[str, Any] = {
        table: ASYNC_CLASSES[table](repo, run) for table, repo in repos.by_table().items()
    }
    return AsyncRepositories(**made)


__all__ = [
    "ASYNC_CLASSES",
    "AsyncRepository",
    "EventLoopError",
    "asyncify",
    "await_only",
    "in_bridge",
    "in_thread",
    "running_loop",
    "spawn",
]
