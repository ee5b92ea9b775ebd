"""Create, get, update and delete: one generic test per behaviour, run over all twelve tables."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from pytest_ampdb.errors import NotFoundError, ValidationError
from pytest_ampdb.models.columns import Kind
from pytest_ampdb.models.tables import TABLES
from pytest_ampdb.repositories import utc_now
from pytest_ampdb.types import Repositories

from .builders import Builder, delete, get, key_of, scope_of

ALL_TABLES = list(TABLES)
SCOPED = [name for name, spec in TABLES.items() if spec.scope is not None]
WITH_CREATE_TIME = [name for name, spec in TABLES.items() if spec.created_column]
UUID_KEYED = [n for n, s in TABLES.items() if s.column_map[s.primary_key].kind is Kind.UUID]
MUTABLE = [name for name, spec in TABLES.items() if not spec.immutable]
REFERENCING = [name for name, spec in TABLES.items() if spec.foreign_keys]
PAST = datetime(2024, 5, 17, 8, 30, 15, 123456, tzinfo=UTC)

# One ordinary change per mutable table, to see that update stores it.
CHANGES: dict[str, dict[str, Any]] = {
    "organizations": {"label": "Renamed Org"},
    "projects": {"app_name": "Renamed App"},
    "integrations": {"provider": "hubspot"},
    "installations": {"group_name": "Globex", "config": {"provider": "hubspot"}},
    "operations": {"metadata": {"objects": ["lead"]}},
    "connections": {"consumer_name": "Jane Roe", "provider_workspace_ref": "ws-9"},
    "provider_apps": {"client_id": "client-new", "scopes": ("crm.read",)},
    "api_keys": {"label": "Rotated", "active": False},
    "destinations": {"metadata": {"url": "https://webhooks.example.com/new"}},
    "jwt_keys": {"label": "renamed", "active": False},
    "read_states": {"records_processed": 42, "next_page_token": None},
}


def _other_project(build: Builder) -> str:
    return build.project().id


def _plain_fields(table: str, entity: Any) -> dict[str, Any]:
    """The columns the repository must store exactly as given (not the times it fills)."""
    spec = TABLES[table]
    filled = {spec.created_column, spec.updated_column}
    return {k: v for k, v in spec.to_row(entity).items() if k not in filled}


def test_changes_cover_every_mutable_table() -> None:
    assert set(CHANGES) == set(MUTABLE)


@pytest.mark.parametrize("table", ALL_TABLES)
def test_create_fills_times_and_get_returns_an_equal_model(
    build: Builder, repos: Repositories, table: str
) -> None:
    spec = TABLES[table]
    entity = build.new(table)
    before = utc_now()
    created = getattr(repos, table).create(entity)
    after = utc_now()

    assert type(created) is spec.model
    assert _plain_fields(table, created) == _plain_fields(table, entity)
    if spec.created_column:
        assert before <= getattr(created, spec.created_column) <= after
    if spec.updated_on_create:
        stamped = getattr(created, spec.updated_column or "")
        assert before <= stamped <= after
        if spec.created_column:
            assert stamped == getattr(created, spec.created_column)
    assert get(repos, table, created) == created


@pytest.mark.parametrize("table", WITH_CREATE_TIME)
def test_create_keeps_a_given_create_time(build: Builder, repos: Repositories, table: str) -> None:
    created = getattr(repos, table).create(build.new(table, create_time=PAST))
    assert created.create_time == PAST
    assert get(repos, table, created).create_time == PAST
    if TABLES[table].updated_on_create:
        assert created.update_time == PAST


def test_create_stores_times_in_utc(build: Builder, repos: Repositories) -> None:
    naive = datetime(2025, 1, 2, 3, 4, 5, 600000)
    shifted = datetime(2025, 1, 2, 5, 4, 5, 600000, tzinfo=timezone(timedelta(hours=2)))
    first = build.destination(create_time=naive)
    second = build.destination(create_time=shifted)
    assert first.create_time == naive.replace(tzinfo=UTC)
    assert second.create_time == naive.replace(tzinfo=UTC)
    assert second.create_time.utcoffset() == timedelta(0)


@pytest.mark.parametrize("table", ALL_TABLES)
def test_get_missing_row_is_not_found(build: Builder, repos: Repositories, table: str) -> None:
    entity = build.new(table)  # parents saved, the row itself not
    with pytest.raises(NotFoundError) as caught:
        get(repos, table, entity)
    assert caught.value.table == table


@pytest.mark.parametrize("table", SCOPED)
def test_a_row_of_another_project_is_not_found(
    build: Builder, repos: Repositories, table: str
) -> None:
    row = build.make(table)
    other = _other_project(build)
    repo = getattr(repos, table)
    pk = getattr(row, TABLES[table].primary_key)
    with pytest.raises(NotFoundError):
        repo.get_by_id(other, pk)
    with pytest.raises(NotFoundError):
        repo.delete(other, pk)
    if not TABLES[table].immutable:
        with pytest.raises(NotFoundError):
            repo.update(dataclasses.replace(row, project_id=other))
    assert get(repos, table, row) == row  # untouched by all of that


@pytest.mark.parametrize("table", UUID_KEYED)
def test_uppercase_uuids_are_stored_and_found_in_lowercase(
    build: Builder, repos: Repositories, table: str
) -> None:
    spec = TABLES[table]
    entity = build.new(table)
    upper = {name: getattr(entity, name).upper() for name in _uuid_columns(table, entity)}
    created = getattr(repos, table).create(dataclasses.replace(entity, **upper))
    for name in upper:
        assert getattr(created, name) == getattr(entity, name).lower()
    found = getattr(repos, table).get_by_id(*(k.upper() for k in key_of(table, created)))
    assert found == created
    assert getattr(found, spec.primary_key) == getattr(entity, spec.primary_key).lower()


def _uuid_columns(table: str, entity: Any) -> list[str]:
    return [
        c.name
        for c in TABLES[table].columns
        if c.kind is Kind.UUID and getattr(entity, c.name) is not None
    ]


@pytest.mark.parametrize("table", UUID_KEYED)
def test_an_invalid_uuid_is_a_validation_error_naming_the_column(
    build: Builder, repos: Repositories, table: str
) -> None:
    spec = TABLES[table]
    row = build.make(table)
    bad_key = (*key_of(table, row)[:-1], "not-a-uuid")
    with pytest.raises(ValidationError) as caught:
        getattr(repos, table).get_by_id(*bad_key)
    assert (caught.value.table, caught.value.column) == (table, spec.primary_key)
    assert f"{table}.{spec.primary_key}" in str(caught.value)


@pytest.mark.parametrize("table", REFERENCING)
def test_an_invalid_reference_uuid_on_create_names_the_column(
    build: Builder, repos: Repositories, table: str
) -> None:
    column = TABLES[table].foreign_keys[0].column
    entity = dataclasses.replace(build.new(table), **{column: "1234-not-a-uuid"})
    with pytest.raises(ValidationError) as caught:
        getattr(repos, table).create(entity)
    assert (caught.value.table, caught.value.column) == (table, column)
    assert str(caught.value).startswith(f"{table}.{column}: ")


@pytest.mark.parametrize("table", MUTABLE)
def test_update_stores_changes_sets_update_time_and_keeps_create_time(
    build: Builder, repos: Repositories, table: str
) -> None:
    spec = TABLES[table]
    row = getattr(repos, table).create(build.new(table, **_past(table)))
    # A caller may hand back a model with another (or no) create_time: the stored one wins.
    changed = dataclasses.replace(row, **CHANGES[table], **_past(table, shift=timedelta(days=3)))
    before = utc_now()
    updated = getattr(repos, table).update(changed)
    after = utc_now()

    for name, value in CHANGES[table].items():
        assert getattr(updated, name) == value
    if spec.created_column:
        assert getattr(updated, spec.created_column) == getattr(row, spec.created_column)
    if spec.updated_column:
        assert before <= getattr(updated, spec.updated_column) <= after
    assert get(repos, table, row) == updated


def _past(table: str, shift: timedelta = timedelta(0)) -> dict[str, datetime]:
    column = TABLES[table].created_column
    return {column: PAST + shift} if column else {}


@pytest.mark.parametrize("table", MUTABLE)
def test_update_of_a_missing_row_is_not_found(
    build: Builder, repos: Repositories, table: str
) -> None:
    with pytest.raises(NotFoundError) as caught:
        getattr(repos, table).update(build.new(table))
    assert caught.value.table == table


@pytest.mark.parametrize("table", ALL_TABLES)
def test_delete_removes_the_row_once(build: Builder, repos: Repositories, table: str) -> None:
    row = build.make(table)
    neighbour = build.make(table, **scope_of(table, row))
    delete(repos, table, row)
    with pytest.raises(NotFoundError):
        get(repos, table, row)
    with pytest.raises(NotFoundError):
        delete(repos, table, row)
    assert get(repos, table, neighbour) == neighbour


def test_revisions_are_immutable(build: Builder, repos: Repositories) -> None:
    revision = build.revision()
    with pytest.raises(ValidationError) as caught:
        repos.revisions.update(dataclasses.replace(revision, spec_version="2.0.0"))
    assert caught.value.table == "revisions"
    assert repos.revisions.get_by_id(revision.project_id, revision.id) == revision


def test_ids_default_to_fresh_uuids(build: Builder, repos: Repositories) -> None:
    first, second = build.operation(), build.operation()
    assert first.id != second.id
    assert uuid.UUID(first.id).version == 7  # operations use time-ordered ids
    assert uuid.UUID(build.destination().id).version == 4


@pytest.mark.parametrize("table", ALL_TABLES)
def test_writing_something_that_is_not_the_tables_model_is_one_type_error(
    build: Builder, repos: Repositories, table: str
) -> None:
    """A dict, ``None``, another table's model or the model class is a programming mistake: a ``TypeError``
    naming the table and its model, not an ``AttributeError`` from inside the repository."""
    repo = getattr(repos, table)
    other = build.new("destinations" if table != "destinations" else "jwt_keys")
    model = TABLES[table].model.__name__
    calls = [repo.create, repo.update, *([repo.upsert] if table == "read_states" else [])]
    for call in calls:
        for wrong in (None, dataclasses.asdict(other), other):
            with pytest.raises(TypeError) as caught:
                call(wrong)
            assert str(caught.value) == f"{table}: expected a {model}, got {type(wrong).__name__}"
        with pytest.raises(TypeError) as caught:
            call(TABLES[table].model)  # the class, not a row: its slots are there, as descriptors
        assert str(caught.value) == (
            f"{table}: expected a {model}, got the class {model} (not an instance of it)"
        )
