"""Connecting to a server, with a failure told as one line that names it (password hidden).

Used wherever the plugin opens a connection itself, so a refused login, an exhausted
``max_connections`` (SQLSTATE 53300) or a server that is gone all end as one
``ProvisioningError`` line instead of a driver traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from pytest_ampdb.answers import (
    BUSY_ROUNDS,
    BoundedConnection,
    NoAnswerError,
    StillRunningError,
    connect_timeout,
    lost,
    no_answer,
    open_bounded,
    what_ended,
)
from pytest_ampdb.harness.provisioning.errors import ProvisioningError
from pytest_ampdb.postgres.errors import reason
from pytest_ampdb.urls import CONNECT_TIMEOUT, check_dsn, redact_url
from pytest_ampdb.waiting import wait_until

__all__ = [
    "BUSY_ROUNDS",
    "NoAnswerError",
    "ServerBusyError",
    "StillRunningError",
    "connect",
    "connect_timeout",
    "lost",
    "no_answer",
    "other_sessions",
    "restarting",
    "what_ended",
]


class ServerBusyError(ProvisioningError):
    """The server refused a connection for now (``max_connections`` reached): it is not gone."""


def connect(
    dsn: str,
    *,
    answer_timeout: float | None = None,
    while_running: bool = False,
    coming_back: Callable[[], bool] | None = None,
    **kwargs: Any,
) -> BoundedConnection:
    """``psycopg.connect`` with a bounded wait and a one-line error naming the server.

    ``answer_timeout``: also bound every later call on the connection (``answers``; with
    ``while_running``, a call the server still runs is waited on), and the connect itself by
    ``connect_timeout(answer_timeout)`` unless told otherwise. A server starting up is waited
    for within that timeout; with ``coming_back`` (a server that just closed our connections)
    one refusing connections or shutting down is too, while ``coming_back()`` says it may still
    come back (a restart: ``pg_ctl restart``, ``docker restart``).
    """
    kwargs.setdefault("connect_timeout", connect_timeout(answer_timeout))
    coming: list[psycopg.OperationalError] = []

    def opened() -> BoundedConnection | None:
        try:
            return open_bounded(
                dsn, answer_timeout=answer_timeout, while_running=while_running, **kwargs
            )
        except psycopg.OperationalError as exc:
            if isinstance(exc, psycopg.errors.ConnectionTimeout):
                raise
            if _says(exc, _COMING) or (
                coming_back is not None and restarting(exc) and coming_back()
            ):
                coming[:] = [exc]
                return None
            raise

    try:
        conn = wait_until(
            opened, timeout=kwargs["connect_timeout"], interval=0.05, max_interval=0.5
        )
        if conn is None:
            raise coming[-1]
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
        if exc.sqlstate == "53300" or _says(exc, _BUSY):
            raise ServerBusyError(message) from None
        raise ProvisioningError(message) from None
    return conn


def _says(exc: psycopg.OperationalError, words: tuple[str, ...]) -> bool:
    """libpq gives no SQLSTATE for a refused startup; its text is the only signal there."""
    return any(text in str(exc) for text in words)


_BUSY = ("too many clients", "remaining connection slots are reserved")
"""libpq's words for a server with no connection slot free (for this role) right now."""
_COMING = (
    "the database system is starting up",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
)
"""libpq's words for a server coming (back) up: after a crash of one of its processes it
restarts them all and replays its log, refusing connections for a second or so. Waited for,
within the connect timeout."""
_DOWN = (
    "the database system is shutting down",
    "Connection refused",
    "No such file or directory",
    "server closed the connection unexpectedly",
)
"""libpq's words for a server that is down: shutting down, no postmaster on the port or the
Unix socket, or a proxy in front that takes the connection and closes it (Docker's, while the
container restarts). From a server that just closed our connections, a restart in progress."""


def restarting(exc: BaseException) -> bool:
    """Whether a failed connect says the server is down or coming up: what a restart shows
    from outside (``_DOWN``, ``_COMING``), as opposed to a refused login or a missing
    database, which no wait cures."""
    return isinstance(exc, psycopg.OperationalError) and _says(exc, _DOWN + _COMING)


def other_sessions(dsn: str) -> int:
    """How many client sessions besides this one the server has: a kept server that a run is
    using right now has at least one (the connection that holds its template); a server that
    does not answer within the connect timeout is given up as well."""
    with connect(dsn, answer_timeout=CONNECT_TIMEOUT, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0]) if row else 0
