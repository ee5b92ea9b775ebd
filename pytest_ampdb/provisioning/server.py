"""``Server``: a PostgreSQL server the plugin may use, however it was obtained.

Every way of getting one (a container, a local cluster, a DSN the user gave, a preview database)
ends as a ``Server``: an admin URL, what it is, and how to let it go. ``owned`` says whether the
plugin created the server itself; only then may it touch databases it did not create.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pytest_ampdb.provisioning.urls import Dsn, dbname_of, with_dbname


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
    release: Callable[[], None] = field(default=lambda: None, repr=False)
    """Stops or removes the server, or leaves it for the next run (``--ampdb-reuse``)."""

    def __post_init__(self) -> None:
        self.admin_dsn = Dsn(self.admin_dsn)  # its repr (in tracebacks, -l) hides the password

    def dsn(self, dbname: str) -> Dsn:
        """The admin URL pointed at another database of the same server."""
        return with_dbname(self.admin_dsn, dbname)

    @property
    def dbname(self) -> str:
        """The database the admin URL names."""
        return dbname_of(self.admin_dsn)

    def close(self) -> None:
        """Release the server (idempotent)."""
        release, self.release = self.release, lambda: None
        release()
