"""Obtain the PostgreSQL server for a run: auto, dsn, container, local or preview.

``select_source`` is the one place that decides: ``auto`` takes a DSN when one is given, else a
container when a Docker engine answers, else a local cluster from PostgreSQL binaries, else fails
with one line naming all three ways; ``preview`` takes the shared server of ``--ampdb-dsn`` or
``AMPDB_PREVIEW_SERVER``. ``obtain_server`` then starts (or finds) what was selected and checks
the server's major version (15 unless told otherwise) before anything is created on it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from pytest_ampdb.harness.provisioning.connect import connect
from pytest_ampdb.harness.provisioning.errors import BinariesNotFoundError, ProvisioningError
from pytest_ampdb.harness.provisioning.request import ServerRequest
from pytest_ampdb.harness.provisioning.server import Server, check_version, project_key
from pytest_ampdb.logs import timed
from pytest_ampdb.modes import ServerSource, choices
from pytest_ampdb.urls import redact_url

__all__ = [
    "Selection",
    "ServerRequest",
    "check_version",
    "obtain_server",
    "project_key",
    "select_source",
    "use_dsn",
]

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Selection:
    """The server source a run uses (never ``auto``) and the URL it was given, if any."""

    source: ServerSource
    url: str | None = None
    """The server of ``dsn`` and ``preview`` (its maintenance database)."""


def select_source(request: ServerRequest, environ: Mapping[str, str] | None = None) -> Selection:
    """Decide where the server comes from, from the mode, the settings and the environment."""
    env = os.environ if environ is None else environ
    mode = request.mode
    if mode == ServerSource.AUTO:
        return _auto(request)
    if mode == ServerSource.DSN:
        if not request.dsn:
            raise ProvisioningError("--ampdb-postgres=dsn needs --ampdb-dsn (or AMPDB_DSN)")
        return Selection(mode, request.dsn)
    if mode == ServerSource.PREVIEW:
        from pytest_ampdb.preview import SERVER_ENV  # only this source pays its import

        url = request.dsn or env.get(SERVER_ENV)
        if not url:
            raise ProvisioningError(
                "--ampdb-postgres=preview needs the shared server: --ampdb-dsn or "
                f"{SERVER_ENV} (a URL of its maintenance database)"
            )
        return Selection(mode, url)
    if mode in {ServerSource.CONTAINER, ServerSource.LOCAL}:
        return Selection(mode)
    raise ProvisioningError(f"--ampdb-postgres={mode!r}: expected one of {choices(ServerSource)}")


def obtain_server(request: ServerRequest, environ: Mapping[str, str] | None = None) -> Server:
    """A started (or found) server of the selected source, its version checked."""
    with timed(LOGGER, "server", level=logging.INFO) as outcome:
        selection = select_source(request, environ)
        server = _SOURCES[selection.source](request, selection)
        server.answer_timeout = request.timeout
        try:
            check_version(server, request.major)
        except BaseException:
            server.close()
            raise
        outcome.append(server.description)
    return server


def _auto(request: ServerRequest) -> Selection:
    if request.dsn:
        return Selection(ServerSource.DSN, request.dsn)
    from pytest_ampdb.harness.provisioning.container import docker_available, image_present

    if docker_available() and image_present(request.image):
        return Selection(ServerSource.CONTAINER)
    try:
        from pytest_ampdb.harness.provisioning.binaries import find_binaries

        find_binaries(request.major)
    except BinariesNotFoundError as exc:
        raise ProvisioningError(
            "no PostgreSQL to use: give a server with --ampdb-dsn (or AMPDB_DSN), "
            f"start a Docker engine with the {request.image} image for a container, "
            f"or install PostgreSQL {request.major} server binaries ({exc})"
        ) from None
    return Selection(ServerSource.LOCAL)


def _given(request: ServerRequest, selection: Selection) -> Server:
    return use_dsn(selection.url, request.timeout)


def _container(request: ServerRequest, selection: Selection) -> Server:
    from pytest_ampdb.harness.provisioning.container import start_container

    return start_container(
        image=request.image,
        reuse=request.reuse,
        recreate=request.recreate,
        project_root=request.project_root,
        lease=request.lease,
    )


def _preview(request: ServerRequest, selection: Selection) -> Server:
    from pytest_ampdb.harness.provisioning.preview import start_preview

    return start_preview(request, use_dsn(selection.url, request.timeout))


def use_dsn(dsn: str | None, timeout: float | None = None) -> Server:
    """A server the user runs: only the plugin's own databases on it are ever touched."""
    if not dsn:
        raise ProvisioningError("--ampdb-postgres=dsn needs --ampdb-dsn (or AMPDB_DSN)")
    with connect(dsn, answer_timeout=timeout, autocommit=True) as conn:
        version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    return Server(
        dsn, ServerSource.DSN, f"server at {redact_url(dsn)}", version=version, owned=False
    )


def start_local(request: ServerRequest, selection: Selection | None = None) -> Server:
    """A local cluster: throwaway, or kept for the next run (named after the project root).

    ``--ampdb-recreate`` discards the kept one first; without ``--ampdb-reuse`` the run then
    uses a throwaway cluster, so nothing of the kept one (its data directory in /dev/shm
    included) is left behind.
    """
    from pytest_ampdb.harness.provisioning.local import LocalCluster, discard_kept, kept_cluster_dir

    if request.recreate:
        discard_kept(request.project_root)
    if not request.reuse:
        cluster = LocalCluster.start(major=request.major, lease=request.lease)
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
        gone=cluster.killed,
    )


_SOURCES: dict[ServerSource, Callable[[ServerRequest, Selection], Server]] = {
    ServerSource.DSN: _given,
    ServerSource.CONTAINER: _container,
    ServerSource.LOCAL: start_local,
    ServerSource.PREVIEW: _preview,
}
"""How each source gives its server (``select_source`` has chosen one)."""


@contextlib.contextmanager
def throwaway_dev_server() -> Iterator[str]:
    """The admin URL of a throwaway local cluster, stopped after: the dev database of
    ``ampdb migrate lint`` without ``--dev-url`` (entry point ``pytest_ampdb.dev_servers``)."""
    server = start_local(ServerRequest(mode=ServerSource.LOCAL))
    try:
        yield server.admin_dsn
    finally:
        server.close()
