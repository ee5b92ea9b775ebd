"""Apply, set and report migrations on PostgreSQL with Atlas's semantics.

``apply`` takes Atlas's advisory lock, computes pending files (``plan.py``), and runs each file
under its transaction mode, keeping the revisions table exactly as Atlas would leave it. Inside a
``file``/``all`` transaction the row is written once per file, at the end: intermediate row states
are invisible to every other session and roll back with the file, so writing them would only cost
round trips. In ``none`` mode every statement commits on its own, so the row is updated after
each statement (its ``applied`` count and partial hashes are what a later resume relies on).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from pytest_ampdb.migrations.connection import Connection, open_connection
from pytest_ampdb.migrations.directory import (
    TX_ALL,
    TX_FILE,
    TX_MODES,
    TX_NONE,
    MigrationDir,
    MigrationFile,
)
from pytest_ampdb.migrations.errors import (
    AppliedFileEditedError,
    HistoryChangedError,
    HistoryNonLinearError,
    MigrationError,
    NotCleanError,
    StatementError,
    UsageError,
    go_quote,
)
from pytest_ampdb.migrations.history import drift, revision_name
from pytest_ampdb.migrations.plan import EXEC_ORDERS, LINEAR, Plan, compute_plan
from pytest_ampdb.migrations.revisions import (
    DEFAULT_SCHEMA,
    TABLE,
    TYPE_BASELINE,
    TYPE_EXECUTE,
    TYPE_RESOLVED,
    Revision,
    RevisionTable,
    acquire_lock,
    release_lock,
)
from pytest_ampdb.paths import migrations_dir

DEFAULT_LOCK_TIMEOUT = 10.0
PathLike = str | os.PathLike[str]
Runner = Callable[["psycopg.Cursor[Any]", MigrationFile, int], None]
"""Runs statement ``index`` of a file on a cursor, in whatever transaction the file runs in; a
``psycopg.Error`` it raises is that statement's error."""


def run_statement(cur: psycopg.Cursor[Any], f: MigrationFile, index: int) -> None:
    """The plain :data:`Runner`: the statement as written."""
    cur.execute(f.statements()[index].encode("utf-8", "surrogateescape"), prepare=False)


def local_now() -> dt.datetime:
    """The wall-clock time in the local zone, as Go's ``time.Now()`` reports it."""
    return dt.datetime.now().astimezone()


@dataclass
class AppliedFile:
    """What happened to one file during an apply (or would happen, in a dry run)."""

    name: str
    version: str
    description: str
    skipped: int = 0  # statements already applied by an earlier, partial attempt
    statements: list[str] = field(default_factory=list)  # statements that ran (or would run)
    error: str | None = None
    error_stmt: str | None = None
    seconds: float = 0.0
    started_at: dt.datetime = field(default_factory=local_now)  # for --format's Start


@dataclass
class ApplyReport:
    """The summary of one ``apply``: from which version to which, and what ran."""

    current: str = ""
    target: str = ""
    pending: list[str] = field(default_factory=list)
    applied: list[AppliedFile] = field(default_factory=list)
    baseline: str | None = None
    dry_run: bool = False
    seconds: float = 0.0
    started_at: dt.datetime = field(default_factory=local_now)  # for --format's Start

    @property
    def message(self) -> str:
        """Atlas's one-line summary."""
        if not self.pending:
            return "No migration files to execute"
        start = f" from {self.current}" if self.current else ""
        return (
            f"Migrating to version {self.target}{start} ({len(self.pending)} migrations in total)"
        )

    @property
    def statement_count(self) -> int:
        """Statements that ran (or would run) in total."""
        return sum(len(f.statements) for f in self.applied)


def _validate_options(
    tx_mode: str, exec_order: str, baseline: str | None, allow_dirty: bool
) -> None:
    if tx_mode not in TX_MODES:
        raise UsageError(f'unknown tx-mode "{tx_mode}"')
    if exec_order not in EXEC_ORDERS:
        raise UsageError(f'unknown execution order: "{exec_order}"')
    if baseline and allow_dirty:
        raise UsageError("baseline and allow-dirty are mutually exclusive")


def load_dir(directory: PathLike | None, *, sum_required: bool = True) -> list[MigrationFile]:
    """The files of ``directory`` (default: the packaged one), validated."""
    mdir = MigrationDir(directory if directory is not None else migrations_dir())
    mdir.validate(sum_required=sum_required)
    return mdir.files()


def apply(
    target: str | Connection,
    directory: PathLike | None = None,
    *,
    tx_mode: str = TX_FILE,
    exec_order: str = LINEAR,
    baseline: str | None = None,
    allow_dirty: bool = False,
    count: int = 0,
    dry_run: bool = False,
    revisions_schema: str | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    files: Sequence[MigrationFile] | None = None,
    runner: Runner | None = None,
    answer_timeout: float | None = None,
) -> ApplyReport:
    """Apply pending migration files of ``directory`` to the database at ``target``.

    ``target`` is a URL/conninfo or an idle psycopg connection. ``count`` > 0 limits how many
    pending files run. ``files``, already loaded and validated, stand for the directory's (the
    dev-database replay passes a history's first files). ``runner`` runs each statement in
    place of :func:`run_statement` (lint analyses each one), statement by statement. Raises a
    :class:`MigrationError` (with ``.report`` set once the pending files are known) on any failure;
    returns the report otherwise, also when nothing was pending. ``answer_timeout`` bounds a
    call on a server that stopped answering (``connection.open_connection``).
    """
    _validate_options(tx_mode, exec_order, baseline, allow_dirty)
    if count < 0:
        raise UsageError(f"cannot apply '{count}' migration files")
    if files is None:
        files = load_dir(directory)
    started, started_at = time.monotonic(), local_now()
    with open_connection(target, answer_timeout=answer_timeout, migrates=True) as (conn, bound):
        table = RevisionTable(revisions_schema or bound or DEFAULT_SCHEMA)
        if not dry_run:
            acquire_lock(conn, lock_timeout)
        try:
            if not dry_run:
                table.create(conn)
            revisions = table.read(conn)
            complete = [r for r in revisions if r.total <= r.applied and not r.error]
            edited = drift(files, complete)  # partial files: the partial hashes decide
            if edited is not None and edited[1] == "changed":  # Atlas would skip it silently
                raise AppliedFileEditedError(edited[0])
            if not revisions and not (baseline or allow_dirty):
                reason = check_clean(conn, table.schema, bound)
                if reason:
                    raise NotCleanError(reason)
            plan = compute_plan(files, revisions, exec_order=exec_order, baseline=baseline)
            pending = plan.pending[:count] if count > 0 else plan.pending
            report = ApplyReport(
                current=revisions[-1].version if revisions else "",
                target=pending[-1].version if pending else "",
                pending=[f.name for f in pending],
                dry_run=dry_run,
                started_at=started_at,
            )
            # Check every directive and scan every file before anything is written or run.
            try:
                modes = [f.mode_under(tx_mode) for f in pending]
                for f in pending:
                    f.statements()
            except MigrationError as exc:  # in the report, as Atlas's: no file ran
                exc.report = report
                raise
            if plan.baseline is not None:
                report.baseline = report.current = plan.baseline.version
                if not dry_run:
                    table.write(conn, _baseline_row(plan.baseline))
            existing = {r.version: r for r in revisions}
            try:
                if dry_run:
                    _dry_run(pending, existing, report)
                else:
                    _execute(
                        conn,
                        table,
                        pending=pending,
                        modes=modes,
                        tx_mode=tx_mode,
                        existing=existing,
                        report=report,
                        runner=runner,
                    )
            except MigrationError as exc:
                report.seconds = time.monotonic() - started
                exc.report = report
                raise
        finally:
            if not dry_run:
                release_lock(conn)
    report.seconds = time.monotonic() - started
    return report


def _baseline_row(f: MigrationFile) -> Revision:
    return Revision(f.version, f.description, type=TYPE_BASELINE, applied=0, total=0, hash="")


def _dry_run(
    pending: Sequence[MigrationFile], existing: dict[str, Revision], report: ApplyReport
) -> None:
    for f in pending:
        rev = existing.get(f.version)
        skip = rev.applied if rev is not None and rev.partial else 0
        report.applied.append(
            AppliedFile(f.name, f.version, f.description, skip, list(f.statements()[skip:]))
        )


def _execute(
    conn: Connection,
    table: RevisionTable,
    *,
    pending: Sequence[MigrationFile],
    modes: Sequence[str],
    tx_mode: str,
    existing: dict[str, Revision],
    report: ApplyReport,
    runner: Runner | None,
) -> None:
    run = runner or run_statement
    if tx_mode == TX_ALL:
        with conn.transaction():
            for f in pending:
                _execute_file(conn, table, f, existing.get(f.version), report, run=run, each=False)
        return
    for f, mode in zip(pending, modes, strict=True):
        rev = existing.get(f.version)
        if mode == TX_NONE:
            _execute_file(conn, table, f, rev, report, run=run, each=True)
        elif (
            rev is None
            and runner is None
            and _batchable(f)
            and _execute_file_batched(conn, table, f, report)
        ):
            continue
        else:
            with conn.transaction():
                _execute_file(conn, table, f, rev, report, run=run, each=False)


# Settings that change how the server *lexes* SQL: a multi-statement query string is parsed as a
# whole before it runs, so a file setting one of these must run statement by statement.
_LEXER_SETTINGS = re.compile(r"standard_conforming_strings|backslash_quote", re.IGNORECASE)


def _batchable(f: MigrationFile) -> bool:
    return not _LEXER_SETTINGS.search(f.text)


def _execute_file_batched(
    conn: Connection, table: RevisionTable, f: MigrationFile, report: ApplyReport
) -> bool:
    """Run a ``file``-mode file and its revision row as one query string: one round trip.

    ``BEGIN; <stmt 1>; ...; <upsert>; COMMIT`` is what the statement-by-statement path does,
    minus the round trips. On any error the transaction is rolled back and False is returned:
    the caller re-runs the file statement by statement, which pins the error on its statement
    (a file-mode failure leaves nothing behind, so the re-run starts from the same state).
    """
    stmts = f.statements()
    rev = Revision(
        f.version, f.description, type=TYPE_EXECUTE, applied=len(stmts), total=len(stmts),
        hash=f.hash,
    )  # fmt: skip
    parts = [b"BEGIN;\n"]
    for stmt in stmts:
        parts.append(stmt.encode("utf-8", "surrogateescape"))
        parts.append(b"\n;\n")
    parts.append(table.completed_upsert(conn, rev))
    parts.append(b";\nCOMMIT")
    started, started_at = time.monotonic(), local_now()
    try:
        conn.execute(b"".join(parts), prepare=False)
    except psycopg.Error:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.execute(b"ROLLBACK")
        return False
    record = AppliedFile(
        f.name, f.version, f.description, statements=list(stmts), started_at=started_at
    )
    record.seconds = time.monotonic() - started
    report.applied.append(record)
    return True


def _execute_file(
    conn: Connection,
    table: RevisionTable,
    f: MigrationFile,
    rev: Revision | None,
    report: ApplyReport,
    *,
    run: Runner,
    each: bool,
) -> None:
    """Run the rest of one file; ``each`` writes the row per statement (autocommit mode)."""
    stmts = f.statements()
    sums = f.partial_hashes()
    if rev is None:
        rev = Revision(f.version, f.description, type=TYPE_EXECUTE, total=len(stmts), hash=f.hash)
    else:
        rev.total = len(stmts)
        rev.hash = f.hash
    started = time.monotonic()
    record = AppliedFile(f.name, f.version, f.description, skipped=rev.applied)
    report.applied.append(record)
    if each:
        table.write(conn, rev)  # marks the file as started
    stored = [h.removeprefix("h1:") for h in rev.partial_hashes or []]
    for i in range(rev.applied):
        if i >= len(sums) or i >= len(stored) or sums[i].removeprefix("h1:") != stored[i]:
            raise HistoryChangedError(f.name, i + 1)
    cur = conn.cursor()
    last = len(stmts) - 1
    for index in range(rev.applied, len(stmts)):
        stmt = stmts[index]
        try:
            run(cur, f, index)
        except psycopg.Error as exc:
            pg_error = format_pg_error(exc)
            record.error, record.error_stmt = pg_error, stmt
            record.seconds = time.monotonic() - started
            rev.error, rev.error_stmt = pg_error, stmt
            rev.execution_time = int(record.seconds * 1e9)
            if each:
                table.write(conn, rev)
            raise StatementError(stmt, f.version, f.name, pg_error, exc.sqlstate) from None
        record.statements.append(stmt)
        rev.applied = index + 1
        rev.partial_hashes = [*(rev.partial_hashes or []), sums[index]]
        if each and index != last:
            table.write(conn, rev)
    record.seconds = time.monotonic() - started
    rev.partial_hashes = None
    rev.error = rev.error_stmt = ""
    rev.execution_time = int(record.seconds * 1e9)
    table.write(conn, rev)


def format_pg_error(exc: psycopg.Error) -> str:
    """PostgreSQL's error as one line: ``ERROR: <message> (SQLSTATE <code>)``."""
    diag = exc.diag
    message = diag.message_primary or str(exc).strip().splitlines()[0]
    severity = diag.severity or "ERROR"
    text = f"{severity}: {message}"
    if exc.sqlstate:
        text += f" (SQLSTATE {exc.sqlstate})"
    return text


_CLEAN_SQL = """
SELECT n.nspname, c.relname
FROM pg_namespace n
LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p')
WHERE n.nspname NOT IN ('information_schema', 'pg_catalog', 'pg_toast')
  AND n.nspname NOT LIKE 'pg\\_temp\\_%%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%%'
  AND NOT EXISTS (
    SELECT 1 FROM pg_depend d
    WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e'
  )
ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"
"""


def check_clean(conn: Connection, revisions_schema: str, bound: str | None) -> str | None:
    """Why the database is not clean, in the words of Atlas's PostgreSQL ``CheckClean``; None
    if it is.

    Clean means: no schema besides an empty ``public`` and the revisions schema holding only
    the revisions table (schemas an extension owns do not count). With a URL bound to a schema
    only that schema is looked at, and the first table other than the revisions table is named
    (Atlas may name the revisions table itself there).
    """
    tables: dict[str, list[str]] = {}
    for nspname, relname in conn.execute(_CLEAN_SQL).fetchall():
        tables.setdefault(str(nspname), [])
        if relname is not None:
            tables[str(nspname)].append(str(relname))
    if bound:
        names = [t for t in tables.get(bound, []) if not (bound == revisions_schema and t == TABLE)]
        return f'found table "{names[0]}" in schema "{bound}"' if names else None
    for schema in sorted(tables, key=lambda s: s.encode()):
        names = tables[schema]
        if schema == revisions_schema and names in ([], [TABLE]):
            continue  # empty until the revisions table is made (apply --dry-run)
        if not names and schema == "public":
            continue
        if not names or schema != revisions_schema:
            return f'found schema "{schema}"'
        if len(names) > 1:
            return f'found {len(names)} tables in schema "{schema}"'
        return f'found table "{names[0]}" in schema "{schema}"'
    return None


# -- status -----------------------------------------------------------------------------------


@dataclass
class Status:
    """What ``migrate status`` reports (no lock taken, nothing written)."""

    state: str
    current: str
    next: str
    executed: list[Revision]
    pending: list[str]
    out_of_order: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # applied, but no file in the directory
    applied_statements: int = 0  # of the last, partially applied file
    total_statements: int = 0
    error: str = ""
    error_stmt: str = ""
    from_checkpoint: bool = False
    files: list[str] = field(default_factory=list)  # the directory's file names, in order

    @property
    def partial(self) -> bool:
        """Whether the last revision is partially applied."""
        return self.total_statements > 0

    def render(self) -> str:
        """Atlas's status text (without colours)."""
        current = self.current
        if self.partial:
            current += f" ({self.applied_statements} statements applied)"
        nxt = self.next + (" (checkpoint)" if self.from_checkpoint else "")
        if self.partial:
            nxt += f" ({self.total_statements - self.applied_statements} statements left)"
        executed = f"{len(self.executed)}" + (" (last one partially)" if self.partial else "")
        pending = f"{len(self.pending)}"
        if self.out_of_order:
            # Atlas: "N (K out of order)" when other files are pending too, else "N (out of order)".
            regular = len(self.pending) > len(self.out_of_order)
            pending += f" ({len(self.out_of_order)} out of order)" if regular else " (out of order)"
        lines = [
            f"Migration Status: {self.state}",
            f"  -- Current Version: {current}",
            f"  -- Next Version:    {nxt}",
            f"  -- Executed Files:  {executed}",
            f"  -- Pending Files:   {pending}",
        ]
        if self.out_of_order:
            lines.append("")
            lines.append(f"  ERROR: {HistoryNonLinearError(self.out_of_order, [])}")
        if self.missing:
            lines.append("")
            lines.append(f"  ERROR: {missing_files_message(self.missing)}")
        if self.partial:
            # On one line each, as Atlas prints them.
            stmt, error = self.error_stmt.replace("\n", " "), self.error.replace("\n", " ")
            lines += [
                "",
                "Last migration attempt had errors:",
                f"  -- SQL:   {stmt}",
                f"  -- ERROR: {error}",
            ]
        return "\n".join(lines) + "\n"


MISSING = "MISSING"
"""The status of a database holding revisions whose files the directory lacks (never "OK")."""


def missing_files_message(names: Sequence[str]) -> str:
    """One line naming applied revisions without a file, worded like Atlas's missing-migration
    error (Atlas's own status says "OK" here; ours must not)."""
    quoted = ", ".join(go_quote(n) for n in names)
    what = "revision" if len(names) == 1 else "revisions"
    verb = "was" if len(names) == 1 else "were"
    return (
        f"missing migration: {what} {quoted} {verb} applied to the database "
        "but the migration directory has no such file"
    )


def read_revisions(
    target: str | Connection,
    revisions_schema: str | None = None,
    *,
    answer_timeout: float | None = None,
) -> list[Revision]:
    """The revisions table's rows (none if it does not exist); nothing is locked or written."""
    with open_connection(target, answer_timeout=answer_timeout) as (conn, bound):
        return RevisionTable(revisions_schema or bound or DEFAULT_SCHEMA).read(conn)


def status(
    target: str | Connection,
    directory: PathLike | None = None,
    *,
    revisions_schema: str | None = None,
    answer_timeout: float | None = None,
) -> Status:
    """Compare the directory with the revisions table (validates the directory first)."""
    files = load_dir(directory)
    revisions = read_revisions(target, revisions_schema, answer_timeout=answer_timeout)
    out_of_order: list[str] = []
    try:
        plan = compute_plan(files, revisions, exec_order=LINEAR)
    except HistoryNonLinearError as exc:
        out_of_order = exc.out_of_order
        plan = Plan(pending=[f for f in files if f.name in set(exc.out_of_order + exc.pending)])
    pending = [f.name for f in plan.pending]
    last = revisions[-1] if revisions else None
    versions = {f.version for f in files}
    missing = [revision_name(r) for r in revisions if r.version not in versions]
    st = Status(
        state=MISSING if missing else "PENDING" if pending else "OK",
        current=last.version if last else "No migration applied yet",
        next=plan.pending[0].version if plan.pending else "Already at latest version",
        executed=list(revisions),
        pending=pending,
        out_of_order=out_of_order,
        missing=missing,
        from_checkpoint=plan.from_checkpoint and not revisions,
        files=[f.name for f in files],
    )
    if out_of_order:
        st.next = "UNKNOWN"
    if last is not None and last.partial and not out_of_order:
        # Atlas's report stops at the out-of-order error, without the partial file's lines.
        # The statements left are counted in the file as it is now, as Atlas counts them.
        now = next((f for f in files if f.version == last.version), None)
        total = len(now.statements()) if now is not None else last.total
        st.applied_statements, st.total_statements = last.applied, total
        st.error, st.error_stmt = last.error, last.error_stmt
    return st


# -- set --------------------------------------------------------------------------------------


@dataclass
class SetReport:
    """What ``migrate set`` changed: rows removed, rows set (resolved or added).

    ``current`` is the last revision afterwards ("" when every revision was deleted);
    ``descriptions`` maps each changed version to its description, for the report.
    """

    current: str
    removed: list[str] = field(default_factory=list)
    set: list[str] = field(default_factory=list)
    descriptions: dict[str, str] = field(default_factory=dict)


def set_revision(
    target: str | Connection,
    directory: PathLike | None = None,
    version: str | None = None,
    *,
    revisions_schema: str | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    answer_timeout: float | None = None,
) -> SetReport:
    """Make the revisions table say the database is at ``version``, as ``atlas migrate set``.

    Rows above it are deleted, a failed or partial row at it is marked resolved (type 6), and
    files between the last row and it get resolved (type 4) rows, all in one transaction.
    Without a version, a database with revisions is set to the last file (or, with an empty
    directory, loses every revision); a database without revisions is refused, as Atlas does,
    so ``set`` never marks a whole directory applied by accident.
    """
    files = load_dir(directory)
    if version is not None and not any(f.version == version for f in files):
        raise UsageError(f'migration with version "{version}" not found')
    with open_connection(target, answer_timeout=answer_timeout, migrates=True) as (conn, bound):
        table = RevisionTable(revisions_schema or bound or DEFAULT_SCHEMA)
        acquire_lock(conn, lock_timeout)
        try:
            table.create(conn)
            with conn.transaction():
                return _set(conn, table, files, version)
        finally:
            release_lock(conn)


def _set(
    conn: Connection, table: RevisionTable, files: Sequence[MigrationFile], version: str | None
) -> SetReport:
    existing = table.read(conn)
    if version is None:
        if not existing:
            raise UsageError("accepts 1 arg(s), received 0")
        version = files[-1].version if files else ""
    report = SetReport(current="")
    for rev in existing:
        if rev.version > version:
            table.delete(conn, rev.version)
            report.removed.append(rev.version)
        elif rev.version == version and (rev.error or rev.applied != rev.total):
            rev.type = TYPE_EXECUTE | TYPE_RESOLVED
            table.write(conn, rev)
            report.set.append(rev.version)
        else:
            continue
        report.descriptions[rev.version] = rev.description
    revisions = table.read(conn)
    last = revisions[-1].version if revisions else None
    rows = [
        Revision(f.version, f.description, type=TYPE_RESOLVED, hash=f.hash)
        for f in files
        if (last is None or f.version > last) and f.version <= version
    ]
    if rows:
        table.write_many(conn, rows)
        report.set += [r.version for r in rows]
        report.descriptions.update((r.version, r.description) for r in rows)
        last = rows[-1].version
    report.current = last or ""
    return report
