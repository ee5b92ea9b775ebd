"""``TableSpec.to_model``: the model a stored row gives is exactly ``model(**row)``, for every
packaged table and a project's own models (a subclass of a packaged one, a new entity)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_ampdb.models.construct import constructor
from pytest_ampdb.models.schema import TableSpec
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
