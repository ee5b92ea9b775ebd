"""Connections whose every call on the server ends within a bound: a frozen server is an error.

A frozen server (SIGSTOP, a paused container, a partition) keeps the socket open and never
answers: TCP keepalives and ``tcp_user_timeout`` do not notice (the kernel still acknowledges),
and a cancel request goes to a postmaster that may be frozen too, so only the client can stop
waiting. The data layer (preview databases) and the harness (provisioning, the run's lease,
each test's connection) open such connections through this one module.
"""

from __future__ import annotations

import math
import time
from typing import Any, TypeVar

import psycopg
from psycopg.abc import PQGen

from pytest_ampdb.urls import CONNECT_TIMEOUT, bounded

RV = TypeVar("RV")


def connect_timeout(seconds: float | None) -> int:
    """libpq's ``connect_timeout`` for a run bounded by ``seconds``: at most ``CONNECT_TIMEOUT``,
    at least libpq's minimum of 2."""
    return CONNECT_TIMEOUT if seconds is None else max(2, min(CONNECT_TIMEOUT, math.ceil(seconds)))


class NoAnswerError(psycopg.OperationalError):
    """The server took the connection but did not answer a call in time (frozen, paused)."""


def no_answer(exc: BaseException) -> NoAnswerError | None:
    """The ``NoAnswerError`` behind ``exc``, if any: a later call on the connection it closed
    (a rollback while the error unwinds) raises "the connection is closed" in its place."""
    seen: BaseException | None = exc
    while seen is not None and not isinstance(seen, NoAnswerError):
        seen = seen.__cause__ or seen.__context__
    return seen


class BoundedConnection(psycopg.Connection[Any]):
    """A connection whose every wait on the server ends after ``answer_timeout`` seconds.

    When it runs out, the connection is closed (its state is unknown) and ``NoAnswerError``
    raised, an ``OperationalError``: callers treat it as a server that stopped answering.
    """

    answer_timeout: float | None = None

    def wait(self, gen: PQGen[RV], interval: float = 0.1, timeout: float | None = None) -> RV:
        limit = self.answer_timeout if timeout is None else timeout
        started = time.monotonic()
        try:
            return super().wait(gen, interval, limit)
        except psycopg.OperationalError:
            if timeout is not None or limit is None or time.monotonic() - started < limit:
                raise
            self.pgconn.finish()
        raise NoAnswerError(f"no answer from the server within {limit:g} s")


def open_bounded(
    dsn: str, *, answer_timeout: float | None = None, **kwargs: Any
) -> psycopg.Connection[Any]:
    """``psycopg.connect`` whose every call is bounded by ``answer_timeout`` (None: unbounded);
    the connect itself by ``urls.bounded`` unless ``connect_timeout`` is given."""
    conn = BoundedConnection.connect(dsn, **{**bounded(dsn), **kwargs})
    conn.answer_timeout = answer_timeout
    return conn
