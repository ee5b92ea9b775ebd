"""Preview databases on a shared server: ensure (create or migrate), drop, list, prune.

Every preview is guarded by one session advisory lock on the server's maintenance database,
keyed by its name: two CI jobs of the same branch never create or migrate it twice, and a drop
never pulls it from under a job that is building it. Creation is CREATE DATABASE, the preview
mark (state ``creating``), the migrations, the seeds, then the mark ``ready``; a job that dies
midway leaves a ``creating`` preview that the next ensure rebuilds. Nothing is ever dropped
that does not carry the mark, and nothing with live connections unless forced.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from pytest_ampdb.answers import no_answer, open_bounded
from pytest_ampdb.migrations import HistoryNonLinearError, apply
from pytest_ampdb.migrations.directory import MigrationDir, MigrationFile
from pytest_ampdb.migrations.plan import compute_plan
from pytest_ampdb.migrations.revisions import RevisionTable
from pytest_ampdb.ownership import Drop, create_marked, drop_owned, try_lock, unlock
from pytest_ampdb.paths import migrations_dir
from pytest_ampdb.preview import catalog, marker
from pytest_ampdb.preview.catalog import PreviewInfo
from pytest_ampdb.preview.errors import (
    RECREATE_HINT,
    BranchCollisionError,
    NotAPreviewError,
    PreviewError,
    PreviewInUseError,
    PreviewNotFoundError,
)
from pytest_ampdb.preview.history import check_history
from pytest_ampdb.preview.locking import lock_key, locked
from pytest_ampdb.preview.marker import Mark
from pytest_ampdb.preview.naming import database_name, is_preview_name, printable
from pytest_ampdb.seeds import SeedSet, read_seeds
from pytest_ampdb.seeds.postgres import load_into_postgres
from pytest_ampdb.urls import dbname_of, with_dbname

Connection = psycopg.Connection[Any]

DEFAULT_LOCK_TIMEOUT = 300.0
"""Seconds an ensure or drop waits for another job creating or migrating the same preview."""
SERVER_ENV = "AMPDB_PREVIEW_SERVER"
SYSTEM_DATABASES = frozenset({"postgres", "template0", "template1"})


@dataclass(frozen=True)
class EnsureReport:
    """What an ensure (or migrate) did to the preview of ``branch``."""

    name: str
    """The preview database's name (``pr-<slug>``)."""
    dsn: str
    """The server URL pointed at the preview database."""
    branch: str
    created: bool
    """True when the preview was (re)created, migrated and seeded by this call."""
    applied: list[str]
    """Versions of the migration files this call applied (empty when up to date)."""
    version: str
    """The preview's migration version now ("" with no migrations)."""
    seconds: float
    seeded: int = 0
    """Seed rows loaded (creation only)."""

    @property
    def changed(self) -> bool:
        """Whether this call created the preview or applied anything to it."""
        return self.created or bool(self.applied)


@dataclass
class PruneReport:
    """What ``prune`` dropped (or would drop, in a dry run) and what it kept, with why."""

    dropped: list[PreviewInfo] = field(default_factory=list)
    kept: list[tuple[PreviewInfo, str]] = field(default_factory=list)
    dry_run: bool = False


OnCreate = Callable[[str], None]
"""Called with the new preview's URL after migrations and seeds, before it is marked ready."""


# -- ensure / migrate -------------------------------------------------------------------------


def ensure(
    server_dsn: str,
    branch: str,
    *,
    migrations: Path | None = None,
    seeds: SeedSet | None = None,
    seed: bool = True,
    recreate: bool = False,
    force: bool = False,
    on_create: OnCreate | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    answer_timeout: float | None = None,
) -> EnsureReport:
    """Make the preview of ``branch`` exist and be up to date with ``migrations``.

    Missing: create it, apply every migration, load ``seeds`` (default: the packaged seeds;
    ``seed=False`` loads none), call ``on_create``. Present: apply only the pending migrations
    (never reseed). An applied migration that changed or disappeared raises
    :class:`~pytest_ampdb.preview.errors.HistoryDriftError`; ``recreate=True`` drops and
    rebuilds the preview instead (refused while it has live connections unless ``force``).
    ``server_dsn`` is a URL of the server's maintenance database (e.g. ``.../postgres``).
    ``answer_timeout``: the longest any call on the server may wait for its answer (None: no
    limit); a server that stops answering raises ``answers.NoAnswerError`` instead of a hang.
    """
    return _ensure(
        server_dsn,
        branch,
        migrations=migrations,
        seeds=seeds,
        seed=seed,
        recreate=recreate,
        force=force,
        on_create=on_create,
        lock_timeout=lock_timeout,
        answer_timeout=answer_timeout,
        create=True,
    )


def migrate(
    server_dsn: str,
    branch: str,
    *,
    migrations: Path | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    answer_timeout: float | None = None,
) -> EnsureReport:
    """Apply the pending migrations to the existing preview of ``branch`` (never creates one)."""
    return _ensure(
        server_dsn,
        branch,
        migrations=migrations,
        seeds=None,
        seed=False,
        recreate=False,
        force=False,
        on_create=None,
        lock_timeout=lock_timeout,
        answer_timeout=answer_timeout,
        create=False,
    )


def _ensure(
    server_dsn: str,
    branch: str,
    *,
    migrations: Path | None,
    seeds: SeedSet | None,
    seed: bool,
    recreate: bool,
    force: bool,
    on_create: OnCreate | None,
    lock_timeout: float,
    answer_timeout: float | None,
    create: bool,
) -> EnsureReport:
    started = time.perf_counter()
    name = database_name(branch)
    _check_server(server_dsn, name)
    mdir = MigrationDir(migrations if migrations is not None else migrations_dir())
    mdir.validate()  # a broken directory is reported before the server is touched
    files = mdir.files()
    job = _Job(server_dsn, name, branch, mdir.path, files, started, answer_timeout)
    with locked(server_dsn, name, lock_timeout, answer_timeout) as admin:
        found = catalog.find(admin, name)
        if found is not None:
            mark, connections = found
            if mark is None:
                # unless born ours (its OID) to a job killed before it marked it: then rebuilt
                if not create or drop_owned(admin, name, ()) is not Drop.DROPPED:
                    raise NotAPreviewError(name, "use")
                found = None
            elif not create and mark.state != marker.READY:
                raise PreviewError(
                    f"preview {name!r} was never finished (a job creating it stopped); "
                    "run ampdb preview create to rebuild it"
                )
            elif recreate or mark.state != marker.READY:
                # A ``creating`` mark under our lock is a dead job's leftover: always dropped.
                if recreate and connections and not force:
                    raise PreviewInUseError(name, connections)
                catalog.drop_database(admin, name, force=True)
                found = None
            elif mark.branch != branch:
                raise BranchCollisionError(name, mark.branch, branch)
            else:
                return job.migrate(admin, mark)
        if not create:
            raise PreviewNotFoundError(name, branch)
        loaded = None if not seed else seeds if seeds is not None else read_seeds()
        return job.create(admin, loaded, on_create)


@dataclass
class _Job:
    """One ensure of one preview, run while its lock is held."""

    server_dsn: str
    name: str
    branch: str
    directory: Path
    files: list[MigrationFile]
    started: float
    answer_timeout: float | None

    @property
    def dsn(self) -> str:
        return with_dbname(self.server_dsn, self.name)

    def connect(self) -> Connection:
        """An autocommit connection to the preview itself, bounded as the admin one is."""
        return _connect(self.dsn, self.answer_timeout)

    def migrate(self, admin: Connection, mark: Mark) -> EnsureReport:
        """Apply what is pending; the fast path reads the revisions and nothing else."""
        with self.connect() as conn:
            revisions = RevisionTable().read(conn)
            check_history(self.name, self.files, revisions)
            try:
                plan = compute_plan(self.files, revisions)
            except HistoryNonLinearError as exc:
                # A merge brought in migrations older than ones the preview already ran.
                raise PreviewError(f"preview {self.name!r}: {exc}; {RECREATE_HINT}") from None
            applied: list[str] = []
            if plan.pending:
                report = apply(conn, self.directory)
                applied = [f.version for f in report.applied]
                revisions = RevisionTable().read(conn)
        version = revisions[-1].version if revisions else ""
        if applied or mark.version != version:
            marker.write(admin, self.name, mark.ready(version, catalog.server_now(admin)))
        return self._report(created=False, applied=applied, version=version)

    def create(
        self, admin: Connection, seeds: SeedSet | None, on_create: OnCreate | None
    ) -> EnsureReport:
        """CREATE DATABASE, mark it ``creating``, migrate, seed, mark it ``ready``."""
        mark = Mark(branch=self.branch, created=catalog.server_now(admin))
        create_marked(admin, self.name, mark.text())
        try:
            rows = 0
            with self.connect() as conn:
                report = apply(conn, self.directory)
                if seeds is not None:
                    rows = load_into_postgres(conn, seeds)
            if on_create is not None:
                on_create(self.dsn)
            applied = [f.version for f in report.applied]
            version = applied[-1] if applied else report.current
            marker.write(
                admin,
                self.name,
                mark.ready(version, catalog.server_now(admin), seeded=seeds is not None),
            )
        except BaseException as exc:
            if no_answer(exc) is None:  # a frozen server: the next ensure rebuilds ``creating``
                with contextlib.suppress(psycopg.Error):
                    catalog.drop_database(admin, self.name, force=True)
            raise
        return self._report(created=True, applied=applied, version=version, seeded=rows)

    def _report(
        self, *, created: bool, applied: list[str], version: str, seeded: int = 0
    ) -> EnsureReport:
        return EnsureReport(
            name=self.name,
            dsn=self.dsn,
            branch=self.branch,
            created=created,
            applied=applied,
            version=version,
            seconds=time.perf_counter() - self.started,
            seeded=seeded,
        )


# -- drop / list / prune ----------------------------------------------------------------------


def drop(
    server_dsn: str,
    branch: str | None = None,
    *,
    database: str | None = None,
    force: bool = False,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    answer_timeout: float | None = None,
) -> PreviewInfo:
    """Drop the preview of ``branch`` (or the preview named ``database``); returns what it was.

    Refuses a database without the preview mark, one with live connections (unless ``force``,
    which also drops a preview that another branch's name maps to), and any system database.
    """
    if (branch is None) == (database is None):
        raise PreviewError("drop needs exactly one of a branch or a database name")
    name = database if database is not None else database_name(str(branch))
    if not is_preview_name(name) or name in SYSTEM_DATABASES:
        raise PreviewError(
            f"refusing to drop {printable(name)!r}: not a preview database name (pr-...)"
        )
    _check_server(server_dsn, name)
    with locked(server_dsn, name, lock_timeout, answer_timeout) as admin:
        info = catalog.info(admin, name)
        if info is None:
            if catalog.find(admin, name) is not None:
                raise NotAPreviewError(name, "drop")
            raise PreviewNotFoundError(name, branch)
        if branch is not None and info.branch != branch and not force:
            raise BranchCollisionError(
                name, info.branch, branch, hint="use --force to drop it anyway"
            )
        if info.connections and not force:
            raise PreviewInUseError(name, info.connections)
        try:
            catalog.drop_database(admin, name, force=force)
        except psycopg.errors.ObjectInUse:
            # Someone connected between the check and the DROP: still a refusal.
            raise PreviewInUseError(name, max(catalog.live_connections(admin, name), 1)) from None
    return info


def list_previews(server_dsn: str, *, answer_timeout: float | None = None) -> list[PreviewInfo]:
    """Every marked preview on the server, by name; unmarked databases never appear."""
    with _connect(server_dsn, answer_timeout) as conn:
        return catalog.infos(conn)


def prune(
    server_dsn: str,
    *,
    older_than: dt.timedelta | None = None,
    keep_branches: Iterable[str] | None = None,
    force: bool = False,
    dry_run: bool = False,
    answer_timeout: float | None = None,
) -> PruneReport:
    """Drop the marked previews older than ``older_than`` whose branch is not in ``keep_branches``.

    At least one criterion is required (a bare prune never drops every preview). A preview with
    live connections is kept unless ``force``; one locked by a job creating or migrating it is
    always kept. ``keep_branches`` match by the database their name maps to.
    """
    if older_than is None and keep_branches is None:
        raise PreviewError(
            "prune needs --older-than and/or --keep-branches (it never drops every preview)"
        )
    kept_names = {database_name(b) for b in keep_branches or () if b}
    result = PruneReport(dry_run=dry_run)
    with _connect(server_dsn, answer_timeout) as admin:
        for info in catalog.infos(admin):
            reason = _keep_reason(info, older_than, kept_names, force)
            if reason is None and not dry_run:
                reason = _prune_one(admin, info, force)
            if reason is None:
                result.dropped.append(info)
            else:
                result.kept.append((info, reason))
    return result


def _keep_reason(
    info: PreviewInfo, older_than: dt.timedelta | None, kept: set[str], force: bool
) -> str | None:
    if info.name in kept:
        return "its branch is kept"
    if older_than is not None and info.age < older_than:
        return f"younger than {catalog.format_age(older_than)}"
    if info.connections and not force:
        plural = "" if info.connections == 1 else "s"
        return f"{info.connections} live connection{plural} (use --force)"
    return None


def _prune_one(admin: Connection, info: PreviewInfo, force: bool) -> str | None:
    """Drop one preview under its lock without waiting; the reason it was kept otherwise."""
    key = lock_key(info.name)
    if not try_lock(admin, key):
        return "locked by a job creating or migrating it"
    try:
        if catalog.info(admin, info.name) is None:
            return "no longer a marked preview"
        catalog.drop_database(admin, info.name, force=force)
    except psycopg.errors.ObjectInUse:
        return "a connection opened meanwhile (use --force)"
    finally:
        unlock(admin, key)
    return None


def _connect(dsn: str, answer_timeout: float | None) -> Connection:
    """An autocommit connection whose every call is bounded by ``answer_timeout`` (if set)."""
    return open_bounded(dsn, answer_timeout=answer_timeout, while_running=True, autocommit=True)


def _check_server(server_dsn: str, name: str) -> None:
    if dbname_of(server_dsn) == name:
        raise PreviewError(
            f"the server URL names the preview database {name!r} itself; "
            "point it at the server's maintenance database (e.g. postgres)"
        )
