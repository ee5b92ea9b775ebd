"""``migrate diff``: the statements that take the schema a directory builds to the declared one.

Both schemas are built on the dev database (the directory replayed by ``devdb``, the
declarations by ``desired`` beside it, in a rolled-back transaction) and read by
``catalog.read_schema``, so they are compared in PostgreSQL's own spelling. The plan orders its
steps so every statement is valid where it stands: functions, drops (references first), new
tables parents first, changed tables, references, indexes, triggers. Steps that lose data (a
dropped table or column, a type change that is not a known widening) carry a comment and are
reported as warnings.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_ampdb.migrations import desired, devdb, snapshot
from pytest_ampdb.migrations.catalog import (
    ColumnDef,
    Schema,
    TableDef,
    first_difference,
    read_schema,
)
from pytest_ampdb.migrations.connection import Connection
from pytest_ampdb.migrations.directory import new_file, validate_dir
from pytest_ampdb.migrations.errors import MigrationError
from pytest_ampdb.migrations.executor import load_dir
from pytest_ampdb.models.schema import TableSpec

SYNCED = "The migration directory is synced with the desired state, no changes to be made"
"""What Atlas prints when ``migrate diff`` finds nothing to do (and writes nothing)."""

ident = desired.ident


@dataclass(frozen=True)
class Step:
    """One statement of the new file, the Atlas-style comment above it and, when it loses
    data, why."""

    comment: str
    sql: str
    destructive: str | None = None

    def render(self) -> str:
        lines = [f"-- {self.comment}"]
        if self.destructive:
            lines.append(f"-- DESTRUCTIVE: {self.destructive}")
        return "\n".join([*lines, self.sql + ";"])


@dataclass(frozen=True)
class DiffResult:
    """The steps found, the file written (None when nothing differs), and whether the schema
    snapshot (``ampdb.schema.json``) was written."""

    steps: tuple[Step, ...]
    path: Path | None
    snapshot: bool = False

    @property
    def warnings(self) -> list[str]:
        return [s.destructive for s in self.steps if s.destructive]


DECLARED_SCHEMA = "ampdb_declared"
"""The scratch schema the declarations are built in (inside a rolled-back savepoint)."""


def declared_statements(tables: Mapping[str, TableSpec[Any]]) -> list[str]:
    """The statements that build the declared schema from nothing."""
    return [step.sql for step in plan(Schema({}, {}), desired.declared_schema(tables))]


def built_schema(conn: Connection, tables: Mapping[str, TableSpec[Any]]) -> Schema:
    """The declared schema as PostgreSQL spells it: built in a scratch schema on ``conn``
    (in a savepoint, rolled back), so it works beside a migrated schema too."""
    with conn.transaction(force_rollback=True):
        conn.execute(f"CREATE SCHEMA {DECLARED_SCHEMA}")
        conn.execute(f"SET LOCAL search_path TO {DECLARED_SCHEMA}")
        for stmt in declared_statements(tables):
            conn.execute(stmt.encode("utf-8"), prepare=False)
        return read_schema(conn)


def check_database(conn: Connection, tables: Mapping[str, TableSpec[Any]]) -> str | None:
    """How the migrated database behind ``conn`` differs from the declarations (table and
    column or object named), or None; nothing is left behind."""
    have = read_schema(conn)
    difference = first_difference(built_schema(conn, tables), have, "the migrations")
    conn.rollback()
    return difference


def migrate_diff(
    directory: Path,
    name: str,
    tables: Mapping[str, TableSpec[Any]],
    *,
    dev_url: str | None = None,
    now: dt.datetime | None = None,
    note: devdb.Note | None = None,
    answer_timeout: float | None = None,
) -> DiffResult:
    """Write ``<timestamp>_<name>.sql`` taking ``directory``'s schema to ``tables`` and
    re-hash atlas.sum; write nothing when they already agree. The schema snapshot beside the
    files is (re)written whenever it does not describe the directory and declarations."""
    validate_dir(directory)
    with devdb.dev_database(dev_url, note, answer_timeout=answer_timeout) as dev:
        dev.advance(load_dir(directory))
        have = read_schema(dev.conn)
        want = built_schema(dev.conn, tables)
        steps = tuple(plan(have, want))
        path = None
        if steps:
            content = "\n".join(step.render() for step in steps) + "\n"
            stamp = _after_last(directory, now or dt.datetime.now(dt.UTC))
            path = new_file(directory, name, now=stamp, content=content)
            dev.advance(load_dir(directory))  # the new file alone
            have = read_schema(dev.conn)
            left = first_difference(want, have, "the new migration")
            if left:  # the plan missed something: say so rather than write a wrong snapshot
                raise MigrationError(f"{path.name} does not reach the declared schema: {left}")
    written = snapshot.refresh(directory, desired.declared_schema(tables), have)
    return DiffResult(steps, path, written)


def _after_last(directory: Path, now: dt.datetime) -> dt.datetime:
    """``now``, or one second after the newest file's version if that is not earlier (two
    diffs within a second, a clock behind the history): the new file must come last."""
    versions = [f.version for f in load_dir(directory)]
    try:
        last = max(dt.datetime.strptime(v, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC) for v in versions)
    except ValueError:  # no files, or a version that is not a timestamp
        return now
    return max(now, last + dt.timedelta(seconds=1))


# -- the plan ---------------------------------------------------------------------------------


def plan(have: Schema, want: Schema) -> list[Step]:
    """The steps that take ``have`` to ``want``, in an order PostgreSQL accepts."""
    kept = [t for t in want.tables if t in have.tables]
    gone = [t for t in have.tables if t not in want.tables]
    steps: list[Step] = []
    for sig, definition in want.functions.items():
        if have.functions.get(sig) != definition:
            steps.append(Step(f'Create "{_fname(sig)}" function', definition))
    steps += [
        Step(f'Drop trigger "{n}" of table: "{t}"', f"DROP TRIGGER {ident(n)} ON {ident(t)}")
        for t, n, _ in _changed(want, have, "triggers", kept)
    ]
    steps += _alter(have, want, kept, "Drop references of", _dropped_constraints, "f")
    steps += _drop_tables(have, gone)
    steps += _alter(have, want, kept, "Drop keys and checks of", _dropped_constraints, "p", "u")
    steps += [
        Step(f'Drop index "{n}" from table: "{t}"', f"DROP INDEX {ident(n)}")
        for t, n, _ in _changed(want, have, "indexes", kept)
    ]
    steps += _alter(have, want, kept, "Modify", _changed_columns)
    created, deferred = _create_tables(have, want)
    steps += created
    steps += _alter(have, want, kept, "Add keys and checks to", _added_constraints, "p", "u")
    for t, names in [*((t, None) for t in kept), *deferred.items()]:
        old_constraints = have.tables[t].constraints if t in have.tables else {}
        adds = [
            _add_constraint(n, c.definition)
            for n, c in want.tables[t].constraints.items()
            if c.kind == "f"
            and (names is None or n in names)
            and (names is not None or old_constraints.get(n) != c)
        ]
        if adds:
            steps.append(
                Step(f'Add references to "{t}" table', f"ALTER TABLE {ident(t)} {', '.join(adds)}")
            )
    steps += [
        Step(f'Create index "{n}" to table: "{t}"', d)
        for t, n, d in _changed(have, want, "indexes", list(want.tables))
    ]
    steps += [
        Step(f'Create trigger "{n}" on table: "{t}"', d)
        for t, n, d in _changed(have, want, "triggers", list(want.tables))
    ]
    steps += [
        Step(f'Drop "{_fname(sig)}" function', f"DROP FUNCTION {ident(_fname(sig))}({_fargs(sig)})")
        for sig in have.functions
        if sig not in want.functions
    ]
    return steps


def _changed(src: Schema, dst: Schema, kind: str, tables: list[str]) -> list[tuple[str, str, str]]:
    """(table, name, definition) of each index or trigger (``kind``) of ``dst``'s ``tables``
    that ``src`` lacks or spells differently."""
    out = []
    for t in tables:
        before: dict[str, str] = getattr(src.tables[t], kind) if t in src.tables else {}
        after: dict[str, str] = getattr(dst.tables[t], kind)
        out += [(t, n, d) for n, d in after.items() if before.get(n) != d]
    return out


def _alter(
    have: Schema, want: Schema, kept: list[str], verb: str, clauses: Any, *kinds: str
) -> list[Step]:
    """One ``ALTER TABLE`` per kept table whose ``clauses`` are not empty."""
    steps = []
    for t in kept:
        found: list[tuple[str, str | None]] = clauses(have.tables[t], want.tables[t], kinds)
        if found:
            sql = f"ALTER TABLE {ident(t)} " + ", ".join(c for c, _ in found)
            reasons = [r for _, r in found if r]
            steps.append(Step(f'{verb} "{t}" table', sql, "; ".join(reasons) or None))
    return steps


def _dropped_constraints(
    old: TableDef, new: TableDef, kinds: tuple[str, ...]
) -> list[tuple[str, str | None]]:
    """Constraints of ``kinds`` (or, with ``("p", "u")``, every non-reference kind) that are
    gone or changed."""
    return [
        (f"DROP CONSTRAINT {ident(n)}", None)
        for n, c in old.constraints.items()
        if _of_kind(c.kind, kinds) and new.constraints.get(n) != c
    ]


def _added_constraints(
    old: TableDef, new: TableDef, kinds: tuple[str, ...]
) -> list[tuple[str, str | None]]:
    return [
        (_add_constraint(n, c.definition), None)
        for n, c in new.constraints.items()
        if _of_kind(c.kind, kinds) and old.constraints.get(n) != c
    ]


def _of_kind(kind: str, kinds: tuple[str, ...]) -> bool:
    return kind in kinds if kinds == ("f",) else kind != "f"


def _add_constraint(name: str, definition: str) -> str:
    return f"ADD CONSTRAINT {ident(name)} {definition}"


def _changed_columns(
    old: TableDef, new: TableDef, _kinds: tuple[str, ...]
) -> list[tuple[str, str | None]]:
    """Dropped, added and altered columns of one table, with the data-loss reason if any."""
    out: list[tuple[str, str | None]] = []
    before, after = old.column_map, new.column_map
    for name in before:
        if name not in after:
            out.append(
                (f"DROP COLUMN {ident(name)}", f'drops column "{old.name}"."{name}" and its data')
            )
    for column in new.columns:
        was = before.get(column.name)
        if was is None:
            out.append((f"ADD COLUMN {_column(column)}", None))
            continue
        col = ident(column.name)
        if (was.type, was.collation) != (column.type, column.collation):
            collate = f" COLLATE {ident(column.collation)}" if column.collation else ""
            reason = None
            if not _widens(was.type, column.type):
                reason = (
                    f'changes the type of "{old.name}"."{column.name}" from {was.type} to '
                    f"{column.type} (values may not fit)"
                )
            using = f" USING {col}::{column.type}" if reason else ""
            out.append((f"ALTER COLUMN {col} TYPE {column.type}{collate}{using}", reason))
        if was.not_null != column.not_null:
            verb = "SET" if column.not_null else "DROP"
            out.append((f"ALTER COLUMN {col} {verb} NOT NULL", None))
        if was.default != column.default:
            change = f"SET DEFAULT {column.default}" if column.default else "DROP DEFAULT"
            out.append((f"ALTER COLUMN {col} {change}", None))
    return out


_WIDENINGS = {
    ("smallint", "integer"),
    ("smallint", "bigint"),
    ("integer", "bigint"),
    ("real", "double precision"),
    ("character varying", "text"),
}
_VARCHAR = re.compile(r"character varying(?:\((\d+)\))?$")


def _widens(old: str, new: str) -> bool:
    """True when every value of type ``old`` fits ``new`` unchanged."""
    if (_VARCHAR.sub("character varying", old), new) in _WIDENINGS:
        return True
    a, b = _VARCHAR.match(old), _VARCHAR.match(new)
    if a and b:
        return b.group(1) is None or (a.group(1) is not None and int(a.group(1)) <= int(b.group(1)))
    return False


def _column(column: ColumnDef) -> str:
    text = f"{ident(column.name)} {column.type}"
    if column.collation:
        text += f" COLLATE {ident(column.collation)}"
    text += " NOT NULL" if column.not_null else " NULL"
    if column.default is not None:
        text += f" DEFAULT {column.default}"
    return text


def _drop_tables(have: Schema, gone: list[str]) -> list[Step]:
    """``DROP TABLE`` for each table no longer declared, referencing tables first."""
    steps, left = [], list(gone)
    while left:
        referenced = {
            c.references
            for t in left
            for c in have.tables[t].constraints.values()
            if c.references and c.references != t
        }
        name = next((t for t in left if t not in referenced), left[0])
        left.remove(name)
        reason = f'drops table "{name}" and all its rows'
        steps.append(Step(f'Drop "{name}" table', f"DROP TABLE {ident(name)}", reason))
    return steps


def _create_tables(have: Schema, want: Schema) -> tuple[list[Step], dict[str, set[str]]]:
    """``CREATE TABLE`` for each new table, parents first; a reference is written inside its
    table when the parent was created before it in this file, else added afterwards (returned
    by table)."""
    steps: list[Step] = []
    deferred: dict[str, set[str]] = {}
    created: set[str] = set()
    left = [t for t in want.tables if t not in have.tables]
    while left:
        ready = [t for t in left if _parents(want.tables[t]) <= created | {t} | set(have.tables)]
        name = ready[0] if ready else left[0]
        table = want.tables[name]
        left.remove(name)
        parts = [_column(c) for c in table.columns]
        for n, c in table.constraints.items():
            if c.kind == "f" and c.references not in created | {name}:
                deferred.setdefault(name, set()).add(n)
            else:
                parts.append(f"CONSTRAINT {ident(n)} {c.definition}")
        body = ",\n  ".join(parts)
        steps.append(Step(f'Create "{name}" table', f"CREATE TABLE {ident(name)} (\n  {body}\n)"))
        created.add(name)
    return steps, deferred


def _parents(table: TableDef) -> set[str]:
    return {c.references for c in table.constraints.values() if c.references}


def _fname(sig: str) -> str:
    return sig.split("(", 1)[0]


def _fargs(sig: str) -> str:
    return sig.split("(", 1)[1].rstrip(")")
