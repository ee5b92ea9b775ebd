"""The schema the table declarations describe, each object as the DDL that builds it.

``migrate diff`` builds it on the dev database (``schemadiff.plan`` from nothing to this) and
reads the result back with the same catalog reader that reads a replayed migration directory,
so both sides of the comparison are spelled by PostgreSQL itself (a CHECK written
``x IN (...)`` and one written ``x = ANY (ARRAY[...])`` compare equal). Everything comes from
the ``TableSpec``s the memory store and the repositories work from: columns from the model,
keys, references and checks from the spec, defaults for the repository-filled times,
``COLLATE "C"`` for text in a list order, and the triggers that enforce ``immutable`` and
``transitions`` in PostgreSQL too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pytest_ampdb.migrations.catalog import ColumnDef, ConstraintDef, Schema, TableDef
from pytest_ampdb.models.columns import Column, Kind
from pytest_ampdb.models.schema import OnDelete, TableSpec, UniqueKey
from pytest_ampdb.postgres import sqlstate

REFUSE_UPDATE = "ampdb_refuse_update"
"""The trigger function every immutable table's ``<table>_immutable`` trigger calls."""

_REFUSE_UPDATE_BODY = f"""
BEGIN
  RAISE EXCEPTION USING
    ERRCODE = '{sqlstate.IMMUTABLE_ROW}',
    MESSAGE = format('%s.%s: rows are immutable once written', TG_TABLE_NAME, TG_ARGV[0]),
    DETAIL = format('%s=%s', TG_ARGV[0], to_jsonb(OLD) ->> TG_ARGV[0]),
    TABLE = TG_TABLE_NAME;
END;
"""


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A quoted SQL text literal."""
    return "'" + text.replace("'", "''") + "'"


def scope_keys(tables: Mapping[str, TableSpec[Any]]) -> dict[str, UniqueKey]:
    """``UNIQUE (project_id, id)`` of every table a project-scoped reference points at."""
    return {
        fk.table: key
        for spec in tables.values()
        for fk in spec.foreign_keys
        if fk.scope is not None and fk.table in tables and (key := tables[fk.table].scope_key)
    }


def index_name(table: str, columns: Sequence[str]) -> str:
    """``<table>_<columns>_idx``, the name every declared index gets."""
    return f"{table}_{'_'.join(columns)}_idx"


def declared_schema(tables: Mapping[str, TableSpec[Any]]) -> Schema:
    """The schema ``tables`` declare, each object written as the DDL that creates it.

    Columns read as PostgreSQL's catalog spells them (``format_type``, ``now()``, ``"C"``), so
    they compare with a catalog directly; the other objects compare with the declarations'
    own spelling only (the snapshot file keeps it), or after PostgreSQL has built them.
    """
    keys = scope_keys(tables)
    functions: dict[str, str] = {}
    if any(spec.immutable for spec in tables.values()):
        functions[f"{REFUSE_UPDATE}()"] = _function(REFUSE_UPDATE, _REFUSE_UPDATE_BODY)
    for spec in tables.values():
        for column in spec.transitions:
            name = _move_name(spec, column)
            functions[f"{name}()"] = _function(name, _move_body(spec, column))
    return Schema(
        {spec.name: _table(spec, keys.get(spec.name), tables) for spec in tables.values()},
        functions,
    )


def _table(
    spec: TableSpec[Any], scope_key: UniqueKey | None, tables: Mapping[str, TableSpec[Any]]
) -> TableDef:
    constraints = {
        spec.primary.name: ConstraintDef("p", f"PRIMARY KEY ({ident(spec.primary_key)})")
    }
    unique = (*spec.unique, scope_key) if scope_key else spec.unique
    constraints.update(
        {k.name: ConstraintDef("u", f"UNIQUE ({_names(k.columns)})") for k in unique}
    )
    for fk in spec.foreign_keys:
        target = _names(fk.target(tables[fk.table]))
        on_delete = fk.on_delete.value
        if fk.on_delete is OnDelete.SET_NULL and fk.scope:
            on_delete += f" ({ident(fk.column)})"  # clear the reference, never the scope
        constraints[fk.name] = ConstraintDef(
            "f",
            f"FOREIGN KEY ({_names(fk.columns)}) REFERENCES {ident(fk.table)} ({target}) "
            f"ON DELETE {on_delete}",
            fk.table,
        )
    for column in spec.columns:
        if column.enum is not None:
            values = ", ".join(literal(member.value) for member in column.enum)
            name = f"{spec.name}_{column.name}_check"
            constraints[name] = ConstraintDef("c", f"CHECK ({column.name} IN ({values}))")
    constraints.update({c.name: ConstraintDef("c", f"CHECK ({c.sql})") for c in spec.checks})
    indexes = {
        (name := index_name(spec.name, cols)): f"CREATE INDEX {ident(name)} "
        f"ON {ident(spec.name)} ({_names(cols)})"
        for cols in spec.index_columns
    }
    triggers = {}
    if spec.immutable:
        name = spec.name + "_immutable"
        triggers[name] = (
            f"CREATE TRIGGER {ident(name)} BEFORE UPDATE ON {ident(spec.name)} FOR EACH ROW "
            f"EXECUTE FUNCTION {REFUSE_UPDATE}({literal(spec.primary_key)})"
        )
    for moved in spec.transitions:
        name = _move_name(spec, moved)
        triggers[name] = (
            f"CREATE TRIGGER {ident(name)} BEFORE UPDATE OF {ident(moved)} ON "
            f"{ident(spec.name)} FOR EACH ROW EXECUTE FUNCTION {ident(name)}()"
        )
    columns = tuple(_column(spec, column) for column in spec.columns)
    return TableDef(spec.name, columns, constraints, indexes, triggers)


def _names(columns: Iterable[str]) -> str:
    return ", ".join(map(ident, columns))


def _function(name: str, body: str) -> str:
    return f"CREATE FUNCTION {ident(name)}() RETURNS trigger LANGUAGE plpgsql AS $${body}$$"


def _column(spec: TableSpec[Any], column: Column) -> ColumnDef:
    filled = {spec.created_column} | ({spec.updated_column} if spec.updated_on_create else set())
    return ColumnDef(
        column.name,
        column.kind.value,
        not column.nullable,
        "now()" if column.name in filled else _default(spec, column),
        "C" if column.kind is Kind.TEXT and column.name in spec.order_by else None,
    )


def _default(spec: TableSpec[Any], column: Column) -> str | None:
    """The SQL DEFAULT a project's added column has: its model field's plain default (text,
    number, boolean), so the rows a table already holds are filled as the model fills a new
    entity. (The packaged columns declare none: their migrations give them none.)"""
    default = spec.declared_defaults.get(column.name)
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, int) and column.kind is Kind.BIGINT:
        return str(default)
    if isinstance(default, str) and column.kind is Kind.TEXT:
        return literal(default)
    return None


def _move_name(spec: TableSpec[Any], column: str) -> str:
    return f"{spec.name}_{column}_move"


def _move_body(spec: TableSpec[Any], column: str) -> str:
    """The trigger that refuses every status move ``spec.transitions[column]`` does not allow,
    with the message ``InvalidTransitionError`` gives in the memory store."""
    moves = spec.transitions[column]
    order = list(moves)
    allowed = [
        f"(OLD.{column} = {literal(state)} AND NEW.{column} IN "
        f"({', '.join(literal(t) for t in sorted(targets, key=order.index))}))"
        for state, targets in moves.items()
        if targets
    ]
    pk = spec.primary_key
    return f"""
BEGIN
  IF NEW.{column} IS DISTINCT FROM OLD.{column} AND NOT (
    {(chr(10) + "    OR ").join(allowed)}
  ) THEN
    RAISE EXCEPTION USING
      ERRCODE = '{sqlstate.INVALID_TRANSITION}',
      MESSAGE = format('%s: {pk}=%s cannot move from %s to %s',
                       TG_TABLE_NAME, OLD.{pk}, OLD.{column}, NEW.{column}),
      TABLE = TG_TABLE_NAME,
      COLUMN = '{column}';
  END IF;
  RETURN NEW;
END;
"""
