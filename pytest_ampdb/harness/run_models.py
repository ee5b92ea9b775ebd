"""The model each packaged table's rows are in this run: the packaged model, or the subclass the
project's schema (``--ampdb-schema``) declares to add columns to it.

The packaged factories make that subclass, so what they create (and every parent another
factory creates through them: a project, a connection) is a row the run's repositories take,
with the added columns at their defaults or as given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pytest_ampdb.models.declared import use_schema
from pytest_ampdb.models.schema import TableSpec
from pytest_ampdb.models.tables import TABLES

M = TypeVar("M")

_EXTENDED: dict[type[Any], type[Any]] = {}
"""Packaged model -> the run's subclass of it, for the tables the run's schema extends."""


def use_tables(tables: Mapping[str, TableSpec[Any]]) -> None:
    """Make ``tables`` (the run's schema; ``{}`` once it is over) the one the factories make
    models for, and the schema in effect for repositories the code under test builds itself."""
    use_schema(tables or None)
    _EXTENDED.clear()
    for name, spec in tables.items():
        packaged = TABLES.get(name)
        if packaged is not None and spec.model is not packaged.model:
            _EXTENDED[packaged.model] = spec.model


def made_model(model: type[M], table_model: type[Any] | None = None) -> type[M]:
    """The model a factory whose ``Meta.model`` is ``model`` makes in this run; ``table_model``:
    the model of the table's repository in effect, when known (a ``create()`` in a
    ``database.use`` block over a project's schema, outside any test run), which wins."""
    if table_model is not None and table_model is not model and issubclass(table_model, model):
        return table_model
    return _EXTENDED.get(model, model)
