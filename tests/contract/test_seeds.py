"""The packaged seeds: every row readable through the repositories, and the named ids."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.models.tables import TABLES
from pytest_ampdb.paths import seeds_dir
from pytest_ampdb.seeds import SeedIds, SeedSet
from pytest_ampdb.types import Repositories

from .builders import list_all

ALL_TABLES = list(TABLES)


def _read(seeded: Repositories, table: str, row: dict[str, Any]) -> Any:
    spec = TABLES[table]
    repo = getattr(seeded, table)
    if table == "api_keys":
        return repo.get_by_key(row["key"])
    if spec.scope is None:
        return repo.get_by_id(row[spec.primary_key])
    return repo.get_by_id(row[spec.scope], row[spec.primary_key])


@pytest.mark.parametrize("table", ALL_TABLES)
def test_every_seeded_row_reads_back_as_written(
    seeded: Repositories, seed_set: SeedSet, table: str
) -> None:
    rows = seed_set.rows[table]
    assert rows, f"the seeds hold no {table}"
    spec = TABLES[table]
    for row in rows:
        assert spec.to_row(_read(seeded, table, row)) == row


@pytest.mark.parametrize("table", ALL_TABLES)
def test_the_lists_hold_exactly_the_seeded_rows(
    seeded: Repositories, seed_set: SeedSet, table: str
) -> None:
    spec = TABLES[table]
    rows = seed_set.rows[table]
    if table == "organizations":
        scopes: Counter[Any] = Counter({None: len(rows)})
    elif table == "projects":
        scopes = Counter(r["organization_id"] for r in rows)
    else:
        scopes = Counter(r["project_id"] for r in rows)
    for scope, count in scopes.items():
        if table == "organizations":
            where: dict[str, Any] = {}
        elif table == "projects":
            where = {"organization_id": scope}
        else:
            where = {"project_id": scope}
        listed = list_all(seeded, table, where, page_size=2)
        assert len(listed) == count
        keys = [getattr(m, spec.primary_key) for m in listed]
        assert set(keys) <= {r[spec.primary_key] for r in rows}


def test_the_seed_ids_name_seeded_rows(seeded: Repositories, seed_set: SeedSet) -> None:
    ids = seed_set.ids
    project = seeded.projects.get_by_id(ids.project_id)
    assert project.organization_id == ids.organization_id
    assert seeded.organizations.get_by_id(ids.organization_id).id == ids.organization_id
    full = seeded.api_keys.get_by_key(ids.api_key)
    admin = seeded.api_keys.get_by_key(ids.admin_key)
    assert full.key != admin.key
    assert "full" in full.scopes
    assert "admin" in admin.scopes
    assert full.project_id == admin.project_id == ids.project_id
    assert full.active
    assert admin.active


def test_the_seed_ids_are_the_rows_the_seed_files_name(seed_set: SeedSet) -> None:
    def rows(table: str) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = json.loads((seeds_dir() / f"{table}.json").read_text())
        return data

    keys = rows("api_keys")
    assert seed_set.ids.organization_id == rows("organizations")[0]["id"]
    assert seed_set.ids.project_id == rows("projects")[0]["id"]
    assert seed_set.ids.api_key == next(k["key"] for k in keys if "full" in k["scopes"])
    assert seed_set.ids.admin_key == next(k["key"] for k in keys if "admin" in k["scopes"])


def test_the_seed_ids_repr_hides_the_keys(seed_set: SeedSet) -> None:
    shown = repr(seed_set.ids)
    assert seed_set.ids.project_id in shown
    assert seed_set.ids.api_key not in shown
    assert seed_set.ids.admin_key not in shown


def test_a_missing_seed_id_is_a_clear_error() -> None:
    with pytest.raises(AmpdbError, match="api_key"):
        _ = SeedIds({}).api_key


def test_seeded_integrations_point_at_their_latest_revision(
    seeded: Repositories, seed_set: SeedSet
) -> None:
    pointed = [r for r in seed_set.rows["integrations"] if r["latest_revision_id"] is not None]
    assert pointed, "the seeds set no latest_revision_id"
    for row in pointed:
        integration = seeded.integrations.get_by_id(row["project_id"], row["id"])
        revisions = seeded.revisions.list_by_integration(row["project_id"], row["id"])
        assert integration.latest_revision_id in [r.id for r in revisions]
