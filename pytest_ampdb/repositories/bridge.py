"""The greenlet bridge: sync repository code whose round trip is awaited, and misuse refused.

``spawn`` runs a sync repository method in a greenlet inside the event loop. Where the engine has
I/O to do it hands the awaitable to ``await_only``, which suspends the greenlet until the loop
has awaited it (SQLAlchemy's asyncio bridge works the same way). ``in_thread`` runs it in a
worker thread instead. Kept apart from ``aio`` (the async classes) so the sync engine's import
stays light.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, TypeVar, cast

from pytest_ampdb.errors import AmpdbError

T = TypeVar("T")


class EventLoopError(AmpdbError):
    """Async code called where it cannot run, or sync code where it would block the loop."""


_MARK = "ampdb_bridge"
"""Set on the greenlets ``spawn`` makes: their engine calls may await, via the parent."""


def _greenlet() -> Any:
    """greenlet, imported on the first async call: a sync-only service never loads it (it is
    about an eighth of the data layer's import time)."""
    import greenlet

    return greenlet


def in_bridge() -> bool:
    """Whether the running code is a sync repository method driven by ``spawn`` (never, while
    greenlet is not even imported: ``spawn`` imports it)."""
    loaded = sys.modules.get("greenlet")
    return loaded is not None and getattr(loaded.getcurrent(), _MARK, False)


def await_only(awaitable: Awaitable[T]) -> T:
    """Await from sync code running under ``spawn`` (the engine's only I/O point)."""
    current = _greenlet().getcurrent()
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
        except _greenlet().GreenletExit:  # the worker is collected (its task was): just end
            raise
        except BaseException as exc:  # handed to the awaiting task, which raises it
            outcome = _Raised(exc)
        fn, args, kwargs = _greenlet().getcurrent().parent.switch(outcome)


def _worker() -> Any:
    worker = _greenlet().greenlet(_serve)
    setattr(worker, _MARK, True)
    return worker


_idle = threading.local()
"""Each thread's idle worker greenlets: reusing one costs a switch, making one ~8 µs."""

IDLE_LIMIT = 32
"""Idle workers kept per thread: a burst of concurrent calls (each waiting on its round trip in
a greenlet of its own) leaves no more than this many behind."""


async def spawn(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` in a greenlet, awaiting for it each awaitable it passes to ``await_only``."""
    idle: list[Any] = _idle.__dict__.setdefault("workers", [])
    worker = idle.pop() if idle else _worker()
    worker.parent = _greenlet().getcurrent()
    result: Any = worker.switch(fn, args, kwargs)
    while not isinstance(result, _Returned | _Raised):
        try:
            value = await result
        except BaseException:
            result = worker.throw(*sys.exc_info())
        else:
            result = worker.switch(value)
    if len(idle) < IDLE_LIMIT:
        idle.append(worker)  # else dropped: collected, it ends (``_serve``)
    if isinstance(result, _Raised):
        raise result.error
    return cast(T, result.value)


async def in_loop(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``spawn``, then one turn of the event loop before the result is handed back: a store that
    never awaits (memory) still suspends its caller once per call, as a round trip to a server
    does. So other tasks interleave between two calls, and a cancel (a timeout) that arrives
    after the call started is raised in the caller with the call's effect done, as ``in_thread``
    does, instead of finding the call already finished in memory only."""
    result = await spawn(fn, *args, **kwargs)
    await asyncio.sleep(0)
    return result


async def in_thread(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` in a worker thread (with this task's context variables).

    A thread cannot be stopped: when the awaiting task is cancelled, the cancel is raised only
    once the call has finished, so the caller (and its next call) finds its effect done, rather
    than a call still running on the connection behind its back.
    """
    call = asyncio.ensure_future(asyncio.to_thread(fn, *args, **kwargs))
    try:
        return await asyncio.shield(call)
    except asyncio.CancelledError:
        await asyncio.wait((call,))
        raise


USE_ASYNC = (
    "use the async repositories (ampdb_async, pytest_ampdb.async_database, "
    "postgres.async_repositories; factories: await Factory.acreate(...)) from async code"
)
"""What an ``EventLoopError`` for a sync call inside a running event loop tells the caller."""


def refuse_in_loop(why: str) -> None:
    """Raise ``EventLoopError`` (``why``, then ``USE_ASYNC``) when a sync repository is called
    inside a running event loop other than through ``spawn``: the one check every engine that
    refuses such calls makes."""
    if running_loop() is not None and not in_bridge():
        raise EventLoopError(f"{why}: {USE_ASYNC}")


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, if any (asked on every sync PostgreSQL call:
    ``get_running_loop`` would raise and catch an exception each time there is none)."""
    return asyncio._get_running_loop()
