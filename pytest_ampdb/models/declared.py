"""Which table declarations are in effect: the packaged twelve, or a project's own schema.

A schema module (``--to MODULE`` / ``--ampdb-schema=MODULE``) is any importable module with a
``TABLES`` mapping of table name to ``TableSpec``; its mapping is the whole schema, so a project
that extends the packaged tables includes them (``{**pytest_ampdb.models.tables.TABLES, ...}``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.models.schema import TableSpec
from pytest_ampdb.models.tables import TABLES


def schema_tables(module: str | None) -> Mapping[str, TableSpec[Any]]:
    """The ``TABLES`` of ``module`` (default: the packaged schema), checked to be declarations."""
    if not module:
        return TABLES
    try:
        loaded = importlib.import_module(module)
    except ImportError as exc:
        raise AmpdbError(f"schema module {module}: cannot be imported ({exc})") from None
    tables = getattr(loaded, "TABLES", None)
    if not isinstance(tables, Mapping) or not all(
        isinstance(spec, TableSpec) and spec.name == name for name, spec in tables.items()
    ):
        raise AmpdbError(f"schema module {module}: TABLES must map table names to TableSpecs")
    return tables


def schema_source(module: str | None) -> tuple[Path, ...]:
    """The file a schema module was loaded from (none for the packaged schema): a change to
    it rebuilds a kept template."""
    if not module:
        return ()
    schema_tables(module)
    file = getattr(importlib.import_module(module), "__file__", None)
    return (Path(file),) if file else ()
