"""Connections whose every call on the server ends within a bound: a frozen server is an error.

A frozen server (SIGSTOP, a paused container, a partition) keeps the socket open and never
answers: TCP keepalives and ``tcp_user_timeout`` do not notice (the kernel still acknowledges),
and a cancel request goes to a postmaster that may be frozen too, so only the client can stop
waiting. A busy server is another matter: a ``CREATE DATABASE``, the forced checkpoint of a
``DROP DATABASE``, a migration or a lock wait may outlast the bound on a live server, so at the
bound the client asks the server whether it still runs the call. The data layer (preview
databases) and the harness (provisioning, the run's lease, each test's connection) open such
connections through this one module.
"""

from __future__ import annotations

import contextlib
import logging
import math
import select
import time
from typing import Any, NamedTuple, TypeVar

import psycopg
from psycopg.abc import PQGen
from psycopg.waiting import Ready, Wait

from pytest_ampdb.postgres.errors import connection_lost, reason
from pytest_ampdb.urls import CONNECT_TIMEOUT, Dsn, bounded

RV = TypeVar("RV")
LOGGER = logging.getLogger(__name__)

BUSY_ROUNDS = 10
"""Bounds a call the server says it still runs is waited for, in all, before it is given up."""


def connect_timeout(seconds: float | None) -> int:
    """libpq's ``connect_timeout`` for a run bounded by ``seconds``: at most ``CONNECT_TIMEOUT``,
    at least libpq's minimum of 2."""
    return CONNECT_TIMEOUT if seconds is None else max(2, min(CONNECT_TIMEOUT, math.ceil(seconds)))


class NoAnswerError(psycopg.OperationalError):
    """The server took the connection but did not answer a call in time (frozen, paused)."""


class StillRunningError(NoAnswerError):
    """The server said it still ran the call (or could not say), but had not finished it after
    the connection's ``busy_rounds`` bounds (a lock wait on a frozen session, say): waiting on
    would be a hang."""


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


def what_ended(exc: psycopg.Error) -> str:
    """How a lost connection (``lost``'s answer) ended, in words for the one line that reports
    it: the server did not finish a call it still ran after every bound, stopped answering
    (frozen), or closed the connection itself."""
    if isinstance(exc, StillRunningError):
        return "did not finish a call"
    if isinstance(exc, NoAnswerError):
        return "stopped answering"
    return "closed the connection"


class BoundedConnection(psycopg.Connection[Any]):
    """A connection that gives up on a call the server has not answered in ``answer_timeout``
    seconds, unless the server says it is still running it.

    At the bound the client asks the server, on a connection of its own (``_asked``), whether
    this connection's backend is running the call: if so it waits another ``answer_timeout``
    (``busy_rounds`` in all, then it cancels the call and raises ``StillRunningError``: a lock
    held by a frozen session would otherwise be waited on for ever; None: as long as the server
    runs it, for a migration's statement, which may rightly take hours); if the server cannot say
    (frozen, gone) or the backend never took the call, it closes the connection (its state is
    unknown) and raises ``NoAnswerError``, an ``OperationalError``: callers treat it as a
    server that stopped answering.
    """

    answer_timeout: float | None = None
    server_dsn: str | None = None
    """Where to ask whether the server still runs the call (None: the bound is final)."""
    busy_rounds: int | None = BUSY_ROUNDS
    """Bounds a call the server says it still runs is waited for, in all (None: no limit)."""

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
                    asked = self._asked(limit)
                    if asked.running is None:
                        # not running it: it never took the call (frozen), or it finished it
                        # just now and the answer is on its way (an asked server reports a
                        # backend idle just before that backend answers)
                        ready = _ready(self.pgconn.socket, state, asked.grace)
                        if not ready:
                            self.pgconn.finish()
                            raise NoAnswerError(f"no answer from the server within {limit:g} s")
                    else:
                        waited = time.monotonic() - started
                        # no limit only while the server says it runs the call
                        rounds = self.busy_rounds if asked.sure else BUSY_ROUNDS
                        if rounds is not None and waited >= rounds * limit:
                            with contextlib.suppress(psycopg.Error):
                                self.cancel_safe(timeout=limit)
                            self.pgconn.finish()
                            raise StillRunningError(
                                f"a call still running after {waited:.0f} s ({asked.running}), "
                                f"given up at {rounds} times the {limit:g} s bound"
                            )
                        LOGGER.info(
                            "the server still runs a call after %.0f s (%s): busy, not frozen; "
                            "waiting",
                            waited,
                            asked.running,
                        )
                    deadline = time.monotonic() + limit
                state = gen.send(ready)
        except StopIteration as done:
            result: RV = done.value
            return result

    def _asked(self, limit: float) -> Asked:
        """What the server, asked on a connection of its own within ``limit`` s, says of this
        connection's backend (``Asked``)."""
        if self.server_dsn is None:
            return Asked(None, 0.0, sure=True)
        try:
            with open_bounded(
                self.server_dsn,
                answer_timeout=limit,
                autocommit=True,
                connect_timeout=connect_timeout(limit),
            ) as probe:  # its own bound is final: one question, no second one
                row = probe.execute(
                    "SELECT state = 'active',"
                    " coalesce(wait_event_type || ': ' || wait_event, 'working')"
                    " FROM pg_stat_activity WHERE pid = %s",
                    (self.pgconn.backend_pid,),
                ).fetchone()
        except (psycopg.errors.ConnectionTimeout, NoAnswerError):  # frozen too
            return Asked(None, 0.0, sure=True)
        except psycopg.Error as exc:  # refused (too many connections, a role's limit): alive
            return Asked(f"not known: the question failed: {reason(exc)}", 0.0)
        if row is None:  # not among the server's backends: a pooler's (PgBouncer) own pid
            return Asked("not known: no such backend on the server (a pooler?)", 0.0)
        if not row[0]:
            return Asked(None, ANSWER_GRACE, sure=True)
        return Asked(str(row[1]), 0.0, sure=True)


class Asked(NamedTuple):
    """What the server said of a backend whose call is past the bound."""

    running: str | None
    """What the call waits on while the server runs it (``working``, ``Lock: relation``, ...),
    or what keeps it from being known; None when the server runs no call there, or could not
    be asked (frozen, gone)."""
    grace: float
    """Seconds the answer may still take to arrive: ANSWER_GRACE when the server said the
    backend runs no call (it may have just finished it), else none."""
    sure: bool = False
    """Whether the server itself said so (a call it runs is then waited for up to
    ``busy_rounds`` bounds, which may be no limit); a call not known to run (the question
    refused by a live server, or a backend it does not know) is waited for ``BUSY_ROUNDS``."""


ANSWER_GRACE = 1.0
"""Seconds an answer may take to arrive after the server marked the call done (a backend
reports itself idle just before it sends its answer)."""


def _ready(sock: int, wait: Wait, grace: float) -> Ready:
    """Whether the socket is ready for what the call waits on (``wait``) within ``grace``
    seconds: the answer of a call the server finished meanwhile."""
    readable, writable, _ = select.select(
        [sock] if wait & Wait.R else [], [sock] if wait & Wait.W else [], [], grace
    )
    return Ready((Ready.R if readable else 0) | (Ready.W if writable else 0))


def open_bounded(
    dsn: str,
    *,
    answer_timeout: float | None = None,
    while_running: bool = False,
    busy_rounds: int | None = BUSY_ROUNDS,
    **kwargs: Any,
) -> BoundedConnection:
    """``psycopg.connect`` whose every call is bounded by ``answer_timeout`` (None: unbounded);
    the connect itself by ``urls.bounded`` unless ``connect_timeout`` is given.

    ``while_running``: for calls that may rightly outlast the bound (CREATE DATABASE, a
    migration, seeds), ask the server at the bound and wait on a call it still runs (the ask
    costs up to one more bound on a frozen server); else the bound is final, as for calls that
    answer at once on a live server (a lease, a version check) or that the server itself cancels
    before it (a test's, under ``statement_timeout``). ``busy_rounds``: how many bounds such a
    call is waited for in all (None: as long as the server runs it)."""
    conn = BoundedConnection.connect(dsn, **{**bounded(dsn), **kwargs})
    conn.answer_timeout = answer_timeout
    conn.server_dsn = Dsn(dsn) if while_running else None
    conn.busy_rounds = busy_rounds
    return conn
