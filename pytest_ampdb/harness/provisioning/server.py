"""``Server``: a PostgreSQL server the plugin may use, however it was obtained.

Every way of getting one (a container, a local cluster, a DSN the user gave, a preview database)
ends as a ``Server``: an admin URL, what it is, and how to let it go. ``owned`` says whether the
plugin created the server itself; only then may it touch databases it did not create.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from pytest_ampdb.harness.provisioning.connect import (
    connect,
    lost,
    what_ended,
)
from pytest_ampdb.harness.provisioning.errors import ProvisioningError
from pytest_ampdb.postgres.errors import reason
from pytest_ampdb.urls import Dsn, dbname_of, with_dbname


@dataclass(frozen=True)
class InPlace:
    """A database the server source made ready itself (a branch's preview): the run uses it as
    it is, in rolled-back transactions, instead of a template of its own."""

    name: str
    migration_version: str
    seconds: float
    """How long creating or migrating it took."""


@dataclass
class Server:
    """A reachable PostgreSQL server and the way it was obtained."""

    admin_dsn: str
    """A superuser (or CREATEDB) URL of the maintenance database (usually ``postgres``)."""
    kind: str
    """``container``, ``local``, ``dsn`` or ``preview``."""
    description: str
    """One line for the report header (never with a password)."""
    version: str = ""
    """``server_version`` of the server, e.g. ``15.18``."""
    reused: bool = False
    """True when a server kept by an earlier ``--ampdb-reuse`` run was found and used."""
    owned: bool = True
    """True when the plugin created the server (a container or cluster of its own)."""
    in_place: InPlace | None = None
    """The database the source prepared (``preview``); None: the run builds a template."""
    release: Callable[[], None] = field(default=lambda: None, repr=False)
    """Stops or removes the server, or leaves it for the next run (``--ampdb-reuse``)."""
    answer_timeout: float | None = None
    """``--ampdb-timeout``: the longest any call of the plugin on it waits (None: unbounded)."""
    gone: Callable[[], bool] = field(default=lambda: False, repr=False)
    """True when the plugin knows the server is down for good (its own cluster's postmaster
    killed, its own container killed or removed), so a run does not wait for it to restart;
    a server it cannot look into (a DSN's, an xdist worker's) is waited for within the connect
    timeout."""

    def __post_init__(self) -> None:
        self.admin_dsn = Dsn(self.admin_dsn)  # its repr (in tracebacks, -l) hides the password

    def dsn(self, dbname: str) -> Dsn:
        """The admin URL pointed at another database of the same server."""
        return with_dbname(self.admin_dsn, dbname)

    def connect(self, dsn: str | None = None, **kwargs: Any) -> psycopg.Connection[Any]:
        """A connection to the maintenance database (or ``dsn``, one of the server's) whose
        every call is bounded by ``answer_timeout``: a server that freezes while the run is
        provisioned ends it with ``NoAnswerError`` instead of a hang."""
        return connect(
            dsn or self.admin_dsn,
            answer_timeout=self.answer_timeout,
            while_running=True,
            **kwargs,
        )

    def lost(self, exc: BaseException) -> ProvisioningError | None:
        """One line for a connection the run lost while it was provisioned, naming the server
        and why: it stopped answering (frozen), did not finish a call it still ran after every
        bound, or closed the connection itself (an admin's ``pg_terminate_backend``, a crash of
        another backend, a shutdown). None for any other error."""
        found = lost(exc)
        if found is None:
            return None
        return ProvisioningError(
            f"{self.description} {what_ended(found)} while the run was provisioned: "
            f"{reason(found)}; the next run clears what this one left"
        )

    @property
    def dbname(self) -> str:
        """The database the admin URL names."""
        return dbname_of(self.admin_dsn)

    def close(self) -> None:
        """Release the server (idempotent)."""
        release, self.release = self.release, lambda: None
        release()


def project_key(root: Path) -> str:
    """A checkout's short stable name (a hash of its resolved path): it names and marks what the
    plugin keeps for that checkout (a kept cluster's directory, a kept container, the template
    marks), so two checkouts never share, prune or clean each other's."""
    return hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12]


def project_keys(where: Path) -> frozenset[str]:
    """The keys of ``where`` and each folder above it: the checkouts ``where`` lies in."""
    resolved = where.resolve()
    return frozenset(project_key(p) for p in (resolved, *resolved.parents))


def check_version(server: Server, major: int) -> None:
    """Refuse a server whose major version is not ``major``."""
    found = server.version.split(".")[0].split(" ")[0]
    if found != str(major):
        raise ProvisioningError(
            f"{server.description} runs PostgreSQL {server.version}, not {major}; "
            f"set ampdb_postgres_version = {found} in the ini file to use it anyway"
        )
