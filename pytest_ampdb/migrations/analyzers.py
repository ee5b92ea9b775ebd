"""The checks of ``migrate lint``: each turns one statement's catalog change into diagnostics.

Atlas's own analyzers keep Atlas's names, codes and report order (``destructive`` DS1xx,
``data_depend`` MF1xx, ``condrop`` CD101, ``incompatible`` BC1xx), so ``-- atlas:nolint DS102``
written for Atlas works here too.
PostgreSQL-specific ones are ours: ``locking`` (AMP1xx) and ``non_transactional`` (AMP201).
A change to a table the linted change itself created is not reported: it holds no rows when the
change deploys (Atlas draws this line per file; here it is the whole change, so a table created
in one file of a change and indexed in the next is not flagged).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pytest_ampdb.migrations.catalog import Change
from pytest_ampdb.migrations.devdb import non_transactional
from pytest_ampdb.migrations.errors import go_quote


@dataclass(frozen=True)
class Diagnostic:
    """One finding on one statement."""

    code: str
    text: str
    pos: int  # character offset of the statement in its file
    fix: str = ""


@dataclass
class Context:
    """What an analyzer sees for one statement."""

    stmt: str
    pos: int
    change: Change
    txmode_file: bool  # the file runs in one transaction
    created_tables: set[int] = field(default_factory=set)  # earlier in the change
    created_schemas: set[int] = field(default_factory=set)

    def existing(self, table: int) -> bool:
        """Whether ``table`` existed before the change (so it may hold rows)."""
        return table not in self.created_tables and table not in self.change.added_tables

    def diag(self, code: str, text: str, fix: str = "") -> Diagnostic:
        """A diagnostic on this statement."""
        return Diagnostic(code, text, self.pos, fix)


@dataclass(frozen=True)
class Analyzer:
    """A named check: its report heading, whether a finding fails the lint, and the rule."""

    name: str
    heading: str
    error: bool
    check: Callable[[Context], list[Diagnostic]]


def _q(name: str) -> str:
    return go_quote(name)


def _and(names: list[str]) -> str:
    quoted = [_q(n) for n in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"


def destructive(ctx: Context) -> list[Diagnostic]:
    """DS101-DS103: dropping a schema, a table or columns loses data."""
    out: list[Diagnostic] = []
    ch = ctx.change
    for oid, name, tables in ch.dropped_schemas:
        if oid in ctx.created_schemas or oid in ctx.change.added_schemas:
            continue
        text = f"Dropping schema {_q(name)}"
        if tables:
            text = f"Dropping non-empty schema {_q(name)} with {tables} table" + (
                "s" if tables > 1 else ""
            )
        out.append(ctx.diag("DS101", text))
    for oid, name in ch.dropped_tables:
        if ctx.existing(oid):
            fix = (
                f"Add a pre-migration check to ensure table {_q(name)} is empty before dropping it"
            )
            out.append(ctx.diag("DS102", f"Dropping table {_q(name)}", fix))
    by_table: dict[int, list[str]] = {}
    for table, col in ch.dropped_columns:
        if ctx.existing(table) and not col.implicit:
            by_table.setdefault(table, []).append(col.name)
    for names in by_table.values():
        one = len(names) == 1
        text = f"Dropping non-virtual column{'' if one else 's'} {_and(names)}"
        fix = (
            f"Add a pre-migration check to ensure column {_and(names)} is NULL before dropping it"
            if one
            else f"Add pre-migration checks to ensure columns {_and(names)} are NULL before "
            "dropping them"
        )
        out.append(ctx.diag("DS103", text, fix))
    return out


def incompatible(ctx: Context) -> list[Diagnostic]:
    """BC101-BC102: renaming a table or a column breaks the code that still uses the old name."""
    out = [
        ctx.diag("BC101", f"Renaming table {_q(old)} to {_q(new)}")
        for oid, old, new in ctx.change.renamed_tables
        if ctx.existing(oid)
    ]
    out += [
        ctx.diag("BC102", f"Renaming column {_q(old)} to {_q(new)}")
        for table, old, new in ctx.change.renamed_columns
        if ctx.existing(table)
    ]
    return out


def data_depend(ctx: Context) -> list[Diagnostic]:
    """MF101, MF103, MF104: changes that fail on some existing rows (duplicates, NULLs)."""
    out: list[Diagnostic] = []
    ch = ctx.change
    for idx in ch.added_indexes:
        if idx.unique and ctx.existing(idx.table):
            cols = list(idx.columns)
            what = (
                f"column {_q(cols[0])} contains"
                if len(cols) == 1
                else (f"columns {', '.join(_q(c) for c in cols)} contain")
            )
            out.append(
                ctx.diag(
                    "MF101",
                    f"Adding a unique index {_q(idx.name)} on table {_q(ch.table_name(idx.table))} "
                    f"might fail in case {what} duplicate entries",
                )
            )
    for table, col in ch.added_columns:
        if ctx.existing(table) and col.not_null and not col.has_default and not col.implicit:
            out.append(
                ctx.diag(
                    "MF103",
                    f"Adding a non-nullable {_q(col.type)} column {_q(col.name)} will fail in case "
                    f"table {_q(ch.table_name(table))} is not empty",
                )
            )
    for table, col in ch.now_not_null:
        if ctx.existing(table):
            out.append(
                ctx.diag(
                    "MF104",
                    f"Modifying nullable column {_q(col.name)} to non-nullable might fail in case "
                    "it contains NULL values",
                )
            )
    return out


def condrop(ctx: Context) -> list[Diagnostic]:
    """CD101: dropping a foreign key (its columns kept) lets rows break the relation."""
    return [
        ctx.diag("CD101", f"Dropping foreign-key constraint {_q(fk.name)}")
        for fk in ctx.change.dropped_foreign_keys
        if ctx.existing(fk.table)
    ]


def locking(ctx: Context) -> list[Diagnostic]:
    """AMP101-AMP103: statements that block writes to an existing table on PostgreSQL 15."""
    out: list[Diagnostic] = []
    ch = ctx.change
    concurrent = non_transactional(ctx.stmt) in (
        "CREATE INDEX CONCURRENTLY",
        "CREATE UNIQUE INDEX CONCURRENTLY",
    )
    for idx in ch.added_indexes:
        if ctx.existing(idx.table) and not concurrent:
            out.append(
                ctx.diag(
                    "AMP101",
                    f"Creating index {_q(idx.name)} on table {_q(ch.table_name(idx.table))} "
                    "without CONCURRENTLY blocks writes to the table until the index is built",
                    "Create the index with CREATE INDEX CONCURRENTLY in a file with the "
                    "'-- atlas:txmode none' directive (for a constraint, add it afterwards "
                    "with USING INDEX)",
                )
            )
    rewritten = {t for t in ch.rewritten if ctx.existing(t)}
    retyped = set()
    for table, old, new in ch.retyped_columns:
        if table in rewritten:
            retyped.add(table)
            out.append(
                ctx.diag(
                    "AMP102",
                    f"Changing the type of column {_q(new.name)} from {_q(old.type)} to "
                    f"{_q(new.type)} rewrites table {_q(ch.table_name(table))} under an ACCESS "
                    "EXCLUSIVE lock",
                    "Add a column of the new type, fill it in batches, then swap the columns",
                )
            )
    for table, col in ch.added_columns:
        if table in rewritten and table not in retyped and col.has_default:
            out.append(
                ctx.diag(
                    "AMP103",
                    f"Adding column {_q(col.name)} with a volatile default rewrites table "
                    f"{_q(ch.table_name(table))} under an ACCESS EXCLUSIVE lock",
                    "Add the column without a default, then set the default and fill the "
                    "existing rows in batches",
                )
            )
    return out


def transaction_block(ctx: Context) -> list[Diagnostic]:
    """AMP201: a statement PostgreSQL refuses in a transaction, in a file that runs in one."""
    words = non_transactional(ctx.stmt)
    if words is None or not ctx.txmode_file:
        return []
    return [
        ctx.diag(
            "AMP201",
            f"Statement {_q(words)} cannot run inside a transaction block, and this file runs "
            "in one (txmode file)",
            "Add the '-- atlas:txmode none' directive, followed by a blank line, at the top "
            "of the file",
        )
    ]


ANALYZERS: tuple[Analyzer, ...] = (  # Atlas's PostgreSQL order (postgrescheck), then ours
    Analyzer("destructive", "destructive changes detected", True, destructive),
    Analyzer("data_depend", "data dependent changes detected", False, data_depend),
    Analyzer("condrop", "constraint deletion detected", False, condrop),
    Analyzer("incompatible", "backward incompatible changes detected", False, incompatible),
    Analyzer("locking", "table locking changes detected", False, locking),
    Analyzer("non_transactional", "non-transactional statements detected", True, transaction_block),
)
"""Every analyzer, in report order."""
