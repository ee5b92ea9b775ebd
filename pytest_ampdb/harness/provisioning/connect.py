"""Connecting to a server, with a failure told as one line that names it (password hidden).

Used wherever the plugin opens a connection itself, so a refused login, an exhausted
``max_connections`` (SQLSTATE 53300) or a server that is gone all end as one
``ProvisioningError`` line instead of a driver traceback.
"""

from __future__ import annotations

import math
import time
from typing import Any, TypeVar

import psycopg
from psycopg.abc import PQGen

from pytest_ampdb.harness.provisioning.errors import ProvisioningError
from pytest_ampdb.postgres.errors import reason
from pytest_ampdb.urls import CONNECT_TIMEOUT, check_dsn, redact_url

RV = TypeVar("RV")


def connect_timeout(seconds: float | None) -> int:
    """libpq's ``connect_timeout`` for a run bounded by ``seconds``: at most ``CONNECT_TIMEOUT``,
    at least libpq's minimum of 2."""
    return CONNECT_TIMEOUT if seconds is None else max(2, min(CONNECT_TIMEOUT, math.ceil(seconds)))


class ServerBusyError(ProvisioningError):
    """The server refused a connection for now (``max_connections`` reached): it is not gone."""


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

    A frozen server (SIGSTOP, a paused container) keeps the socket open and never answers:
    TCP keepalives and ``tcp_user_timeout`` do not notice (the kernel still acknowledges), and a
    cancel request goes to a postmaster that may be frozen too, so only the client can stop
    waiting. It then closes the connection (its state is unknown) and raises ``NoAnswerError``,
    an ``OperationalError``: callers treat it as a server that stopped answering.
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


def connect(
    dsn: str, *, answer_timeout: float | None = None, **kwargs: Any
) -> psycopg.Connection[Any]:
    """``psycopg.connect`` with a bounded wait and a one-line error naming the server.

    ``answer_timeout``: also bound every later call on the connection (``BoundedConnection``),
    and the connect itself by ``connect_timeout(answer_timeout)`` unless told otherwise.
    """
    kwargs.setdefault("connect_timeout", connect_timeout(answer_timeout))
    try:
        conn = BoundedConnection.connect(dsn, **kwargs)
    except psycopg.ProgrammingError:  # libpq cannot parse it; its message quotes the DSN
        check_dsn(dsn, "the DSN")
        raise
    except psycopg.errors.ConnectionTimeout:
        raise ProvisioningError(
            f"cannot connect to {redact_url(dsn)}: no answer within "
            f"{kwargs['connect_timeout']} s (connect timeout)"
        ) from None
    except psycopg.OperationalError as exc:
        message = f"cannot connect to {redact_url(dsn)}: {reason(exc)}"
        # libpq gives no SQLSTATE for a refused startup; its text is the only signal here
        if exc.sqlstate == "53300" or any(text in str(exc) for text in _BUSY):
            raise ServerBusyError(message) from None
        raise ProvisioningError(message) from None
    conn.answer_timeout = answer_timeout
    return conn


_BUSY = ("too many clients", "remaining connection slots are reserved")
"""libpq's words for a server with no connection slot free (for this role) right now."""


def other_sessions(dsn: str) -> int:
    """How many client sessions besides this one the server has: a kept server that a run is
    using right now has at least one (the connection that holds its template)."""
    with connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0]) if row else 0
