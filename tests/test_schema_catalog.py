"""The migrated PostgreSQL catalog is exactly what ``pytest_ampdb.models.tables`` declares.

Both backends and the seed loader trust ``TABLES``; the postgres backend also maps constraint
names back to errors. So every column, key, reference, check, index and trigger is compared with
the declarations by one generic mechanism: a model or spec change without a migration fails here,
and so does a migration that adds or renames something the specs do not know about.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.types.json import Jsonb

from pytest_ampdb import migrations
from pytest_ampdb.models.columns import Column, Kind
from pytest_ampdb.models.ordering import load_plan
from pytest_ampdb.models.schema import Check, OnDelete, TableSpec
from pytest_ampdb.models.tables import SCOPE_KEYS, TABLES
from pytest_ampdb.paths import migrations_dir
from pytest_ampdb.postgres import sqlstate

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = ROOT / "schema" / "migrations"

IMMUTABLE_RULE = "rows are immutable once written"  # the memory store's ValidationError rule

ON_DELETE = {"c": OnDelete.CASCADE, "a": OnDelete.NO_ACTION, "n": OnDelete.SET_NULL}

# Values tried against every named CHECK of tables.py: PostgreSQL must accept exactly those the
# spec's Python predicate accepts (the memory store uses the predicate).
CHECK_SAMPLES: dict[str, list[Any]] = {
    "projects_name_check": [
        "ab",
        "a1",
        "my-app-2",
        "a",
        "-ab",
        "ab-",
        "Ab",
        "a_b",
        "a b",
        "ab\n",
        "é-x",
        "0-0",
    ],
    "installations_created_by_check": [
        "consumer:user-123",
        "builder:42",
        "consumer:a\nb",
        "consumer:",
        "builder",
        "admin:x",
        " consumer:x",
        "Consumer:x",
        "xbuilder:y",
    ],
    "api_keys_scopes_check": [
        [],
        ["full"],
        ["frontend", "admin"],
        ["full", "frontend", "admin"],
        ["owner"],
        ["full", "FULL"],
        [""],
    ],
    "jwt_keys_label_check": ["a", "x" * 255, "é" * 255, "", "x" * 256, "é" * 256],
    "jwt_keys_algorithm_check": ["RS256", "rs256", "HS256", "RS256 ", ""],
}
# Indexed text: the limit is in characters, also for 4-byte ones (1,020 bytes stay indexable).
CHECK_SAMPLES.update(
    {
        check.name: ["a" * 255, "a" * 256, "a" * 3000]
        + ([] if spec.name == "projects" else ["\U0001f600" * 255, "\U0001f600" * 256])
        for spec in TABLES.values()
        for check in spec.checks
        if check.name.endswith("_length_check")
    }
)


# --------------------------------------------------------------------------------------------
# Database: one migrated database for the module (``migrated_dsn``, tests/conftest.py); each
# test works in a rolled-back transaction.
# --------------------------------------------------------------------------------------------


@pytest.fixture
def conn(migrated_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection whose transaction is rolled back after the test."""
    with psycopg.connect(migrated_dsn) as connection:
        yield connection
        connection.rollback()


# --------------------------------------------------------------------------------------------
# Catalog readers
# --------------------------------------------------------------------------------------------


def catalog_columns(conn: psycopg.Connection[Any], table: str) -> list[tuple[str, str, bool]]:
    """(name, type as format_type prints it, nullable) in column order."""
    rows = conn.execute(
        """SELECT attname, format_type(atttypid, atttypmod), NOT attnotnull
             FROM pg_attribute
            WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped
            ORDER BY attnum""",
        (f"public.{table}",),
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def catalog_constraints(conn: psycopg.Connection[Any], table: str) -> dict[str, tuple[Any, ...]]:
    """name -> (type, columns, referenced table, referenced columns, ON DELETE, SET NULL
    columns)."""
    rows = conn.execute(
        """SELECT c.conname, c.contype,
                  ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
                         ORDER BY k.i),
                  c.confrelid::regclass::text,
                  ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
                          JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n
                         ORDER BY k.i),
                  c.confdeltype,
                  ARRAY(SELECT a.attname::text FROM unnest(c.confdelsetcols) k(n)
                          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n)
             FROM pg_constraint c
            WHERE c.conrelid = %s::regclass""",
        (f"public.{table}",),
    ).fetchall()
    out: dict[str, tuple[Any, ...]] = {}
    for name, contype, cols, ref, ref_cols, deltype, set_cols in rows:
        if contype == "f":
            on_delete = ON_DELETE.get(deltype, deltype)
            out[name] = ("f", tuple(cols), ref, tuple(ref_cols), on_delete, tuple(set_cols))
        else:
            out[name] = (contype, tuple(cols), None, (), None, ())
    return out


def catalog_indexes(conn: psycopg.Connection[Any], table: str) -> dict[str, tuple[str, ...]]:
    """index name -> its key columns in order (expression indexes have '' for the expression)."""
    rows = conn.execute(
        """SELECT i.indexrelid::regclass::text,
                  ARRAY(SELECT coalesce(a.attname::text, '')
                          FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, p)
                          LEFT JOIN pg_attribute a
                                 ON a.attrelid = i.indrelid AND a.attnum = k.n AND k.n > 0
                         WHERE k.p <= i.indnkeyatts
                         ORDER BY k.p)
             FROM pg_index i
            WHERE i.indrelid = %s::regclass""",
        (f"public.{table}",),
    ).fetchall()
    return {name: tuple(cols) for name, cols in rows}


def column_collation(conn: psycopg.Connection[Any], table: str, column: str) -> str:
    row = conn.execute(
        """SELECT coalesce(c.collname, '')
             FROM pg_attribute a LEFT JOIN pg_collation c ON c.oid = a.attcollation
            WHERE a.attrelid = %s::regclass AND a.attname = %s""",
        (f"public.{table}", column),
    ).fetchone()
    assert row is not None
    return str(row[0])


def enum_check_name(spec: TableSpec[Any], column: Column) -> str:
    return f"{spec.name}_{column.name}_check"


def expected_constraints(spec: TableSpec[Any]) -> dict[str, tuple[Any, ...]]:
    """What pg_constraint must hold for ``spec``: keys, references, named and enum checks."""
    out: dict[str, tuple[Any, ...]] = {
        spec.primary.name: ("p", spec.primary.columns, None, (), None, ())
    }
    scope_key = SCOPE_KEYS.get(spec.name)
    unique = (*spec.unique, scope_key) if scope_key else spec.unique
    out.update({key.name: ("u", key.columns, None, (), None, ()) for key in unique})
    for fk in spec.foreign_keys:
        target = fk.target(TABLES[fk.table])
        # SET NULL on a composite reference clears the reference column only, not project_id
        cleared = (fk.column,) if fk.on_delete is OnDelete.SET_NULL and fk.scope else ()
        out[fk.name] = ("f", fk.columns, fk.table, target, fk.on_delete, cleared)
    for column in spec.columns:
        if column.enum is not None:
            out[enum_check_name(spec, column)] = ("c", (column.name,), None, (), None, ())
    out.update({check.name: ("c", (check.column,), None, (), None, ()) for check in spec.checks})
    return out


def list_order_columns(spec: TableSpec[Any]) -> tuple[str, ...]:
    """The columns of the index a page of ``list`` reads: the scope, then the order."""
    return ((spec.scope,) if spec.scope else ()) + spec.order_by


# --------------------------------------------------------------------------------------------
# Valid rows for any table, built from the specs (used to test checks and behaviour by inserting)
# --------------------------------------------------------------------------------------------


class Rows:
    """Builds and inserts one valid row per table, parents first, from the specs alone."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.counter = itertools.count(1)
        self.graph: dict[str, dict[str, Any]] = {}

    def value(self, spec: TableSpec[Any], column: Column) -> Any:
        n = next(self.counter)
        if column.enum is not None:
            return next(iter(column.enum)).value
        checks = [c for c in spec.checks if c.column == column.name]
        candidates: dict[Kind, list[Any]] = {
            Kind.UUID: [str(uuid.uuid4())],
            Kind.TEXT: [f"sample-{n}", f"consumer:user-{n}", "RS256"],
            Kind.BOOLEAN: [True],
            Kind.BIGINT: [n],
            Kind.TIMESTAMPTZ: [datetime(2026, 1, 1, tzinfo=UTC)],
            Kind.JSONB: [{"n": n}],
            Kind.TEXT_ARRAY: [[], ["full"]],
        }
        for candidate in candidates[column.kind]:
            if all(check.predicate(candidate) for check in checks):
                return candidate
        raise AssertionError(f"no valid sample value for {spec.name}.{column.name}")

    def make(self, table: str, **overrides: Any) -> dict[str, Any]:
        """A valid row of ``table`` whose references point at the graph's rows."""
        spec = TABLES[table]
        refs = {fk.column: fk for fk in spec.foreign_keys}
        deferred = {fk.column for fk in load_plan(TABLES.values()).deferred.get(table, ())}
        row: dict[str, Any] = {}
        for column in spec.columns:
            fk = refs.get(column.name)
            if fk is not None:
                parent = self.graph.get(fk.table)
                row[column.name] = (
                    None
                    if column.name in deferred or parent is None
                    else (parent[TABLES[fk.table].primary_key])
                )
            else:
                row[column.name] = self.value(spec, column)
        row.update(overrides)
        return row

    def insert(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        spec = TABLES[table]
        kinds = {c.name: c.kind for c in spec.columns}
        values = [
            Jsonb(v) if kinds[k] is Kind.JSONB and v is not None else v for k, v in row.items()
        ]
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            sql.Identifier(table),
            sql.SQL(", ").join(map(sql.Identifier, row)),
            sql.SQL(", ").join(sql.Placeholder() * len(row)),
        )
        self.conn.execute(query, values)
        return row

    def build_graph(self) -> dict[str, dict[str, Any]]:
        """One row in every table, then the deferred (cyclic) references filled in."""
        plan = load_plan(TABLES.values())
        for table in plan.order:
            self.graph[table] = self.insert(table, self.make(table))
        for table, fks in plan.deferred.items():
            spec = TABLES[table]
            for fk in fks:
                target = self.graph[fk.table][TABLES[fk.table].primary_key]
                self.update(table, self.graph[table][spec.primary_key], {fk.column: target})
                self.graph[table][fk.column] = target
        return self.graph

    def update(self, table: str, key: Any, changes: dict[str, Any]) -> None:
        spec = TABLES[table]
        query = sql.SQL("UPDATE {} SET {} WHERE {} = %s").format(
            sql.Identifier(table),
            sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(name)) for name in changes),
            sql.Identifier(spec.primary_key),
        )
        self.conn.execute(query, [*changes.values(), key])

    def count(self, table: str, where: str = "", *params: Any) -> int:
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        if where:
            query = query + sql.SQL(" WHERE ") + sql.SQL(where)
        row = self.conn.execute(query, params).fetchone()
        assert row is not None
        return int(row[0])


def refused(conn: psycopg.Connection[Any], action: Any) -> psycopg.Error | None:
    """Run ``action`` in a savepoint; the PostgreSQL error it raised, or None if it succeeded."""
    try:
        with conn.transaction():
            action()
    except psycopg.Error as exc:
        return exc
    return None


# --------------------------------------------------------------------------------------------
# Structure
# --------------------------------------------------------------------------------------------


def test_migration_directory_is_atlas_valid() -> None:
    """The shipped directory is the one this test checks, and its atlas.sum matches its files."""
    assert migrations_dir().resolve() == MIGRATIONS.resolve()
    assert (MIGRATIONS / "atlas.sum").read_text(encoding="utf-8") == migrations.hash_dir(MIGRATIONS)
    migrations.validate_dir(MIGRATIONS)


def test_exactly_the_twelve_tables(conn: psycopg.Connection[Any]) -> None:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
    ).fetchall()
    assert sorted(r[0] for r in rows) == sorted(TABLES)


@pytest.mark.parametrize("table", list(TABLES))
def test_columns_types_and_nullability(conn: psycopg.Connection[Any], table: str) -> None:
    spec = TABLES[table]
    expected = [(c.name, c.kind.value, c.nullable) for c in spec.columns]
    assert catalog_columns(conn, table) == expected


@pytest.mark.parametrize("table", list(TABLES))
def test_constraints_are_the_declared_ones(conn: psycopg.Connection[Any], table: str) -> None:
    """Same names, columns, referenced keys and ON DELETE; nothing more, nothing less."""
    assert catalog_constraints(conn, table) == expected_constraints(TABLES[table])


@pytest.mark.parametrize("table", list(TABLES))
def test_every_reference_is_indexed(conn: psycopg.Connection[Any], table: str) -> None:
    """A delete of a parent looks its children up by the referencing columns: an index leads
    with the reference column, or with all the columns of a project-scoped reference."""
    indexes = [cols for cols in catalog_indexes(conn, table).values() if cols]

    def served(columns: tuple[str, ...]) -> bool:
        return any(
            cols[0] == columns[-1] or set(cols[: len(columns)]) == set(columns) for cols in indexes
        )

    missing = [fk.name for fk in TABLES[table].foreign_keys if not served(fk.columns)]
    assert missing == []


@pytest.mark.parametrize("table", list(TABLES))
def test_list_order_has_an_index(conn: psycopg.Connection[Any], table: str) -> None:
    spec = TABLES[table]
    assert list_order_columns(spec) in catalog_indexes(conn, table).values()


@pytest.mark.parametrize("table", list(TABLES))
def test_text_order_columns_sort_bytewise(conn: psycopg.Connection[Any], table: str) -> None:
    """Text in a list order uses COLLATE "C", so pages come in the order Python sorts str."""
    spec = TABLES[table]
    kinds = {c.name: c.kind for c in spec.columns}
    text_order = [name for name in spec.order_by if kinds[name] is Kind.TEXT]
    assert [column_collation(conn, table, name) for name in text_order] == ["C"] * len(text_order)


def test_text_order_really_is_byte_order(conn: psycopg.Connection[Any]) -> None:
    rows = Rows(conn)
    graph = rows.build_graph()
    installation = graph["installations"]["id"]
    names = ["b", "B", "a", "_z", "Z", "é", "a-b", "ab"]
    for name in names:
        if name != graph["read_states"]["object_name"]:
            rows.insert("read_states", rows.make("read_states", object_name=name))
    got = conn.execute(
        "SELECT object_name FROM read_states WHERE installation_id = %s "
        "ORDER BY installation_id, object_name, id",
        (installation,),
    ).fetchall()
    stored = [r[0] for r in got]
    assert stored == sorted(stored, key=lambda s: s.encode("utf-8"))
    assert stored == sorted(stored)


def test_operations_have_an_index_for_list_by_installation(conn: psycopg.Connection[Any]) -> None:
    assert ("installation_id", "status") in catalog_indexes(conn, "operations").values()


@pytest.mark.parametrize("table", [name for name, spec in TABLES.items() if spec.lookups])
def test_every_declared_lookup_is_indexed(conn: psycopg.Connection[Any], table: str) -> None:
    """A filter the memory store keeps an index for leads an index in PostgreSQL too."""
    indexes = catalog_indexes(conn, table).values()
    unindexed = [
        lookup
        for lookup in TABLES[table].lookups
        if not any(cols[: len(lookup)] == lookup for cols in indexes)
    ]
    assert unindexed == []


# --------------------------------------------------------------------------------------------
# Rules, tested by writing rows
# --------------------------------------------------------------------------------------------

ENUM_COLUMNS = [
    (spec.name, column.name) for spec in TABLES.values() for column in spec.columns if column.enum
]


@pytest.mark.parametrize(("table", "column"), ENUM_COLUMNS)
def test_enum_check_allows_exactly_the_enum(
    conn: psycopg.Connection[Any], table: str, column: str
) -> None:
    spec = TABLES[table]
    col = next(c for c in spec.columns if c.name == column)
    assert col.enum is not None
    rows = Rows(conn)
    rows.build_graph()
    for member in col.enum:
        row = rows.make(table, **{column: member.value})
        assert refused(conn, lambda row=row: rows.insert(table, row)) is None, member
    allowed = check_literals(conn, table, enum_check_name(spec, col))
    for bad in ["not-a-value", next(iter(col.enum)).value.upper(), "", *sorted(allowed)]:
        if bad in {m.value for m in col.enum}:
            continue
        row = rows.make(table, **{column: bad})
        error = refused(conn, lambda row=row: rows.insert(table, row))
        assert isinstance(error, pg_errors.CheckViolation), bad
        assert error.diag.constraint_name == enum_check_name(spec, col)


def check_literals(conn: psycopg.Connection[Any], table: str, name: str) -> set[str]:
    """The text literals a CHECK constraint's definition names (its allowed values)."""
    row = conn.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND conname = %s",
        (f"public.{table}", name),
    ).fetchone()
    assert row is not None, name
    return {m.replace("''", "'") for m in re.findall(r"'((?:[^']|'')*)'::text", row[0])}


NAMED_CHECKS: list[tuple[str, Check]] = [
    (spec.name, check) for spec in TABLES.values() for check in spec.checks
]


def test_every_named_check_has_samples() -> None:
    assert sorted(CHECK_SAMPLES) == sorted(check.name for _, check in NAMED_CHECKS)
    for _, check in NAMED_CHECKS:
        verdicts = {bool(check.predicate(v)) for v in CHECK_SAMPLES[check.name]}
        assert verdicts == {True, False}, check.name


@pytest.mark.parametrize(("table", "check"), NAMED_CHECKS, ids=lambda x: getattr(x, "name", x))
def test_named_check_agrees_with_the_spec(
    conn: psycopg.Connection[Any], table: str, check: Check
) -> None:
    rows = Rows(conn)
    rows.build_graph()
    for sample in CHECK_SAMPLES[check.name]:
        row = rows.make(table, **{check.column: sample})
        error = refused(conn, lambda row=row: rows.insert(table, row))
        if check.predicate(sample):
            assert error is None, (sample, error)
        else:
            assert isinstance(error, pg_errors.CheckViolation), sample
            assert error.diag.constraint_name == check.name


TRANSITIONS = [
    (spec.name, column, moves)
    for spec in TABLES.values()
    for column, moves in spec.transitions.items()
]


@pytest.mark.parametrize(
    ("table", "column", "moves"), TRANSITIONS, ids=[f"{t}.{c}" for t, c, _ in TRANSITIONS]
)
def test_status_moves_are_enforced(
    conn: psycopg.Connection[Any], table: str, column: str, moves: dict[str, frozenset[str]]
) -> None:
    """Allowed moves (and staying put) pass; every other pair is SQLSTATE AM001 naming the move."""
    spec = TABLES[table]
    rows = Rows(conn)
    rows.build_graph()
    for current, target in itertools.product(list(moves), repeat=2):
        row = rows.insert(table, rows.make(table, **{column: str(current)}))
        key = row[spec.primary_key]
        error = refused(conn, lambda key=key, t=target: rows.update(table, key, {column: str(t)}))
        if target == current or target in moves[current]:
            assert error is None, (current, target, error)
        else:
            assert error is not None, (current, target)
            assert error.sqlstate == sqlstate.INVALID_TRANSITION
            # the trigger's own words, for raw SQL (a repository's InvalidTransitionError, made
            # from this error, names the project in its key too)
            said = f"{table}: {spec.primary_key}={key} cannot move from {current} to {target}"
            assert error.diag.message_primary == said
            assert error.diag.table_name == table
            assert error.diag.column_name == column


@pytest.mark.parametrize("table", list(TABLES))
def test_immutable_tables_refuse_updates(conn: psycopg.Connection[Any], table: str) -> None:
    spec = TABLES[table]
    rows = Rows(conn)
    graph = rows.build_graph()
    key = graph[table][spec.primary_key]
    same = {c.name: graph[table][c.name] for c in spec.columns if c.kind is Kind.TEXT}
    error = refused(conn, lambda: rows.update(table, key, same))
    if spec.immutable:
        assert error is not None
        assert error.sqlstate == sqlstate.IMMUTABLE_ROW
        assert error.diag.table_name == table
        assert error.diag.message_primary == f"{table}.{spec.primary_key}: {IMMUTABLE_RULE}"
        assert error.diag.message_detail == f"{spec.primary_key}={key}"
        assert rows.count(table) == 1
        assert (
            refused(
                conn, lambda: conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
            )
            is None
        )
    else:
        assert error is None


FOREIGN_KEYS = [(spec.name, fk) for spec in TABLES.values() for fk in spec.foreign_keys]


@pytest.mark.parametrize(("table", "fk"), FOREIGN_KEYS, ids=lambda x: getattr(x, "name", x))
def test_on_delete_behaviour(conn: psycopg.Connection[Any], table: str, fk: Any) -> None:
    """Deleting the referenced row cascades, is refused (23503) or nulls the reference."""
    spec, parent = TABLES[table], TABLES[fk.table]
    rows = Rows(conn)
    graph = rows.build_graph()
    child_key = graph[table][spec.primary_key]
    parent_key = graph[fk.table][parent.primary_key]
    where = sql.SQL("{} = %s").format(sql.Identifier(spec.primary_key)).as_string(conn)
    delete = sql.SQL("DELETE FROM {} WHERE {} = %s").format(
        sql.Identifier(fk.table), sql.Identifier(parent.primary_key)
    )
    error = refused(conn, lambda: conn.execute(delete, (parent_key,)))
    if fk.on_delete is OnDelete.NO_ACTION:
        assert isinstance(error, pg_errors.ForeignKeyViolation)
        assert error.diag.constraint_name == fk.name
        assert rows.count(fk.table) == 1
    elif fk.on_delete is OnDelete.CASCADE:
        assert error is None
        assert rows.count(table, where, child_key) == 0
    else:
        assert error is None
        row = conn.execute(
            sql.SQL("SELECT {} FROM {} WHERE {} = %s").format(
                sql.Identifier(fk.column), sql.Identifier(table), sql.Identifier(spec.primary_key)
            ),
            (child_key,),
        ).fetchone()
        assert row == (None,)


SCOPED_FOREIGN_KEYS = [(name, fk) for name, fk in FOREIGN_KEYS if fk.scope is not None]


@pytest.mark.parametrize(("table", "fk"), SCOPED_FOREIGN_KEYS, ids=lambda x: getattr(x, "name", x))
def test_a_reference_into_another_project_is_refused_by_postgresql(
    conn: psycopg.Connection[Any], table: str, fk: Any
) -> None:
    """The composite key itself refuses it: no repository, no memory store involved."""
    mine, theirs = Rows(conn), Rows(conn)
    theirs.counter = itertools.count(1000)  # other names, keys and refs
    mine.build_graph()
    other = theirs.build_graph()
    row = mine.make(table, **{fk.column: other[fk.table][TABLES[fk.table].primary_key]})
    error = refused(conn, lambda: mine.insert(table, row))
    assert isinstance(error, pg_errors.ForeignKeyViolation)
    assert error.diag.constraint_name == fk.name


def test_deleting_a_project_removes_everything_it_scopes(conn: psycopg.Connection[Any]) -> None:
    rows = Rows(conn)
    graph = rows.build_graph()
    conn.execute("DELETE FROM projects WHERE id = %s", (graph["projects"]["id"],))
    counts = {name: rows.count(name) for name, spec in TABLES.items() if spec.scope}
    assert counts == dict.fromkeys(counts, 0)
    assert rows.count("organizations") == 1


def test_deleting_an_organization_with_projects_is_refused(conn: psycopg.Connection[Any]) -> None:
    rows = Rows(conn)
    graph = rows.build_graph()
    org = graph["organizations"]["id"]
    error = refused(conn, lambda: conn.execute("DELETE FROM organizations WHERE id = %s", (org,)))
    assert isinstance(error, pg_errors.ForeignKeyViolation)
    assert error.sqlstate == sqlstate.FOREIGN_KEY_VIOLATION


def test_deleting_the_latest_revision_clears_it(conn: psycopg.Connection[Any]) -> None:
    rows = Rows(conn)
    graph = rows.build_graph()
    integration = graph["integrations"]
    assert integration["latest_revision_id"] == graph["revisions"]["id"]
    conn.execute("DELETE FROM revisions WHERE id = %s", (graph["revisions"]["id"],))
    row = conn.execute(
        "SELECT latest_revision_id FROM integrations WHERE id = %s", (integration["id"],)
    ).fetchone()
    assert row == (None,)
