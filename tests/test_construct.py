"""``TableSpec.to_model``: the model a stored row gives is exactly ``model(**row)``, for every
packaged table and a project's own models (a subclass of a packaged one, a new entity); and the
model PostgreSQL's engine builds straight from a result row (``convert.models_of``) is that
same model."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_ampdb.models.construct import constructor, values_constructor
from pytest_ampdb.models.schema import TableSpec
from pytest_ampdb.models.tables import TABLES
from pytest_ampdb.postgres.convert import models_of, rows_of
from pytest_ampdb.seeds import read_seeds

BILLING_DIR = Path(__file__).resolve().parents[1] / "examples" / "billing"
sys.path.insert(0, str(BILLING_DIR))
from billing.schema import TABLES as BILLING  # noqa: E402


def _rows(spec: TableSpec[Any]) -> list[dict[str, Any]]:
    """Billing's seeded rows of the table, in stored form (every table has some)."""
    return read_seeds(BILLING_DIR / "seed", BILLING).rows[spec.name]


@pytest.mark.parametrize("name", list(BILLING))
def test_a_seeded_row_gives_the_model_its_class_would_build(name: str) -> None:
    spec = BILLING[name]
    rows = _rows(spec)
    assert rows
    for row in rows:
        built = spec.to_model(row)
        expected = spec.model(**row)
        assert type(built) is type(expected)
        assert built == expected
        assert repr(built) == repr(expected)  # secrets masked the same way
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(built, spec.primary_key, "changed")


def test_the_project_own_models_take_the_fast_path() -> None:
    for spec in BILLING.values():
        assert constructor(spec.model).__name__ == "build", spec.name


def test_a_row_that_is_not_exactly_the_fields_is_treated_as_the_class_treats_it() -> None:
    spec = BILLING["api_keys"]
    row = _rows(spec)[0]
    for bad in ({**row, "extra": 1}, {k: v for k, v in row.items() if k != "label"}):
        with pytest.raises(TypeError) as expected:
            spec.model(**bad)
        with pytest.raises(TypeError) as got:
            spec.to_model(bad)
        assert str(got.value) == str(expected.value)
    defaulted = {k: v for k, v in row.items() if k != "tier"}  # the model's default fills it
    assert spec.to_model(defaulted) == spec.model(**defaulted)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Checked:
    id: str
    amount: int

    def __post_init__(self) -> None:
        if self.amount < 0:
            raise ValueError("negative amount")


@dataclasses.dataclass(frozen=True, kw_only=True)
class _NoSlots:
    id: str


def test_a_model_whose_init_does_more_is_built_by_its_class() -> None:
    with pytest.raises(ValueError, match="negative amount"):
        constructor(_Checked)({"id": "a", "amount": -1})
    assert constructor(_NoSlots)({"id": "a"}) == _NoSlots(id="a")


def _as_loaded(spec: TableSpec[Any], row: dict[str, Any]) -> tuple[Any, ...]:
    """A stored row as psycopg loads it, columns in order: enums as their text, text[] a list."""
    values = []
    for column in spec.columns:
        value = row[column.name]
        if column.enum is not None and value is not None:
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        values.append(value)
    return tuple(values)


SPECS = [pytest.param(spec, id=f"billing.{name}") for name, spec in BILLING.items()]
SPECS += [pytest.param(spec, id=name) for name, spec in TABLES.items()]


@pytest.mark.parametrize("spec", SPECS)
def test_a_result_row_gives_the_model_of_its_stored_row(spec: TableSpec[Any]) -> None:
    seeds = (
        read_seeds() if spec is TABLES.get(spec.name) else read_seeds(BILLING_DIR / "seed", BILLING)
    )
    rows = seeds.rows[spec.name]
    assert rows
    for row in rows:
        loaded = _as_loaded(spec, row)
        built = models_of(spec)(loaded)
        expected = spec.model(**rows_of(spec)([loaded])[0])
        assert expected == spec.model(**row)
        assert type(built) is type(expected)
        assert built == expected
        assert repr(built) == repr(expected)
        assert all(
            type(getattr(built, name)) is type(getattr(expected, name))
            for name in spec.column_names
        )


def test_the_values_constructor_takes_the_fast_path_for_every_model() -> None:
    for spec in [*BILLING.values(), *TABLES.values()]:
        assert models_of(spec).__name__ == "build", spec.name


def test_values_a_class_treats_differently_go_through_the_class() -> None:
    checked = values_constructor(_Checked, ["id", "amount"], {})
    with pytest.raises(ValueError, match="negative amount"):
        checked(("a", -1))
    assert values_constructor(_NoSlots, ["id"], {})(("a",)) == _NoSlots(id="a")
    spec = BILLING["api_keys"]
    fewer = [name for name in spec.column_names if name != "tier"]  # the default fills it
    row = _rows(spec)[0]
    made = values_constructor(spec.model, fewer, {})(tuple(row[name] for name in fewer))
    assert made == spec.model(**{name: row[name] for name in fewer})
