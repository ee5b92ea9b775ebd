"""The ``preview`` server source: the branch's ``pr-<branch>`` database on a shared server.

The server is one the user runs (only databases carrying our preview mark are ever dropped or
migrated); the source ensures the branch's preview on it (created, migrated and seeded once, then
only pending migrations applied) and hands it to the run as a database to use in place.
"""

from __future__ import annotations

import dataclasses

from pytest_ampdb import preview
from pytest_ampdb.harness.provisioning.errors import ProvisioningError
from pytest_ampdb.harness.provisioning.request import ServerRequest
from pytest_ampdb.harness.provisioning.server import InPlace, Server, check_version
from pytest_ampdb.modes import ServerSource
from pytest_ampdb.paths import migrations_dir
from pytest_ampdb.urls import redact_url


def start_preview(request: ServerRequest, server: Server) -> Server:
    """``server`` (the shared one, its version checked here first) with the branch's preview
    ensured on it as the database the run uses in place, every call of it bounded by
    ``--ampdb-timeout``: a server that freezes meanwhile ends the run with one line."""
    check_version(server, request.major)  # before anything is created on it
    branch = preview.branch_name(request.branch, cwd=request.project_root)
    try:
        report = preview.ensure(
            server.admin_dsn,
            branch,
            migrations=request.migrations or migrations_dir(),
            seeds=request.seeds,
            seed=request.seeds is not None,
            recreate=request.recreate,
            on_create=request.on_create,
            answer_timeout=request.timeout,
        )
    except preview.HistoryDriftError as exc:
        raise ProvisioningError(str(exc).replace("--recreate", "--ampdb-recreate")) from None
    except Exception as exc:
        if (gone := server.lost(exc)) is not None:
            raise gone from None
        raise
    state = "created" if report.created else f"{len(report.applied)} migrations applied"
    if not report.changed:
        state = "up to date"
    description = (
        f"preview {report.name} of branch {preview.printable(branch)} "
        f"on {redact_url(server.admin_dsn)}, {state}"
    )
    return dataclasses.replace(
        server,
        kind=ServerSource.PREVIEW,
        description=description,
        reused=not report.created,
        in_place=InPlace(report.name, report.version, report.seconds),
    )
