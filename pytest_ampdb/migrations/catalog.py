"""What one statement changed in the schema, read from PostgreSQL's own catalogs.

``migrate lint`` runs each statement of a change on the dev database and compares the catalogs
before and after it, instead of parsing SQL: objects are matched by OID, so a rename is told
from a drop and re-create, and a new ``relfilenode`` shows that PostgreSQL rewrote a table.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from pytest_ampdb.migrations.connection import Connection
from pytest_ampdb.migrations.revisions import DEFAULT_SCHEMA

_USER_SCHEMAS = """
n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', %(revisions)s)
AND n.nspname NOT LIKE 'pg\\_temp\\_%%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%%'
"""
_SCHEMAS = "SELECT n.oid, n.nspname FROM pg_namespace n WHERE" + _USER_SCHEMAS
_TABLES = (
    "SELECT c.oid, n.oid, c.relname, c.relfilenode FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND"
    + _USER_SCHEMAS
)
_COLUMNS = (
    "SELECT a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), "
    "a.attnotnull, a.atthasdef, a.attidentity <> '' OR a.attgenerated <> '' "
    "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped AND" + _USER_SCHEMAS
)
_INDEXES = (
    "SELECT i.indexrelid, i.indrelid, ic.relname, i.indisunique AND NOT i.indisprimary, "
    "ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord) "
    "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.ord) "
    "FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
    "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE"
    + _USER_SCHEMAS
)
_FOREIGN_KEYS = (
    "SELECT k.oid, k.conrelid, k.conname, "
    "ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY x(attnum, ord) "
    "JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = x.attnum ORDER BY x.ord) "
    "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE k.contype = 'f' AND" + _USER_SCHEMAS
)


@dataclass(frozen=True)
class Table:
    """A table: its schema's OID, its name, and the file its rows live in."""

    schema: int
    name: str
    filenode: int


@dataclass(frozen=True)
class Column:
    """A column of a table, keyed by (table OID, attnum)."""

    name: str
    type: str
    not_null: bool
    has_default: bool
    implicit: bool  # identity or generated: filled without a default


@dataclass(frozen=True)
class Index:
    """An index of a table; ``unique`` excludes primary keys."""

    table: int
    name: str
    unique: bool
    columns: tuple[str, ...]


@dataclass(frozen=True)
class ForeignKey:
    """A foreign-key constraint of a table, on its columns."""

    table: int
    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Snapshot:
    """The user schemas, tables, columns, indexes and foreign keys of the database at one
    moment."""

    schemas: dict[int, str]
    tables: dict[int, Table]
    columns: dict[tuple[int, int], Column]
    indexes: dict[int, Index]
    foreign_keys: dict[int, ForeignKey]


def snapshot(conn: Connection, revisions_schema: str = DEFAULT_SCHEMA) -> Snapshot:
    """Read the catalogs (inside the caller's transaction, so its own changes are seen)."""
    params = {"revisions": revisions_schema}
    q = conn.execute
    return Snapshot(
        schemas={int(o): str(n) for o, n in q(_SCHEMAS, params).fetchall()},
        tables={
            int(o): Table(int(s), str(n), int(f)) for o, s, n, f in q(_TABLES, params).fetchall()
        },
        columns={
            (int(r), int(a)): Column(str(n), str(t), bool(nn), bool(d), bool(imp))
            for r, a, n, t, nn, d, imp in q(_COLUMNS, params).fetchall()
        },
        indexes={
            int(o): Index(int(t), str(n), bool(u), tuple(str(c) for c in cols))
            for o, t, n, u, cols in q(_INDEXES, params).fetchall()
        },
        foreign_keys={
            int(o): ForeignKey(int(t), str(n), tuple(str(c) for c in cols))
            for o, t, n, cols in q(_FOREIGN_KEYS, params).fetchall()
        },
    )


@dataclass
class Change:
    """Everything one statement changed, by kind (names as they were where it matters)."""

    added_schemas: list[int] = field(default_factory=list)
    dropped_schemas: list[tuple[int, str, int]] = field(default_factory=list)  # +tables in it
    added_tables: list[int] = field(default_factory=list)
    dropped_tables: list[tuple[int, str]] = field(default_factory=list)
    renamed_tables: list[tuple[int, str, str]] = field(default_factory=list)
    dropped_columns: list[tuple[int, Column]] = field(default_factory=list)
    renamed_columns: list[tuple[int, str, str]] = field(default_factory=list)
    added_columns: list[tuple[int, Column]] = field(default_factory=list)
    retyped_columns: list[tuple[int, Column, Column]] = field(default_factory=list)
    now_not_null: list[tuple[int, Column]] = field(default_factory=list)
    added_indexes: list[Index] = field(default_factory=list)
    dropped_foreign_keys: list[ForeignKey] = field(default_factory=list)  # columns kept
    rewritten: list[int] = field(default_factory=list)  # tables given a new relfilenode
    after: Snapshot | None = None

    def table_name(self, oid: int) -> str:
        """A table's name after the statement."""
        assert self.after is not None
        return self.after.tables[oid].name

    @property
    def count(self) -> int:
        """Schema changes in Atlas's sense: each schema or table the statement touched."""
        tables = {
            *self.added_tables,
            *(t for t, *_ in self.renamed_tables),
            *(t for t, *_ in self.dropped_columns),
            *(t for t, *_ in self.renamed_columns),
            *(t for t, *_ in self.added_columns),
            *(t for t, *_ in self.retyped_columns),
            *(t for t, *_ in self.now_not_null),
            *(i.table for i in self.added_indexes),
            *(k.table for k in self.dropped_foreign_keys),
        }
        return (
            len(self.added_schemas)
            + len(self.dropped_schemas)
            + len(self.dropped_tables)
            + len(tables)
        )


def diff(before: Snapshot, after: Snapshot) -> Change:
    """What changed from ``before`` to ``after``."""
    ch = Change(after=after)
    ch.added_schemas = [o for o in after.schemas if o not in before.schemas]
    gone_schemas = {o for o in before.schemas if o not in after.schemas}
    ch.dropped_schemas = [
        (o, before.schemas[o], sum(1 for t in before.tables.values() if t.schema == o))
        for o in gone_schemas
    ]
    ch.added_tables = [o for o in after.tables if o not in before.tables]
    for oid, old in before.tables.items():
        new = after.tables.get(oid)
        if new is None:
            if old.schema not in gone_schemas:
                ch.dropped_tables.append((oid, old.name))
            continue
        if new.name != old.name:
            ch.renamed_tables.append((oid, old.name, new.name))
        if new.filenode != old.filenode:
            ch.rewritten.append(oid)
    for key, old_col in before.columns.items():
        table = key[0]
        if table not in after.tables:
            continue
        new_col = after.columns.get(key)
        if new_col is None:
            ch.dropped_columns.append((table, old_col))
            continue
        if new_col.name != old_col.name:
            ch.renamed_columns.append((table, old_col.name, new_col.name))
        if new_col.type != old_col.type:
            ch.retyped_columns.append((table, old_col, new_col))
        if new_col.not_null and not old_col.not_null:
            ch.now_not_null.append((table, new_col))
    ch.added_columns = [
        (key[0], col)
        for key, col in after.columns.items()
        if key not in before.columns and key[0] in before.tables
    ]
    ch.added_indexes = [idx for oid, idx in after.indexes.items() if oid not in before.indexes]
    kept = {(t, c.name) for (t, _), c in after.columns.items()}
    # by table and name, as Atlas matches them: a key rebuilt (dropped and added again, or
    # made anew by a column's type change) gets a new oid and is no drop
    keys_after = {(fk.table, fk.name) for fk in after.foreign_keys.values()}
    ch.dropped_foreign_keys = [
        fk
        for fk in before.foreign_keys.values()
        if (fk.table, fk.name) not in keys_after
        and fk.table in after.tables
        and all((fk.table, c) in kept for c in fk.columns)  # not dropped with its columns
    ]
    return ch


# -- the schema by name: what ``migrate diff`` and the schema snapshot compare -----------------

_IN_SCHEMA = "c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')"
_NAMED_COLUMNS = (
    "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
    "pg_get_expr(d.adbin, d.adrelid), "
    "CASE WHEN a.attcollation <> t.typcollation THEN co.collname END "
    "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
    "JOIN pg_type t ON t.oid = a.atttypid "
    "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
    "LEFT JOIN pg_collation co ON co.oid = a.attcollation "
    "WHERE a.attnum > 0 AND NOT a.attisdropped AND " + _IN_SCHEMA + " ORDER BY c.relname, a.attnum"
)
_NAMED_CONSTRAINTS = (
    "SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid), r.relname "
    "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
    "LEFT JOIN pg_class r ON r.oid = k.confrelid WHERE " + _IN_SCHEMA
)
_NAMED_INDEXES = (
    "SELECT c.relname, ic.relname, pg_get_indexdef(x.indexrelid) "
    "FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid "
    "JOIN pg_class c ON c.oid = x.indrelid WHERE " + _IN_SCHEMA + " AND NOT EXISTS ("
    "SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid AND k.conrelid = x.indrelid "
    "AND k.contype IN ('p', 'u', 'x'))"
)
_NAMED_TRIGGERS = (
    "SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
    "JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal AND " + _IN_SCHEMA
)
_NAMED_FUNCTIONS = (
    "SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', "
    "pg_get_functiondef(p.oid) FROM pg_proc p "
    "WHERE p.pronamespace = current_schema()::regnamespace AND p.prokind IN ('f', 'p') "
    "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass "
    "AND d.objid = p.oid AND d.deptype = 'e')"
)


@dataclass(frozen=True)
class ColumnDef:
    """A column as PostgreSQL spells it: type, NOT NULL, default expression, non-default
    collation."""

    name: str
    type: str
    not_null: bool
    default: str | None
    collation: str | None


@dataclass(frozen=True)
class ConstraintDef:
    """A constraint: its kind (``p``, ``u``, ``f``, ``c``...), ``pg_get_constraintdef``'s text
    and, for a reference, the referenced table."""

    kind: str
    definition: str
    references: str | None = None


@dataclass(frozen=True)
class TableDef:
    """A table with its columns (in order), constraints, indexes and triggers by name."""

    name: str
    columns: tuple[ColumnDef, ...]
    constraints: dict[str, ConstraintDef] = field(default_factory=dict)
    indexes: dict[str, str] = field(default_factory=dict)  # name -> pg_get_indexdef
    triggers: dict[str, str] = field(default_factory=dict)  # name -> pg_get_triggerdef

    @property
    def column_map(self) -> dict[str, ColumnDef]:
        return {c.name: c for c in self.columns}


@dataclass(frozen=True)
class Schema:
    """The tables and functions of the connection's current schema, by name."""

    tables: dict[str, TableDef]
    functions: dict[str, str]  # "name(args)" -> pg_get_functiondef


def read_schema(conn: Connection) -> Schema:
    """The current schema (``public`` on a dev database) as PostgreSQL describes it, names not
    qualified by it (so two schemas built alike read alike)."""
    q = conn.execute
    row = q("SELECT current_schema()").fetchone()
    unqualify = _unqualifier(str(row[0]) if row else "public")
    columns: dict[str, list[ColumnDef]] = {}
    for table, name, type_, not_null, default, collation in q(_NAMED_COLUMNS).fetchall():
        columns.setdefault(str(table), []).append(
            ColumnDef(str(name), str(type_), bool(not_null), default, collation)
        )
    tables = {name: TableDef(name, tuple(cols)) for name, cols in columns.items()}
    for table, name, kind, definition, ref in q(_NAMED_CONSTRAINTS).fetchall():
        tables[table].constraints[str(name)] = ConstraintDef(str(kind), str(definition), ref)
    for table, name, definition in q(_NAMED_INDEXES).fetchall():
        tables[table].indexes[str(name)] = unqualify(str(definition))
    for table, name, definition in q(_NAMED_TRIGGERS).fetchall():
        tables[table].triggers[str(name)] = unqualify(str(definition))
    functions = {str(sig): _first_line(unqualify, str(d)) for sig, d in q(_NAMED_FUNCTIONS)}
    return Schema(dict(sorted(tables.items())), dict(sorted(functions.items())))


def _unqualifier(schema: str) -> Any:
    """Drops the ``<schema>.`` PostgreSQL puts before the table of an index or trigger and
    before a function's name, so a definition runs in whatever schema migrations run in."""
    pattern = re.compile(rf"\b(ON|FUNCTION) (ONLY )?{re.escape(schema)}\.")
    return lambda text: pattern.sub(r"\1 \2", text)


def _first_line(unqualify: Any, definition: str) -> str:
    """A function definition unqualified in its header only (its body is left as written)."""
    head, _, rest = definition.partition("\n")
    return f"{unqualify(head)}\n{rest.rstrip()}"


def schema_to_json(schema: Schema) -> dict[str, Any]:
    """``schema`` as plain JSON data (the schema snapshot file holds this)."""
    return {
        "tables": {name: asdict(table) for name, table in schema.tables.items()},
        "functions": schema.functions,
    }


def schema_from_json(data: dict[str, Any]) -> Schema:
    """The inverse of ``schema_to_json``."""
    tables = {
        name: TableDef(
            name,
            tuple(ColumnDef(**c) for c in t["columns"]),
            {n: ConstraintDef(**c) for n, c in t["constraints"].items()},
            dict(t["indexes"]),
            dict(t["triggers"]),
        )
        for name, t in data["tables"].items()
    }
    return Schema(tables, dict(data["functions"]))


def first_difference(expected: Schema, found: Schema, found_by: str) -> str | None:
    """The first way ``found`` (made by ``found_by``) differs from ``expected`` (the
    declarations), naming the table and column or object; None when they agree."""
    for name in expected.tables.keys() - found.tables.keys():
        return f"table {name} is declared but {found_by} do not create it"
    for name in found.tables.keys() - expected.tables.keys():
        return f"table {name} is not declared but {found_by} create it"
    for name, want in expected.tables.items():
        have = found.tables[name]
        cols, got = want.column_map, have.column_map
        for col in [*cols, *(c for c in got if c not in cols)]:
            if cols.get(col) != got.get(col):
                return (
                    f"table {name} column {col}: declared {_spelled(cols.get(col))}, "
                    f"{found_by} give {_spelled(got.get(col))}"
                )
        for kind in ("constraints", "indexes", "triggers"):
            mine: dict[str, Any] = getattr(want, kind)
            theirs: dict[str, Any] = getattr(have, kind)
            for obj in sorted(mine.keys() | theirs.keys()):
                if mine.get(obj) != theirs.get(obj):
                    what = {"constraints": "constraint", "indexes": "index"}.get(kind, "trigger")
                    how = "is missing" if obj not in theirs else "is not declared"
                    how = how if obj not in mine or obj not in theirs else "differs"
                    return f"table {name} {what} {obj} {how} in {found_by}"
    for sig in sorted(expected.functions.keys() | found.functions.keys()):
        if expected.functions.get(sig) != found.functions.get(sig):
            return f"function {sig} differs in {found_by}"
    return None


def _spelled(column: ColumnDef | None) -> str:
    if column is None:
        return "no such column"
    text = column.type + (f' COLLATE "{column.collation}"' if column.collation else "")
    text += " NOT NULL" if column.not_null else " NULL"
    return text + (f" DEFAULT {column.default}" if column.default is not None else "")
