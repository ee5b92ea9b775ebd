"""``migrate lint``: analyse the files of a change against the schema before them.

The files before the change are replayed on a dev database (:mod:`devdb`); then each file of the
change runs there as ``migrate apply`` runs it, and the catalogs before and after each of its
statements (:mod:`catalog`) go through every analyzer (:mod:`analyzers`). ``-- atlas:nolint
[name|code ...]`` above a statement, or in the file's header, silences findings as in Atlas; a
bare ``-- atlas:nolint`` header skips the file.
The report has Atlas's shape; an error-level finding fails the lint.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from pytest_ampdb.answers import no_answer
from pytest_ampdb.migrations.analyzers import ANALYZERS, Analyzer, Context, Diagnostic
from pytest_ampdb.migrations.catalog import Snapshot, diff, snapshot
from pytest_ampdb.migrations.checksum import directive
from pytest_ampdb.migrations.connection import Connection
from pytest_ampdb.migrations.devdb import Note, dev_database, run_where_it_can
from pytest_ampdb.migrations.directory import TX_NONE, MigrationFile
from pytest_ampdb.migrations.errors import MigrationError, StatementError, UsageError
from pytest_ampdb.migrations.executor import PathLike, load_dir
from pytest_ampdb.migrations.goformat import go_duration
from pytest_ampdb.migrations.splitter import Statement, split_statements
from pytest_ampdb.paths import migrations_dir

ATLAS_DOCS = "https://atlasgo.io/lint/analyzers#"


@dataclass
class Report:
    """One analyzer's findings in one file."""

    analyzer: Analyzer
    diagnostics: list[Diagnostic]


@dataclass
class FileReport:
    """A file of the change: its findings, or the error that stopped its replay."""

    file: MigrationFile
    reports: list[Report] = field(default_factory=list)
    error: str = ""
    changes: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        """An error-level finding or a replay error."""
        return bool(self.error) or any(r.analyzer.error for r in self.reports)

    def line(self, pos: int) -> int:
        """The 1-based line of a character offset."""
        return self.file.text.count("\n", 0, pos) + 1


@dataclass
class LintReport:
    """The whole lint: the base's last version, the files analysed, the time taken."""

    base_version: str
    target_version: str  # the change's last file
    files: list[FileReport]
    total_files: int
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        """Whether the lint must exit non-zero."""
        return any(f.failed for f in self.files)

    def render(self) -> str:
        """The report as Atlas prints it (without colours)."""
        return render(self)


def select_change(
    files: Sequence[MigrationFile], *, latest: int = 0, git_base: str = "", git_dir: Path
) -> tuple[list[MigrationFile], list[MigrationFile]]:
    """Split ``files`` into (base, change) by ``--latest N`` or ``--git-base BRANCH``."""
    if latest < 0:
        raise UsageError(f"--latest {latest}: expected a number of migration files above 0")
    if not latest and not git_base:
        raise UsageError("--latest or --git-base is required")
    if latest and git_base:
        raise UsageError("--latest and --git-base are mutually exclusive")
    if latest:
        if latest >= len(files):
            return [], list(files)
        return list(files[:-latest]), list(files[-latest:])
    added = _git_added(git_base, git_dir)
    for i, f in enumerate(files):
        if f.name in added:
            return list(files[:i]), list(files[i:])
    return list(files), []


def _git_added(base: str, work: Path) -> set[str]:
    """Names of the files added between ``base`` and HEAD under ``work``, as Atlas asks git."""
    git = shutil.which("git")
    if git is None:
        raise MigrationError('lookup git: exec: "git": executable file not found in $PATH')
    done = subprocess.run(
        [git, "-C", str(work), "--no-pager", "diff", "--name-only", "--diff-filter=A", base,
         "HEAD", "--", "."],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[0]
        raise MigrationError(f"git diff: {reason}")
    return {Path(line).name for line in done.stdout.splitlines() if line}


def lint(
    directory: PathLike | None = None,
    *,
    dev_url: str | None = None,
    latest: int = 0,
    git_base: str = "",
    note: Note | None = None,
    answer_timeout: float | None = None,
) -> LintReport:
    """Lint the change of ``directory`` on ``dev_url`` (else a throwaway local cluster)."""
    path = Path(directory) if directory is not None else migrations_dir()
    files = load_dir(path, sum_required=False)  # as Atlas: lint needs no atlas.sum
    base, change = select_change(files, latest=latest, git_base=git_base, git_dir=path)
    started = time.monotonic()
    report = LintReport(
        base[-1].version if base else "", change[-1].version if change else "", [], len(change)
    )
    if change:
        created: Created = (set(), set())
        with dev_database(dev_url, note, answer_timeout=answer_timeout) as dev:
            dev.advance(base)
            for i, f in enumerate(change):
                analysis = Analysis(dev.conn, f, created)
                try:
                    dev.advance(files[: len(base) + i + 1], runner=analysis)
                except StatementError as exc:  # Atlas's wording: the statement, then the server's
                    if no_answer(exc) is not None:  # the server's fault, not the file's
                        raise
                    failed = FileReport(f, error=f"executing statement: {exc.stmt}: {exc.pg_error}")
                    # Atlas replays the whole change before analysing it: a file that fails
                    # there is the report's only entry.
                    report.files = [failed]
                    break
                fr = analysis.done()
                if fr is not None:
                    report.files.append(fr)
    report.seconds = time.monotonic() - started
    return report


Created = tuple[set[int], set[int]]
"""Tables and schemas (OIDs) the change created so far: they hold no rows when it deploys."""


class Analysis:
    """The runner of one change file (:data:`executor.Runner`): each statement runs as
    ``migrate apply`` runs it (one PostgreSQL refuses inside the file's transaction runs in its
    transactional form, and AMP201 reports it), then the catalogs before and after it go
    through every analyzer."""

    def __init__(self, conn: Connection, f: MigrationFile, created: Created) -> None:
        self.started = time.monotonic()
        self.report = FileReport(f)
        self.created = created
        self.file_rules = [d.split(" ") if d else [""] for d in f.directives("nolint")]
        self.statements = split_statements(f.text)
        self.txmode_file = f.txmode() != TX_NONE
        self.found: dict[str, list[Diagnostic]] = {}
        self.before: Snapshot = snapshot(conn)

    def __call__(self, cur: psycopg.Cursor[Any], f: MigrationFile, index: int) -> None:
        run_where_it_can(cur, f, index)
        stmt = self.statements[index]
        after = snapshot(cur.connection)
        change = diff(self.before, after)
        self.report.changes += change.count
        ctx = Context(stmt.text, stmt.pos, change, self.txmode_file, *self.created)
        rules = [rule for rules in self.file_rules for rule in rules] + _statement_rules(stmt)
        for az in ANALYZERS:
            kept = [d for d in az.check(ctx) if not _silenced(rules, az, d)]
            self.found.setdefault(az.name, []).extend(kept)
        self.created[0].update(change.added_tables)
        self.created[1].update(change.added_schemas)
        self.before = after

    def done(self) -> FileReport | None:
        """The file's report; None if a bare ``atlas:nolint`` header skips the file."""
        self.report.seconds = time.monotonic() - self.started
        if [""] in self.file_rules:
            return None
        found = self.found
        self.report.reports = [Report(az, found[az.name]) for az in ANALYZERS if found.get(az.name)]
        return self.report


def _statement_rules(stmt: Statement) -> list[str]:
    """The codes/names of every ``atlas:nolint`` comment above the statement ("" = all)."""
    rules: list[str] = []
    for comment in stmt.comments:
        text = comment.strip()
        if text.startswith("/*") and "\n" not in text:
            candidates = [(text.removesuffix("*/"), "/*")]
        else:
            candidates = [(text, p) for p in ("#", "--", "-- ")]
        for content, prefix in candidates:
            value = directive(content, "nolint", prefix)
            if value is not None:
                rules += value.strip().split(" ") if value.strip() else [""]
    return rules


def _silenced(rules: list[str], az: Analyzer, d: Diagnostic) -> bool:
    return "" in rules or d.code in rules or az.name in rules


# -- report -------------------------------------------------------------------------------------


def render(report: LintReport) -> str:
    """Atlas's lint report (its ``DefaultTemplate``), without colours."""
    if not report.files:
        return ""
    total = report.total_files
    if report.base_version:
        head = f"Analyzing changes from version {report.base_version} to {report.target_version}"
    else:
        head = f"Analyzing changes until version {report.target_version}"
    out = [f"{head} ({total} migration{'' if total == 1 else 's'} in total):", ""]
    for fr in report.files:
        if fr.error:  # a replay error: the last entry, without a heading
            out += [f"  Error: {fr.error}", ""]
            break
        out.append(f"  -- analyzing version {fr.file.version}")
        fixes: dict[str, None] = {}  # each suggestion once, in order
        for r in fr.reports:
            out.append(f"    -- {r.analyzer.heading}:")
            for d in r.diagnostics:
                prefix = f"      -- L{fr.line(d.pos)}: "
                out += _wrapped(prefix, f"{d.text} {_link(d.code)}", 85 - len(prefix))
                if d.fix:
                    fixes[d.fix] = None
        if not fr.reports:
            out.append("    -- no diagnostics found")
        if fixes:
            out.append(f"    -- suggested fix{'es' if len(fixes) > 1 else ''}:")
            for fix in fixes:
                out += _wrapped("      -> ", fix, 85 - 9)
        out += [f"  -- ok ({go_duration(fr.seconds)})", ""]
    out += ["  -------------------------", f"  -- {go_duration(report.seconds)}"]
    out.append(f"  -- {_statuses(report.files)}")
    changes = sum(f.changes for f in report.files)
    if changes:
        out.append(f"  -- {changes} schema change{'' if changes == 1 else 's'}")
    count = sum(len(r.diagnostics) for f in report.files for r in f.reports)
    if count:
        out.append(f"  -- {count} diagnostic{'' if count == 1 else 's'}")
    return "\n".join(out) + "\n"


def _link(code: str) -> str:
    """Atlas's documentation link for its own codes; ours name the code (see the README)."""
    if code.startswith(("DS", "BC", "MF", "CD")):
        return ATLAS_DOCS + code
    return f"({code})"


def _wrapped(prefix: str, text: str, width: int) -> list[str]:
    """Atlas's ``maxWidth``: words packed into lines of ``width`` letters (spaces not counted),
    the first after ``prefix``, the others indented by nine spaces."""
    words = text.split()
    lines: list[str] = []
    start = letters = 0
    for i, word in enumerate(words):
        if letters + len(word) > width:
            lines.append(" ".join(words[start:i]))
            start, letters = i, 0
        letters += len(word)
    lines.append(" ".join(words[start:]))
    return [prefix + lines[0], *("         " + line for line in lines[1:])]


def _statuses(files: Sequence[FileReport]) -> str:
    """``1 version ok, 2 with warnings, 1 with errors`` as Atlas counts them."""
    ok = sum(1 for f in files if not f.failed and not f.reports)
    errors = sum(1 for f in files if f.failed)
    warnings = len(files) - ok - errors
    parts: list[str] = []
    for n, what in ((ok, "ok"), (warnings, "with warnings"), (errors, "with errors")):
        if n == 0:
            continue
        if not parts:
            parts.append(f"{n} version{'' if n == 1 else 's'} {what}")
        else:
            parts.append(f"{n} {what}")
    return ", ".join(parts)
