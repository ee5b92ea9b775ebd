"""``ServerRequest``: what a run's settings ask of server selection (``select.select_source``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pytest_ampdb.harness.settings import Settings
from pytest_ampdb.modes import ServerSource
from pytest_ampdb.seeds import SeedSet


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
    """``--ampdb-timeout``: bounds the connect timeout to an existing server and every call on
    the server while the run is provisioned (``Server.answer_timeout``)."""
    branch: str | None = None
    """``--ampdb-branch``: whose preview (default: the CI's branch variables, else git)."""
    migrations: Path | None = None
    """What a preview is migrated with (default: the packaged migrations)."""
    seeds: SeedSet | None = None
    """The seeds a new preview gets (none: it starts empty)."""
    on_create: Callable[[str], None] | None = None
    """Called with a new preview's URL after its seeds (the ``pytest_ampdb_seed`` hooks)."""
    lease: str | None = None
    """The run's id: a throwaway server the run starts holds the run's lease (``lease.py``)."""

    @classmethod
    def of(
        cls,
        settings: Settings,
        project_root: Path,
        *,
        seeds: SeedSet | None = None,
        on_create: Callable[[str], None] | None = None,
        lease: str | None = None,
    ) -> ServerRequest:
        """The request of a run's resolved settings."""
        return cls(
            mode=settings.postgres,
            dsn=settings.dsn,
            image=settings.image,
            reuse=settings.reuse,
            recreate=settings.recreate,
            project_root=project_root,
            major=settings.postgres_version,
            timeout=settings.timeout,
            branch=settings.branch,
            migrations=settings.migrations,
            seeds=seeds,
            on_create=on_create,
            lease=lease,
        )
