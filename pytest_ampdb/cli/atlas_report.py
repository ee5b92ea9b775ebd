"""The ``migrate status``, ``apply`` and ``lint`` reports in the shape of Atlas's ``cmdlog``
structs (``MigrateStatus``, ``MigrateApply``, lint's ``SummaryReport``), for ``--format``: same
Go field names, JSON keys, omitempty and value formats, so ``jq`` filters written for Atlas read
them unchanged (lint's: its template fields only, no JSON).

Left out: ``Env.URL`` (Atlas marshals Go's ``url.URL`` fields, query parameters included, which
can hold a password) and the checks of Atlas Pro (``Checks``), which ampdb does not run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pytest_ampdb.cli.logformat import Duration, Field, Struct, Time, Value
from pytest_ampdb.migrations.analyzers import ANALYZERS, Diagnostic
from pytest_ampdb.migrations.directory import MigrationFile
from pytest_ampdb.migrations.errors import HistoryNonLinearError
from pytest_ampdb.migrations.executor import (
    MISSING,
    AppliedFile,
    ApplyReport,
    Status,
    missing_files_message,
)
from pytest_ampdb.migrations.lint import FileReport as LintFileReport
from pytest_ampdb.migrations.lint import LintReport
from pytest_ampdb.migrations.lint import Report as LintAnalyzerReport
from pytest_ampdb.migrations.revisions import (
    TYPE_BASELINE,
    TYPE_EXECUTE,
    TYPE_RESOLVED,
    Revision,
)

DRIVER = "postgres"

_TYPE_NAMES = {
    TYPE_BASELINE: "baseline",
    TYPE_EXECUTE: "applied",
    TYPE_RESOLVED: "manually set",
    TYPE_EXECUTE | TYPE_RESOLVED: "applied + manually set",
}


def _tagged(name: str, value: Value, *, omitempty: bool = True) -> Field:
    """A field whose JSON key is its Go name (Atlas's ``json:"Name,omitempty"``)."""
    return Field(name, value, name, omitempty)


def env(dir_text: str) -> Struct:
    """Atlas's ``Env`` without ``URL``."""
    return Struct((_tagged("Driver", DRIVER), _tagged("Dir", dir_text)))


def file(name: str) -> Struct:
    """Atlas's ``cmdlog.File``: name, version and description, each omitted when empty."""
    f = MigrationFile(name, b"")
    return Struct(
        (
            _tagged("Name", f.name),
            _tagged("Version", f.version),
            _tagged("Description", f.description),
        )
    )


def files(names: Sequence[str]) -> list[Value]:
    return [file(n) for n in names]


def revision_type(value: int) -> str:
    """Go's ``RevisionType.String``."""
    return _TYPE_NAMES.get(value, f"unknown ({value:04b})")


def revision(rev: Revision) -> Struct:
    """Atlas's ``migrate.Revision`` (only ``Error`` and ``ErrorStmt`` are omitempty)."""
    return Struct(
        (
            _tagged("Version", rev.version, omitempty=False),
            _tagged("Description", rev.description, omitempty=False),
            _tagged("Type", revision_type(rev.type), omitempty=False),
            _tagged("Applied", rev.applied, omitempty=False),
            _tagged("Total", rev.total, omitempty=False),
            _tagged("ExecutedAt", Time(rev.executed_at), omitempty=False),
            _tagged("ExecutionTime", Duration(rev.execution_time), omitempty=False),
            _tagged("Error", rev.error),
            _tagged("ErrorStmt", rev.error_stmt),
            _tagged("OperatorVersion", rev.operator_version, omitempty=False),
        )
    )


def status(st: Status, dir_text: str) -> Struct:
    """Atlas's ``MigrateStatus`` for ``st``."""
    available = list(st.files) if st.executed else list(st.pending)
    pending, out_of_order = list(st.pending), list(st.out_of_order)
    current, nxt, state = st.current, st.next, st.state
    error, stmt = st.error.replace("\n", " "), st.error_stmt.replace("\n", " ")
    if out_of_order:  # Atlas stops at the error: no Available, no Next
        pending = [p for p in pending if p not in out_of_order]
        available, nxt = [], ""
        error = str(HistoryNonLinearError(out_of_order, pending))
    elif st.missing and not st.partial:  # ampdb's own state: Atlas would say OK here
        state, error = MISSING, missing_files_message(st.missing)
    count, total = (st.applied_statements, st.total_statements) if st.partial else (0, 0)
    return Struct(
        (
            Field("Env", env(dir_text), "Env"),
            _tagged("Available", files(available)),
            _tagged("OutOfOrder", files(out_of_order)),
            _tagged("Pending", files(pending)),
            _tagged("Applied", [revision(r) for r in st.executed]),
            _tagged("Current", current),
            _tagged("Next", nxt),
            _tagged("Count", count),
            _tagged("Total", total),
            _tagged("Status", state),
            _tagged("Error", error),
            _tagged("SQL", stmt),
            Field("Left", total - count),  # methods a template can call
            Field("FromCheckpoint", st.from_checkpoint),
        )
    )


def _end(started_at: dt.datetime, seconds: float) -> Time:
    return Time(started_at + dt.timedelta(seconds=seconds))


def applied_file(f: AppliedFile) -> Struct:
    """Atlas's ``AppliedFile`` JSON: its statements include the one that failed (Atlas logs a
    statement before running it)."""
    stmts: list[Value] = list(f.statements)
    error: Value = None
    if f.error is not None:
        if f.error_stmt:
            stmts.append(f.error_stmt)
        error = Struct((_tagged("Stmt", f.error_stmt or ""), _tagged("Text", f.error)))
    return Struct(
        (
            *file(f.name).fields,
            _tagged("Start", Time(f.started_at)),
            _tagged("End", _end(f.started_at, f.seconds)),
            _tagged("Skipped", f.skipped),
            _tagged("Applied", stmts),
            _tagged("Error", error),
        )
    )


def apply(report: ApplyReport, dir_text: str, error: str = "") -> Struct:
    """Atlas's ``MigrateApply`` JSON (``Env`` inlined, ``Message`` added by its MarshalJSON);
    ``error`` is the failure that ended the run, if any."""
    if error:
        message = ""
    elif not report.applied:
        message = "No migration files to execute"
    else:
        message = (
            f"Migrated to version {report.target} from {report.current} "
            f"({len(report.pending)} migrations in total)"
        )
    return Struct(
        (
            Field("Env", env(dir_text)),
            *env(dir_text).fields,
            _tagged("Pending", files(report.pending)),
            _tagged("Applied", [applied_file(f) for f in report.applied]),
            _tagged("Current", report.current),
            _tagged("Target", report.target),
            Field("Start", Time(report.started_at), "Start"),
            Field("End", _end(report.started_at, report.seconds), "End"),
            _tagged("Error", error),
            Field(None, message, "Message", omitempty=True),
        )
    )


def status_samples() -> tuple[Struct, ...]:
    """``MigrateStatus`` reports of every shape (each list filled in one of them), for
    ``--format`` to be checked on before the command runs."""
    rev = Revision("1", "a")
    shapes = (
        Status("PENDING", "1", "2", [rev], ["2_b.sql"], files=["1_a.sql", "2_b.sql"]),
        Status("PENDING", "2", "", [rev], ["1_a.sql", "3_c.sql"], out_of_order=["1_a.sql"]),
    )
    return tuple(status(st, "") for st in shapes)


def apply_samples() -> tuple[Struct, ...]:
    """``MigrateApply`` reports of every shape: a file applied, a file failed."""
    ok = AppliedFile("1_a.sql", "1", "a", statements=["SELECT 1;"])
    failed = AppliedFile("1_a.sql", "1", "a", error="boom", error_stmt="SELECT 1;")
    return (
        apply(ApplyReport(pending=["1_a.sql"], applied=[ok]), ""),
        apply(ApplyReport(pending=["1_a.sql"], applied=[failed]), "", "boom"),
    )


# -- migrate lint: Atlas's SummaryReport, for templates only -----------------------------------


def lint(report: LintReport) -> Struct:
    """The fields of Atlas's lint ``SummaryReport`` a template reads (``FromV``, ``ToV``,
    ``TotalFiles``, ``Files`` with ``Name``, ``Text``, ``Error`` and ``Reports`` of ``Text`` and
    ``Diagnostics``). Not marshaled: ``{{ json }}`` of it is refused (:func:`lint_template`)."""
    return Struct(
        (
            Field("FromV", report.base_version),
            Field("ToV", report.target_version),
            Field("TotalFiles", report.total_files),
            Field("Files", [_lint_file(f) for f in report.files]),
        )
    )


def _lint_file(f: LintFileReport) -> Struct:
    reports: list[Value] = [
        Struct(
            (
                Field("Text", r.analyzer.heading),
                Field("Diagnostics", [_diagnostic(d) for d in r.diagnostics]),
            )
        )
        for r in f.reports
    ]
    return Struct(
        (
            Field("Name", f.file.name),
            Field("Text", f.file.text),
            Field("Error", f.error),
            Field("Reports", reports),
        )
    )


def _diagnostic(d: Diagnostic) -> Struct:
    return Struct((Field("Pos", d.pos), Field("Text", d.text), Field("Code", d.code)))


def lint_samples() -> tuple[Struct, ...]:
    """A lint report of every shape: a file with a diagnostic."""
    diagnostic = Diagnostic("DS102", 'Dropping table "t"', 0)
    file = LintFileReport(MigrationFile("2.sql", b"DROP TABLE t;"))
    file.reports = [LintAnalyzerReport(ANALYZERS[0], [diagnostic])]
    return (lint(LintReport("1", "2", [file], 1)),)
