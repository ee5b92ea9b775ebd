"""The postgres backend for test runs: a server, a template, and per-test isolation.

Provisioning (server and template) happens once per run; under pytest-xdist the controller does
it and hands the result to the workers (``shared``), so every worker clones the same template.
Each process then clones its own databases, named after the run and the worker.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import psycopg

from pytest_ampdb import migrations, modes
from pytest_ampdb.answers import lost as lost_connection
from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.harness import budget, kept
from pytest_ampdb.harness import template as tpl
from pytest_ampdb.harness.backends.base import BackendContext, TestOptions, schema_line
from pytest_ampdb.harness.isolation import (
    CLONE_TIMEOUT,
    DatabaseIsolation,
    NoCloneSource,
    PostgresTestDatabase,
    Site,
    TransactionIsolation,
    TruncateIsolation,
    repositories_over,
)
from pytest_ampdb.harness.provisioning.connect import ServerBusyError, connect
from pytest_ampdb.harness.provisioning.errors import ProvisioningError
from pytest_ampdb.harness.provisioning.request import ServerRequest
from pytest_ampdb.harness.provisioning.select import obtain_server
from pytest_ampdb.harness.provisioning.server import InPlace, Server, project_key
from pytest_ampdb.harness.settings import Settings
from pytest_ampdb.migrations import snapshot
from pytest_ampdb.migrations.schemadiff import check_database
from pytest_ampdb.models.declared import schema_source, schema_tables
from pytest_ampdb.models.schema import TableSpec
from pytest_ampdb.models.tables import TABLES
from pytest_ampdb.paths import migrations_dir
from pytest_ampdb.postgres.errors import ConnectionLostError, connection_lost, reason
from pytest_ampdb.seeds import SeedSet
from pytest_ampdb.seeds.postgres import load_into_postgres
from pytest_ampdb.urls import Dsn, redact_url

Isolation = TransactionIsolation | DatabaseIsolation | TruncateIsolation
T = TypeVar("T")


@dataclass(frozen=True)
class Provisioned:
    """A server with a ready template: what the workers of one run share (JSON-friendly)."""

    admin_dsn: str
    kind: str
    description: str
    version: str
    server_reused: bool
    template: str
    template_reused: bool
    template_seconds: float
    strategy: str
    migration_version: str
    run_id: str
    preview: str | None = None
    """The branch's preview database, used in place by ``transaction`` isolation."""
    untouched: tuple[str, ...] = ()
    """Databases named like a run's but without our mark, which the sweep left alone."""
    ahead: int = budget.AHEAD
    """Databases each process clones ahead under ``database`` isolation (the server's budget)."""
    budget: str = ""
    """Why the server cannot hold the run's connections, said once at start ("" if it can)."""

    def to_shared(self) -> dict[str, Any]:
        """Plain values (a ``Dsn`` becomes a ``str``: execnet sends only exact types)."""
        return {k: str(v) if isinstance(v, str) else v for k, v in asdict(self).items()}

    @classmethod
    def from_shared(cls, data: dict[str, Any]) -> Provisioned:
        return cls(**{**data, "admin_dsn": Dsn(data["admin_dsn"])})


def provision(
    settings: Settings, seeds: SeedSet | None, context: BackendContext
) -> tuple[Provisioned, Server, tpl.Template | None]:
    """Obtain the server and make sure the template for these migrations and seeds is ready
    (or, when the server source prepared a database to use in place, take that one)."""
    on_create = (
        (lambda dsn: _load_seeds(dsn, context, timeout=settings.timeout))
        if seeds is not None
        else None
    )
    run_id = secrets.token_hex(3)  # the run's lease: on its databases and a server it starts
    request = ServerRequest.of(
        settings, context.project_root, seeds=seeds, on_create=on_create, lease=run_id
    )
    directory = settings.migrations or migrations_dir()
    files = snapshot.validated(directory)  # an edited atlas.sum stops the run before any server
    tables = schema_tables(settings.schema)
    server = obtain_server(request)
    if server.in_place is not None:
        return _in_place(server, server.in_place, run_id), server, None
    try:
        seed_files = list(seeds.files.values()) if seeds is not None else []
        extra = (*context.fingerprint_files(), *schema_source(settings.schema))
        digest = tpl.fingerprint(directory, seed_files, extra)

        def build(dsn: str) -> None:
            with server.connect(dsn) as conn:  # bounded: the data layer takes it idle
                migrations.apply(conn, directory)
                difference = check_database(conn, tables)  # the template has the declared schema
            if difference:
                raise AmpdbError(
                    f"{directory}: the migrations do not build the declared schema: "
                    f"{difference}; {snapshot.remake_hint(directory, settings.schema)}"
                )
            if seeds is not None:
                _load_seeds(dsn, context, seeds, tables, timeout=server.answer_timeout)

        template = tpl.ensure_template(server, digest, build, rebuild=settings.recreate)
    except BaseException as exc:
        server.close()
        if (gone := server.lost(exc)) is not None:
            raise gone from None
        raise
    try:  # on the connection that holds the template in use: no second admin connection
        template.lease(run_id)
        swept = tpl.sweep_dead_runs(server, run_id, conn=template.hold)
        strategy = tpl.clone_strategy(server, conn=template.hold)
        if settings.reuse and template.hold is not None:  # this checkout keeps it
            kept.keep_template(template.hold, template.name, project_key(context.project_root))
        if (settings.reuse or settings.recreate) and template.hold is not None:
            kept.prune(template.hold, template.name, project_key(context.project_root))
        provisioned = Provisioned(
            admin_dsn=server.admin_dsn,
            kind=server.kind,
            description=server.description,
            version=server.version,
            server_reused=server.reused,
            template=template.name,
            template_reused=template.reused,
            template_seconds=template.seconds,
            strategy=strategy,
            migration_version=_last_version(files),
            run_id=run_id,
            untouched=tuple(swept.untouched),
        )
        template.watch(server, run_id)  # its lease outlives a restart of the server
    except BaseException as exc:
        gone = server.lost(exc)  # then only let go: every further call would wait or fail
        project = project_key(context.project_root)
        said = None if gone is None else str(gone)
        release_provisioned(settings, template, server, lost=said, project=project)
        if gone is not None:
            raise gone from None
        raise
    return provisioned, server, template


def _in_place(server: Server, database: InPlace, run_id: str) -> Provisioned:
    """A run on the database its server source prepared (a branch's preview): tests run inside
    it in rolled-back transactions, so a run never leaves rows behind in a shared database;
    other isolations clone from a template copy of it, made on demand."""
    return Provisioned(
        admin_dsn=server.admin_dsn,
        kind=server.kind,
        description=server.description,
        version=server.version,
        server_reused=server.reused,
        template="",
        template_reused=server.reused,
        template_seconds=database.seconds,
        strategy=tpl.clone_strategy(server),
        migration_version=database.migration_version,
        run_id=run_id,
        preview=database.name,
    )


def _last_version(directory: migrations.MigrationDir) -> str:
    files = directory.files()
    return files[-1].version if files else "none"


def _load_seeds(
    dsn: str,
    context: BackendContext,
    seeds: SeedSet | None = None,
    tables: Mapping[str, TableSpec[Any]] = TABLES,
    *,
    timeout: float | None = None,
) -> None:
    """Load ``seeds`` (when given) and the ``pytest_ampdb_seed`` hooks' rows, in one commit;
    every call bounded by ``timeout`` (``--ampdb-timeout``), and waited for past it while the
    server says it still runs the call (a large seed set's COPY is a long call, not a hang)."""
    with connect(dsn, answer_timeout=timeout, while_running=True) as conn:
        if seeds is not None:
            load_into_postgres(conn, seeds)
        context.seed_hook(repositories_over(conn, tables=tables))
        conn.commit()


class PostgresBackend:
    """Opens each test's database with the isolation it asks for."""

    name: str = modes.Backend.POSTGRES

    def __init__(self, settings: Settings, seeds: SeedSet | None, context: BackendContext) -> None:
        self.settings = settings
        self._server: Server | None = None
        if context.shared is not None:
            self.provisioned = Provisioned.from_shared(context.shared)
            server = Server(
                self.provisioned.admin_dsn,
                self.provisioned.kind,
                self.provisioned.description,
                owned=False,
            )
        else:
            try:
                self.provisioned, server, self._template = provision(settings, seeds, context)
            except psycopg.Error as exc:  # provision has let go of the server already
                raise _refused(exc, settings) from None
            self.provisioned = _within_budget(self.provisioned, server, settings, context)
            self._server = server
        self._copy: tpl.Template | None = None
        prefix = tpl.run_prefix(self.provisioned.run_id, context.worker.lower())
        self.site = Site(
            server,
            self.provisioned.template or None,
            self.provisioned.strategy,
            prefix,
            context.on_ready,
            label=f"postgres backend ({self.provisioned.description})",
            run_id=self.provisioned.run_id,
            in_place=self.provisioned.preview,
            make_template=self._copy_preview,
            timeout=settings.timeout,
            tables=schema_tables(settings.schema),
            project=project_key(context.project_root),
        )
        self._isolations: dict[str, Isolation] = {}
        self._early: Future[TransactionIsolation] | None = None
        if settings.isolation == modes.Isolation.TRANSACTION:
            self._early = _in_background(lambda: TransactionIsolation(self.site, announce=False))

    def _copy_preview(self) -> str:
        """A template copy of the preview, for isolations that clone (made once, on demand)."""
        name = self.provisioned.preview
        if name is None:
            raise AmpdbError(f"{self.site.label}: no template to clone databases from")
        digest = hashlib.sha256(f"preview {name} {self.provisioned.migration_version}".encode())
        try:
            self._copy = tpl.ensure_template(
                self.site.server, digest.hexdigest(), lambda dsn: None, source=name
            )
            self._copy.lease(self.provisioned.run_id)  # before the first clone carries it
            self._copy.watch(self.site.server, self.provisioned.run_id)
        except psycopg.Error as exc:
            in_use = (
                " while this run's 'transaction' isolation is connected to it: run the tests "
                "marked for another isolation on their own, with --ampdb-isolation=database"
                if self.settings.isolation == modes.Isolation.TRANSACTION
                else "; use --ampdb-isolation=transaction on a shared preview"
            )
            raise NoCloneSource(
                f"{self.site.label}: isolation 'database' (or 'truncate') clones databases from "
                f"a copy of the preview, and PostgreSQL refused to make it ({reason(exc)}); it "
                f"copies only a preview no other session is connected to{in_use}"
            ) from None
        return self._copy.name

    def open(self, options: TestOptions) -> PostgresTestDatabase:
        mode = options.isolation or self.settings.isolation
        if mode not in set(modes.Isolation):
            raise AmpdbError(
                f"isolation={mode!r}: expected one of {modes.choices(modes.Isolation)}"
            )
        if self.site.lost is not None:  # fail at once rather than wait on a dead server
            raise ConnectionLostError(self.site.lost)
        with self._one_line():
            db = self._isolation(mode).open(options.seed)
        finish = db.finish

        def guarded(failed: bool, shared: bool) -> str | None:
            with self._one_line():
                return finish(failed, shared)

        db.finish = guarded  # a teardown on a server gone meanwhile is one line too
        return db

    @contextlib.contextmanager
    def _one_line(self) -> Iterator[None]:
        """A driver error as one line: a full server fails this test, any other the run."""
        lost: Exception
        try:
            yield
            return
        except ServerBusyError as exc:  # full for now, not gone: only this test fails
            raise AmpdbError(f"{self.site.label}: {exc}") from None
        except psycopg.Error as exc:
            if not connection_lost(exc):  # e.g. a statement timeout: the server still answers
                raise AmpdbError(f"{self.site.label}: {reason(exc)}") from None
            lost = exc
        except ProvisioningError as exc:
            lost = exc
        # outside the except: the one line is not chained to the driver's error
        raise ConnectionLostError(
            self.site.mark_lost(f"{self.site.label} stopped answering: {reason(lost)}", lost)
        )

    def _isolation(self, mode: str) -> Isolation:
        isolation = self._isolations.get(mode)
        if isolation is None:
            if mode == modes.Isolation.TRANSACTION and self._early is not None:
                early, self._early = self._early, None
                prepared = early.result()
                prepared.announce()
                isolation = prepared
            elif mode == modes.Isolation.DATABASE:
                isolation = DatabaseIsolation(self.site, ahead=self.provisioned.ahead)
            else:
                isolation = _ISOLATION_CLASSES[mode](self.site)
            self._isolations[mode] = isolation
        return isolation

    def describe(self) -> list[str]:
        p = self.provisioned
        server = (
            "reused"
            if p.server_reused
            else "started"
            if p.kind in {modes.ServerSource.CONTAINER, modes.ServerSource.LOCAL}
            else "given"
        )
        template = "reused" if p.template_reused else f"built in {p.template_seconds:.2f} s"
        lines = [
            f"backend postgres: PostgreSQL {p.version}, {p.description} ({server})",
            f"migrations at version {p.migration_version}; template {p.template} ({template}); "
            f"isolation {self.settings.isolation}",
            schema_line(self.settings, p.migration_version, "checked against the template"),
            *([f"WARNING: {p.budget}"] if p.budget else []),
        ]
        if p.untouched:
            lines.append(
                f"left alone {len(p.untouched)} databases named like a run's but without "
                f"pytest-ampdb's mark (not ours): {', '.join(p.untouched)}"
            )
        return lines

    def close(self) -> None:
        """Drop this process's databases; the provisioning process also sweeps the whole run's
        (a dead xdist worker's too) and releases the template and the server."""
        if self._early is not None:  # made in the background, never used: dropped with the rest
            early, self._early = self._early, None
            with contextlib.suppress(Exception):
                self._isolations[modes.Isolation.TRANSACTION] = early.result(timeout=CLONE_TIMEOUT)
        try:
            for isolation in self._isolations.values():
                isolation.close()
        finally:
            self._isolations.clear()
            if self._copy is not None:
                self._copy.release(self.site.server, drop=self.site.lost is None)
                self._copy = None
            if self._server is not None:
                server, self._server = self._server, None
                release_provisioned(
                    self.settings,
                    self._template,
                    server,
                    self.provisioned.run_id,
                    self.site.lost,
                    project=self.site.project,
                )


_HINTS = {
    "42501": "the role needs CREATEDB (ALTER ROLE ... CREATEDB), or let the plugin start a "
    "server of its own (--ampdb-postgres=local or container)",
    "25006": "the role's sessions are read-only (default_transaction_read_only, or a standby): "
    "use a role and a primary that can write (ALTER ROLE ... SET "
    "default_transaction_read_only = off)",
}


def _refused(exc: psycopg.Error, settings: Settings) -> ProvisioningError:
    """One line for a server that refused to make the template: what it said, what to do."""
    where = f" at {redact_url(settings.dsn)}" if settings.dsn else ""
    hint = _HINTS.get(exc.sqlstate or "", "")
    return ProvisioningError(
        f"the PostgreSQL server{where} refused to build the test databases: {reason(exc)}"
        + (f"; {hint}" if hint else "")
    )


def _within_budget(
    provisioned: Provisioned, server: Server, settings: Settings, context: BackendContext
) -> Provisioned:
    """``provisioned`` with the clones ahead the server has room for, and a note if it has too
    few connections for the run (a failed check is no reason to stop: the tests will say)."""
    try:
        with server.connect(autocommit=True) as conn:
            found = budget.plan(conn, settings.isolation, context.processes)
    except (psycopg.Error, ProvisioningError):
        return provisioned
    return dataclasses.replace(provisioned, ahead=found.ahead, budget=found.note)


def _in_background(make: Callable[[], T]) -> Future[T]:
    """Run ``make`` in a thread now; its result (or error) is taken from the future when needed.

    The process's database for ``transaction`` isolation is cloned and connected to this way
    while pytest collects and sets up the session, instead of on the first test's path.
    """
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(make())
        except BaseException as exc:  # handed to whoever takes the result
            future.set_exception(exc)

    threading.Thread(target=run, name="ampdb-prepare", daemon=True).start()
    return future


def release_provisioned(
    settings: Settings,
    template: tpl.Template | None,
    server: Server,
    run_id: str | None = None,
    lost: str | None = None,
    *,
    project: str | None = None,
) -> None:
    """End of run: drop the run's databases, stop using the template (dropping it, when unkept
    on a server that outlives us, no other checkout keeps it and no other run uses it), then
    release the server. With the server gone (``lost``) only the release is left to do."""
    try:
        if lost is None and run_id is not None:
            try:
                tpl.drop_run_databases(server, run_id)
            except BaseException:
                if template is not None:  # its watch and hold end with the run all the same
                    with contextlib.suppress(Exception):
                        template.release(server, drop=False)
                raise
        if template is not None:
            template.unwatch()  # the hold is ours again: withdrawn from and let go below
            drop = lost is None and not settings.reuse and not server.owned
            if drop and template.hold is not None and project is not None:
                # this checkout no longer keeps it; another checkout's --ampdb-reuse may
                drop = _withdrawn(template, server, project)
            template.release(server, drop=drop)
    except psycopg.Error as exc:  # e.g. a backend of ours frozen on a run database
        raise ProvisioningError(
            f"{server.description}: could not drop this run's databases ({reason(exc)}); "
            "the next run sweeps them"
        ) from None
    finally:
        server.close()


def _withdrawn(template: tpl.Template, server: Server, project: str) -> bool:
    """Withdraw this checkout's claim on ``template``: on the connection that holds it, or on a
    new one if the server closed that one meanwhile (it restarted). True if no claim is left."""
    assert template.hold is not None
    try:
        return not kept.withdraw(template.hold, template.name, frozenset({project}))
    except psycopg.Error as exc:
        if lost_connection(exc) is None:
            raise
    with tpl.admin(server) as conn:
        return not kept.withdraw(conn, template.name, frozenset({project}))


_ISOLATION_CLASSES: dict[str, type[Isolation]] = {
    modes.Isolation.TRANSACTION: TransactionIsolation,
    modes.Isolation.DATABASE: DatabaseIsolation,
    modes.Isolation.TRUNCATE: TruncateIsolation,
}
