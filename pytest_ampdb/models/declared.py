"""Which table declarations are in effect: the packaged twelve, or a project's own schema.

A schema module (``--ampdb-schema=MODULE``, ``migrate diff --to MODULE``) is any importable
module with a ``TABLES`` mapping of table name to ``TableSpec``; that mapping is the whole
schema. ``extend`` builds one from the packaged tables: a model subclass adds columns to an
existing entity, a new ``TableSpec`` adds an entity. Every schema is checked before any database
is touched, and a declaration that cannot be a table is one line naming entity and field.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.models.columns import Kind
from pytest_ampdb.models.schema import TableSpec
from pytest_ampdb.models.tables import TABLES, limit_indexed_text

MAX_IDENTIFIER_BYTES = 63
"""PostgreSQL's NAMEDATALEN - 1: a longer name is silently truncated."""
_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_]*")
"""A name PostgreSQL keeps as written without quotes (upper case would be folded)."""


class DeclarationError(AmpdbError):
    """A schema declaration that cannot be a table (the message names entity and field)."""


_DECLARED: dict[type[Any], TableSpec[Any]] = {}
"""The spec of every entity a checked schema added, by model (filled by ``check_declarations``)."""


def declared_spec(model: type[Any]) -> TableSpec[Any] | None:
    """The declaration of a project's own entity by its model, once its schema module is
    imported (how ``mock.builder_for(Plan)`` knows a ``plans`` row belongs to no project)."""
    return _DECLARED.get(model)


def extend(
    *,
    columns: Iterable[type[Any]] = (),
    tables: Iterable[TableSpec[Any]] = (),
    base: Mapping[str, TableSpec[Any]] = TABLES,
) -> dict[str, TableSpec[Any]]:
    """``base`` (the packaged tables) with added columns and entities, checked.

    ``columns``: dataclass subclasses of existing models (``class TieredApiKey(ApiKey): tier:
    str = "free"``); each replaces its parent's model in that table. ``tables``: new entities.
    """
    out = dict(base)
    by_model = {spec.model: spec for spec in out.values()}
    for model in columns:
        parent = next(
            (by_model[b] for b in getattr(model, "__mro__", ())[1:] if b in by_model), None
        )
        if parent is None:
            raise DeclarationError(
                f"{getattr(model, '__qualname__', model)}: extends no declared entity "
                f"(subclass one of {', '.join(m.__name__ for m in by_model)})"
            )
        if out[parent.name].model is not parent.model:
            raise DeclarationError(f"{model.__qualname__}: {parent.name} is extended twice")
        added = {f.name for f in dataclasses.fields(model)} - set(parent.column_names)
        out[parent.name] = dataclasses.replace(
            parent, model=model, defaulted=parent.defaulted | added
        )
    entities: list[str] = []
    for spec in tables:
        if spec.name in out:
            raise DeclarationError(f"{spec.name}: the entity is declared twice")
        every = frozenset(f.name for f in dataclasses.fields(spec.model))
        out[spec.name] = dataclasses.replace(spec, defaulted=spec.defaulted | every)
        entities.append(spec.name)
    check_declarations(out)
    for name in entities:  # once the columns are known good: their kinds say which are text
        out[name] = limit_indexed_text(out[name])
    check_declarations(out)  # the limits' constraint names too
    return out


def check_declarations(tables: Mapping[str, TableSpec[Any]]) -> None:
    """Refuse, with one line naming entity and field, what PostgreSQL could not hold as
    declared: an unknown reference, a type with no column kind, a name folded or truncated,
    a name used twice."""
    relations: dict[str, str] = {}  # tables, indexes and key constraints share one namespace

    def claim(name: str, owner: str) -> None:
        _check_name(name, owner)
        if name in relations:
            raise DeclarationError(f"{owner}: name {name!r} is also used by {relations[name]}")
        relations[name] = owner

    from pytest_ampdb.migrations.desired import index_name

    for key, spec in tables.items():
        if key != spec.name:
            raise DeclarationError(f"{key}: declared under another name than its TableSpec's")
        claim(spec.name, f"entity {spec.name}")
        try:
            names = set(spec.column_names)
        except TypeError as exc:  # "column x: no column kind for <type>"
            raise DeclarationError(f"{spec.name}: {exc}; no PostgreSQL type maps to it") from None
        for column in spec.column_names:
            _check_name(column, f"{spec.name}.{column}")
        used = [
            spec.primary_key,
            *(c for k in spec.unique for c in k.columns),
            *(c for fk in spec.foreign_keys for c in fk.columns),
            *(c.column for c in spec.checks),
            *spec.order_by,
            *(c for cols in (*spec.lookups, *spec.indexes) for c in cols),
            *([spec.scope] if spec.scope else []),
            *(c for c in (spec.created_column, spec.updated_column) if c),
        ]
        for column in used:
            if column not in names:
                raise DeclarationError(
                    f"{spec.name}.{column}: no such field in {spec.model.__name__}"
                    + _DEFAULTED_HINTS.get(column, "")
                )
        nullable = [c for c in spec.order_by if spec.column_map[c].nullable]
        if nullable or spec.primary_key not in spec.order_by:
            where = f"{spec.name}.{nullable[0]}" if nullable else spec.name
            raise DeclarationError(
                f"{where}: the list order must be NOT NULL columns holding the primary key "
                f"(order_by={spec.order_by!r} must name {spec.primary_key!r}, and no optional "
                "field)"
            )
        btree = [
            *(c for k in spec.keys for c in k.columns),
            *spec.order_by,
            *(c for cols in (*spec.lookups, *spec.indexes) for c in cols),
        ]
        for column in btree:
            if spec.column_map[column].kind is Kind.JSONB:
                raise DeclarationError(
                    f"{spec.name}.{column}: a jsonb column cannot be in a key, the list order "
                    "or an index (the memory store cannot hash or order documents as "
                    "PostgreSQL's btree does)"
                )
        for fk in spec.foreign_keys:
            parent = tables.get(fk.table)
            if parent is None:
                raise DeclarationError(
                    f"{spec.name}.{fk.column}: references unknown entity {fk.table!r}"
                )
            if fk.scope and parent.scope != fk.scope:
                raise DeclarationError(
                    f"{spec.name}.{fk.column}: a {fk.scope}-scoped reference to {fk.table}, "
                    f"which is not scoped by {fk.scope}"
                )
        for key_ in spec.keys:
            claim(key_.name, f"{spec.name} key {key_.name}")
        for cols in spec.index_columns:
            claim(index_name(spec.name, cols), f"{spec.name} index on {', '.join(cols)}")
        for fk in spec.foreign_keys:
            _check_name(fk.name, f"{spec.name}.{fk.column}")
        for check in spec.checks:
            _check_name(check.name, f"{spec.name}.{check.column}")
    _DECLARED.update({s.model: s for n, s in tables.items() if n not in TABLES})


_DEFAULTED_HINTS = {
    "create_time": " (TableSpec's order_by and created_column name it by default: add the "
    "field, or pass order_by=... and created_column=None)",
    "update_time": " (TableSpec's updated_column names it by default: add the field, or pass "
    "updated_column=None)",
    "project_id": " (TableSpec's scope names it by default: add the field, or pass scope=None "
    "for an entity no project owns)",
    "id": " (TableSpec's primary_key and order_by name it by default: add the field, or pass "
    "primary_key=... and order_by=...)",
}
"""Why a declaration names a column its model lacks, when a ``TableSpec`` default named it."""


def _check_name(name: str, owner: str) -> None:
    if not _PLAIN_NAME.fullmatch(name):
        raise DeclarationError(
            f"{owner}: name {name!r} is not lower-case letters, digits and _ (PostgreSQL would "
            "fold or need quotes)"
        )
    if len(name.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        raise DeclarationError(
            f"{owner}: name {name!r} is longer than {MAX_IDENTIFIER_BYTES} bytes (PostgreSQL "
            "would truncate it)"
        )


_RUN_SCHEMA: list[Mapping[str, TableSpec[Any]]] = []
"""The schema a test run configured (``--ampdb-schema``), while it runs (set by the plugin)."""


def use_schema(tables: Mapping[str, TableSpec[Any]] | None) -> None:
    """Make ``tables`` (a test run's schema) the one ``schema_in_effect`` gives; ``None`` (the
    run is over) or the packaged tables (the run names no schema): ``AMPDB_SCHEMA`` decides."""
    _RUN_SCHEMA[:] = [] if tables is None or tables is TABLES else [tables]


def schema_in_effect() -> Mapping[str, TableSpec[Any]]:
    """The tables a service's repositories hold unless it names others: the test run's schema
    (``--ampdb-schema``, ini ``ampdb_schema``) under the plugin, else the module ``AMPDB_SCHEMA``
    names, else the packaged twelve. So ``postgres.repositories(pool)`` and ``MemoryStore()``
    that code under test builds itself hold the project's entities and columns, as the
    facades' defaults do (without it they silently read an extended entity as the packaged
    model, its added columns dropped)."""
    if _RUN_SCHEMA:
        return _RUN_SCHEMA[0]
    module = os.environ.get("AMPDB_SCHEMA")
    if not module:
        return TABLES
    found = _ENVIRONMENT_SCHEMAS.get(module)
    if found is None:  # imported and checked once per module (about 150 µs each time)
        found = _ENVIRONMENT_SCHEMAS[module] = schema_tables(module)
    return found


_ENVIRONMENT_SCHEMAS: dict[str, Mapping[str, TableSpec[Any]]] = {}
"""``AMPDB_SCHEMA``'s tables, by module name: a service building repositories per request."""


def schema_tables(module: str | None, root: Path | None = None) -> Mapping[str, TableSpec[Any]]:
    """The ``TABLES`` of ``module`` (default: the packaged schema), checked to be declarations;
    ``root``: a folder to import it from too (see ``_import_schema``)."""
    if not module:
        return TABLES
    try:
        loaded = _import_schema(module, root)
    except DeclarationError as exc:
        raise DeclarationError(f"schema module {module}: {exc}") from None
    except ImportError as exc:
        raise AmpdbError(f"schema module {module}: cannot be imported ({exc})") from None
    except (Exception, SystemExit) as exc:  # the module itself fails (or exits): one line
        raise AmpdbError(
            f"schema module {module}: cannot be imported ({type(exc).__name__}: {exc})"
        ) from None
    tables = getattr(loaded, "TABLES", None)
    if not isinstance(tables, Mapping) or not all(
        isinstance(spec, TableSpec) for spec in tables.values()
    ):
        raise AmpdbError(f"schema module {module}: TABLES must map table names to TableSpecs")
    try:
        check_declarations(tables)
    except DeclarationError as exc:
        raise DeclarationError(f"schema module {module}: {exc}") from None
    return tables


def _import_schema(module: str, root: Path | None = None) -> ModuleType:
    """``module``, found as pytest finds a project's modules: if its package is not on the
    path, the current directory is tried too (the ``ampdb`` command, run from the project's
    folder, has no ``pythonpath`` setting to put it there), then ``root`` (a test run's project
    root, where the ini file naming the module is: pytest run from ``tests/`` or elsewhere)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.partition(".")[0]
        if exc.name != top:
            raise
        for folder in (os.getcwd(), *([str(root)] if root is not None else [])):
            if folder in sys.path or (folder == os.getcwd() and "" in sys.path):
                continue
            if (Path(folder) / top).is_dir() or (Path(folder) / f"{top}.py").is_file():
                sys.path.insert(0, folder)
                return importlib.import_module(module)
        raise


def load_factories(module: str | None) -> None:
    """Import the factory modules the schema module names in ``FACTORIES`` (a module name or a
    sequence of them): how the ``<entity>_factory`` fixtures learn of a project's factories.
    Named, not imported by the schema module, since a factory module imports the schema."""
    if not module:
        return
    named = getattr(importlib.import_module(module), "FACTORIES", ())
    names = (named,) if isinstance(named, str) else named
    if not isinstance(names, tuple | list) or not all(isinstance(n, str) for n in names):
        raise AmpdbError(f"schema module {module}: FACTORIES must name modules (a str or a list)")
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise AmpdbError(f"schema module {module}: FACTORIES {name}: {exc}") from None
        except (Exception, SystemExit) as exc:  # the factory module itself fails
            raise AmpdbError(
                f"schema module {module}: FACTORIES {name}: {type(exc).__name__}: {exc}"
            ) from None


def schema_source(module: str | None) -> tuple[Path, ...]:
    """The file a schema module was loaded from (none for the packaged schema): a change to
    it rebuilds a kept template."""
    if not module:
        return ()
    schema_tables(module)
    file = getattr(importlib.import_module(module), "__file__", None)
    return (Path(file),) if file else ()
