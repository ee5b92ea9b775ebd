"""Connecting to a server, with a failure told as one line that names it (password hidden).

Used wherever the plugin opens a connection itself, so a refused login, an exhausted
``max_connections`` (SQLSTATE 53300) or a server that is gone all end as one
``ProvisioningError`` line instead of a driver traceback.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from typing import Any, TypeVar

import psycopg
from psycopg.abc import PQGen

from pytest_ampdb.harness.provisioning.errors import ProvisioningError
from pytest_ampdb.postgres.errors import connection_lost, reason
from pytest_ampdb.urls import CONNECT_TIMEOUT, Dsn, check_dsn, redact_url

RV = TypeVar("RV")
LOGGER = logging.getLogger(__name__)


def connect_timeout(seconds: float | None) -> int:
    """libpq's ``connect_timeout`` for a run bounded by ``seconds``: at most ``CONNECT_TIMEOUT``,
    at least libpq's minimum of 2."""
    return CONNECT_TIMEOUT if seconds is None else max(2, min(CONNECT_TIMEOUT, math.ceil(seconds)))


class ServerBusyError(ProvisioningError):
    """The server refused a connection for now (``max_connections`` reached): it is not gone."""


class NoAnswerError(psycopg.OperationalError):
    """The server took the connection but did not answer a call in time (frozen, paused)."""


class StillRunningError(NoAnswerError):
    """The server said it still ran the call, but had not finished it after ``BUSY_ROUNDS``
    bounds (a lock wait on a frozen session, say): waiting on would be a hang."""


BUSY_ROUNDS = 10
"""Bounds a call the server says it still runs is waited for, in all, before it is given up."""


def no_answer(exc: BaseException) -> NoAnswerError | None:
    """The ``NoAnswerError`` behind ``exc``, if any: a later call on the connection it closed
    (a rollback while the error unwinds) raises "the connection is closed" in its place."""
    found = lost(exc)
    return found if isinstance(found, NoAnswerError) else None


def lost(exc: BaseException) -> psycopg.Error | None:
    """The first error behind ``exc`` that ended its connection: we gave up on a server that
    did not answer (``NoAnswerError``), or the server closed it (terminated by an admin, a
    crash of another backend, a shutdown). A later call on that connection, in a cleanup while
    the error unwinds, only says "the connection is closed"; this is the error that says why."""
    found: psycopg.Error | None = None
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, psycopg.Error) and connection_lost(seen):
            found = seen
        seen = seen.__cause__ or seen.__context__
    return found


class BoundedConnection(psycopg.Connection[Any]):
    """A connection that gives up on a call the server has not answered in ``answer_timeout``
    seconds, unless the server says it is still running it.

    A frozen server (SIGSTOP, a paused container) keeps the socket open and never answers:
    TCP keepalives and ``tcp_user_timeout`` do not notice (the kernel still acknowledges), and a
    cancel request goes to a postmaster that may be frozen too, so only the client can stop
    waiting. A busy server is another matter: a ``CREATE DATABASE``, the forced checkpoint of a
    ``DROP DATABASE``, a migration or a lock wait may outlast the bound on a live server. So at
    the bound the client asks the server, on a connection of its own (``_running``), whether
    this connection's backend is running the call: if so it waits another ``answer_timeout``
    (``BUSY_ROUNDS`` in all, then it cancels the call and raises ``StillRunningError``: a lock
    held by a frozen session would otherwise be waited on for ever); if the server cannot say
    (frozen, gone) or the backend never took the call, it closes the connection (its state is
    unknown) and raises ``NoAnswerError``, an ``OperationalError``: callers treat it as a
    server that stopped answering.
    """

    answer_timeout: float | None = None
    server_dsn: str | None = None
    """Where to ask whether the server still runs the call (None: the bound is final)."""

    def wait(self, gen: PQGen[RV], interval: float = 0.1, timeout: float | None = None) -> RV:
        if timeout is not None or self.answer_timeout is None:
            return super().wait(gen, interval, timeout)
        return super().wait(self._bounded(gen, self.answer_timeout), interval)

    def _bounded(self, gen: PQGen[RV], limit: float) -> PQGen[RV]:
        """``gen``, woken every ``interval`` by the wait with no news (``Ready.NONE``): past the
        bound with no answer, it asks the server whether the call still runs."""
        started = time.monotonic()
        deadline = started + limit
        try:
            state = next(gen)
            while True:
                ready = yield state
                if not ready and time.monotonic() >= deadline:
                    running = self._running(limit)
                    if running is None:
                        self.pgconn.finish()
                        raise NoAnswerError(f"no answer from the server within {limit:g} s")
                    waited = time.monotonic() - started
                    if waited >= BUSY_ROUNDS * limit:
                        with contextlib.suppress(psycopg.Error):
                            self.cancel_safe(timeout=limit)
                        self.pgconn.finish()
                        raise StillRunningError(
                            f"a call still running after {waited:.0f} s ({running}), given up "
                            f"at {BUSY_ROUNDS} times the {limit:g} s bound"
                        )
                    LOGGER.info(
                        "the server still runs a call after %.0f s (%s): busy, not frozen; waiting",
                        time.monotonic() - started,
                        running,
                    )
                    deadline = time.monotonic() + limit
                state = gen.send(ready)
        except StopIteration as done:
            result: RV = done.value
            return result

    def _running(self, limit: float) -> str | None:
        """What this connection's backend waits on, if the server, asked on a connection of its
        own within ``limit`` s, says it is running a call (``active``: working, or waiting on a
        lock, a checkpoint, I/O); None if it cannot say, or the backend is not running one (a
        backend frozen between calls stays ``idle``: it never took ours)."""
        if self.server_dsn is None:
            return None
        try:
            with connect(self.server_dsn, answer_timeout=limit, autocommit=True) as probe:
                probe.server_dsn = None  # its own bound is final: one question, no second one
                row = probe.execute(
                    "SELECT coalesce(wait_event_type || ': ' || wait_event, 'working')"
                    " FROM pg_stat_activity WHERE pid = %s AND state = 'active'",
                    (self.pgconn.backend_pid,),
                ).fetchone()
        except (psycopg.Error, ProvisioningError):
            return None
        return None if row is None else str(row[0])


def connect(dsn: str, *, answer_timeout: float | None = None, **kwargs: Any) -> BoundedConnection:
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
    conn.server_dsn = Dsn(dsn)
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
