"""A held connection's end noticed when it happens: a daemon thread waits on its socket.

A run holds advisory locks (its lease, its use of the template) on one idle connection. When the
server closes it (a restart, a crash of one of its processes, an admin's
``pg_terminate_backend``) those locks go with the session, and until they are taken again
another run's sweep takes this run for a dead one and drops its databases. Waiting for a test to
meet a closed connection leaves that window open; the socket says it at once (the server's last
message, or the end of the stream, makes it readable).
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
from collections.abc import Callable
from typing import Any

import psycopg

from pytest_ampdb.harness.provisioning.errors import ProvisioningError
from pytest_ampdb.postgres.errors import connection_lost, reason

LOGGER = logging.getLogger(__name__)
STOP_WAIT = 15.0
"""Seconds ``stop`` waits for the thread (a renewal under way ends at its next probe)."""


class Watch:
    """Watches the connection ``current()`` returns; when the server closed it, calls
    ``renew(coming_back)`` once (``coming_back()`` turns False when the watch is stopped, so a
    wait for the server ends then). ``stop()`` ends the thread; nothing is left running."""

    def __init__(
        self,
        current: Callable[[], psycopg.Connection[Any] | None],
        renew: Callable[[Callable[[], bool]], None],
        label: str,
    ) -> None:
        self._current = current
        self._renew = renew
        self._label = label
        self._stopping = threading.Event()
        self._wake, self._waker = socket.socketpair()
        self._thread = threading.Thread(target=self._run, name="ampdb-hold-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (conn := self._current()) is not None and self._wait_closed(conn):
            try:
                self._renew(lambda: not self._stopping.is_set())
            except (psycopg.Error, ProvisioningError) as exc:
                if not self._stopping.is_set():
                    LOGGER.warning(
                        "%s closed the connection that holds this run's lease and could not "
                        "be reached again (%s); another run's sweep may take this run for a "
                        "dead one",
                        self._label,
                        reason(exc),
                    )
                return

    def _wait_closed(self, conn: psycopg.Connection[Any]) -> bool:
        """Block until the server closed ``conn`` (True) or the watch is stopped (False). A
        selector (epoll), not ``select``: a descriptor past 1023 is fine. Something other than
        a closed connection going wrong ends the watch (logged), never a loop of queries."""
        with selectors.DefaultSelector() as selector:
            try:
                selector.register(self._wake, selectors.EVENT_READ)
                selector.register(conn.fileno(), selectors.EVENT_READ)
            except (OSError, ValueError, psycopg.Error):
                return conn.closed
            while not self._stopping.is_set():
                if conn.closed:
                    return True
                selector.select()
                if self._stopping.is_set():
                    break
                try:  # readable: its last message, the stream's end, or a notice
                    conn.execute("SELECT 1")
                except psycopg.Error as exc:
                    if conn.closed or connection_lost(exc):
                        return True
                    LOGGER.warning("%s: the lease's watch ends: %s", self._label, reason(exc))
                    return False
        return False

    def stop(self) -> None:
        """End the watch (idempotent); the thread is gone when this returns."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._waker.send(b"x")
        self._thread.join(STOP_WAIT)
        self._wake.close()
        self._waker.close()
