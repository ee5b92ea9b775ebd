"""Obtain the PostgreSQL server for a run: ``dsn``, ``container``, ``local``, or ``auto``.

``auto`` takes a DSN when one is given, else a container when a Docker engine answers, else a
local cluster from PostgreSQL binaries, else fails with one line naming all three ways. The
server's major version is checked (15 unless told otherwise) before anything is created on it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pytest_ampdb.harness.provisioning.connect import connect, connect_timeout
from pytest_ampdb.harness.provisioning.errors import BinariesNotFoundError, ProvisioningError
from pytest_ampdb.harness.provisioning.server import Server, project_key
from pytest_ampdb.logs import timed
from pytest_ampdb.modes import ServerSource

__all__ = ["MODES", "ServerRequest", "check_version", "obtain_server", "project_key", "use_dsn"]
from pytest_ampdb.urls import redact_url

LOGGER = logging.getLogger(__name__)
MODES = tuple(s for s in ServerSource if s is not ServerSource.PREVIEW)
"""What ``obtain_server`` starts (a preview is ensured by the postgres backend on a DSN server)."""


@dataclass(frozen=True)
class ServerRequest:
    """What the settings ask for."""

    mode: ServerSource = ServerSource.AUTO
    dsn: str | None = None
    image: str = "postgres:15"
    reuse: bool = False
    recreate: bool = False
    project_root: Path = field(default_factory=Path.cwd)
    major: int = 15
    timeout: float | None = None
    """``--ampdb-timeout``: bounds the connect timeout to an existing server."""


def obtain_server(request: ServerRequest) -> Server:
    """A started (or found) server of the requested kind, its version checked."""
    with timed(LOGGER, "server", level=logging.INFO) as outcome:
        server = _obtain(request)
        outcome.append(server.description)
    return server


def _obtain(request: ServerRequest) -> Server:
    mode = request.mode
    if mode == ServerSource.AUTO:
        mode = _auto(request)
    if mode == ServerSource.DSN:
        server = use_dsn(request.dsn, request.timeout)
    elif mode == ServerSource.CONTAINER:
        from pytest_ampdb.harness.provisioning.container import start_container

        server = start_container(
            image=request.image,
            reuse=request.reuse,
            recreate=request.recreate,
            project_root=request.project_root,
        )
    elif mode == ServerSource.LOCAL:
        server = start_local(request)
    else:
        raise ProvisioningError(f"--ampdb-postgres={mode!r}: expected one of {', '.join(MODES)}")
    try:
        check_version(server, request.major)
    except BaseException:
        server.close()
        raise
    return server


def _auto(request: ServerRequest) -> ServerSource:
    if request.dsn:
        return ServerSource.DSN
    from pytest_ampdb.harness.provisioning.container import docker_available, image_present

    if docker_available() and image_present(request.image):
        return ServerSource.CONTAINER
    try:
        from pytest_ampdb.harness.provisioning.binaries import find_binaries

        find_binaries(request.major)
    except BinariesNotFoundError as exc:
        raise ProvisioningError(
            "no PostgreSQL to use: give a server with --ampdb-dsn (or AMPDB_DSN), "
            f"start a Docker engine with the {request.image} image for a container, "
            f"or install PostgreSQL {request.major} server binaries ({exc})"
        ) from None
    return ServerSource.LOCAL


def use_dsn(dsn: str | None, timeout: float | None = None) -> Server:
    """A server the user runs: only the plugin's own databases on it are ever touched."""
    if not dsn:
        raise ProvisioningError("--ampdb-postgres=dsn needs --ampdb-dsn (or AMPDB_DSN)")
    with connect(dsn, autocommit=True, connect_timeout=connect_timeout(timeout)) as conn:
        version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    return Server(
        dsn, ServerSource.DSN, f"server at {redact_url(dsn)}", version=version, owned=False
    )


def start_local(request: ServerRequest) -> Server:
    """A local cluster: throwaway, or kept for the next run (named after the project root).

    ``--ampdb-recreate`` discards the kept one first; without ``--ampdb-reuse`` the run then
    uses a throwaway cluster, so nothing of the kept one (its data directory in /dev/shm
    included) is left behind.
    """
    from pytest_ampdb.harness.provisioning.local import LocalCluster, discard_kept, kept_cluster_dir

    if request.recreate:
        discard_kept(request.project_root)
    if not request.reuse:
        cluster = LocalCluster.start(major=request.major)
        reused = False
    else:
        keep = kept_cluster_dir(request.project_root)
        cluster = LocalCluster.attach_or_start(keep, major=request.major)
        reused = cluster.attached
    release = (lambda: None) if request.reuse else cluster.stop
    how = "kept for reuse" if request.reuse else "throwaway"
    return Server(
        cluster.dsn("postgres"),
        ServerSource.LOCAL,
        f"local cluster {cluster.version} at {cluster.host} port {cluster.port} ({how})",
        version=cluster.version,
        reused=reused,
        owned=True,
        release=release,
    )


def check_version(server: Server, major: int) -> None:
    """Refuse a server whose major version is not ``major``."""
    found = server.version.split(".")[0].split(" ")[0]
    if found != str(major):
        raise ProvisioningError(
            f"{server.description} runs PostgreSQL {server.version}, not {major}; "
            f"set ampdb_postgres_version = {found} in the ini file to use it anyway"
        )


@contextlib.contextmanager
def throwaway_dev_server() -> Iterator[str]:
    """The admin URL of a throwaway local cluster, stopped after: the dev database of
    ``ampdb migrate lint`` without ``--dev-url`` (entry point ``pytest_ampdb.dev_servers``)."""
    server = start_local(ServerRequest(mode=ServerSource.LOCAL))
    try:
        yield server.admin_dsn
    finally:
        server.close()
