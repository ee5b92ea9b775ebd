"""A run's lease on a throwaway server it started: how a later run's sweep tells it is alive.

The run holds the same shared advisory lock it holds for its databases (``ownership.lease_key``)
on a connection to the server it started, from right after the server accepts connections until
it lets the server go. A sweep that reaches such a server asks the server itself whether that
lease is held, in any database: no host name, process id or PID namespace decides. A server it
cannot reach is judged the old way by the caller.
"""

from __future__ import annotations

from typing import Any

import psycopg

from pytest_ampdb.harness.provisioning.connect import NoAnswerError, connect
from pytest_ampdb.harness.provisioning.errors import ProvisioningError
from pytest_ampdb.ownership import lease_key, lock, lock_held
from pytest_ampdb.urls import redact_url

ANSWER_TIMEOUT = 10.0
"""Seconds a call on the lease's server may wait for its answer: taking the shared lease and
asking after one take no time on a server that answers (nobody holds a lease exclusively), so
a frozen server (SIGSTOP, a paused container) ends the start or the sweep instead of a hang."""
SWEEP_TIMEOUT = 3.0
"""A sweep asks a server it did not start: its connect and each call give up sooner."""
GRACE = 60.0
"""Seconds after its start in which a free lease proves nothing: a container is labelled with
its lease before its server accepts the connection that takes it."""


def hold(
    dsn: str, run_id: str, *, answer_timeout: float = ANSWER_TIMEOUT
) -> psycopg.Connection[Any]:
    """An open connection holding the run's lease on the server at ``dsn`` (close it to let go;
    closing never waits on the server)."""
    conn = connect(dsn, answer_timeout=answer_timeout, autocommit=True)
    try:
        lock(conn, lease_key(run_id), shared=True)
    except NoAnswerError as exc:
        raise ProvisioningError(
            f"the server at {redact_url(dsn)} stopped answering as the run took its lease: {exc}"
        ) from None
    except BaseException:
        conn.close()
        raise
    return conn


def run_alive(dsn: str, run_id: str, *, grace: float = GRACE) -> bool | None:
    """Whether the run ``run_id`` still uses the server at ``dsn``: True while its lease is
    held, False once it is free on a server up for ``grace`` s; None when the server cannot
    be asked or started too recently to tell (the caller judges the old way)."""
    try:
        with connect(dsn, answer_timeout=SWEEP_TIMEOUT, autocommit=True) as conn:
            if lock_held(conn, lease_key(run_id)):
                return True
            row = conn.execute(
                "SELECT extract(epoch FROM now() - pg_postmaster_start_time())"
            ).fetchone()
    except (psycopg.Error, ProvisioningError):
        return None
    if row is None or row[0] is None or float(row[0]) < grace:
        return None
    return False
