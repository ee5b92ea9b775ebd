"""What the schema refuses: NULLs, values outside an enum, patterns, lengths, NUL characters."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pytest_ampdb.errors import NotFoundError, ValidationError
from pytest_ampdb.models.tables import TABLES
from pytest_ampdb.types import Repositories

from .builders import Builder, get


def _filled_by_repository(table: str) -> set[str]:
    spec = TABLES[table]
    filled = {spec.created_column} if spec.created_column else set()
    if spec.updated_on_create and spec.updated_column:
        filled.add(spec.updated_column)
    return filled


NOT_NULL = [
    pytest.param(name, column.name, id=f"{name}.{column.name}")
    for name, spec in TABLES.items()
    for column in spec.columns
    if not column.nullable and column.name not in _filled_by_repository(name)
]
ENUMS = [
    pytest.param(name, column.name, column.enum, id=f"{name}.{column.name}")
    for name, spec in TABLES.items()
    for column in spec.columns
    if column.enum is not None
]


def _refused(repos: Repositories, table: str, entity: Any, column: str) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        getattr(repos, table).create(entity)
    assert (caught.value.table, caught.value.column) == (table, column)
    assert str(caught.value).startswith(f"{table}.{column}: ")
    with pytest.raises((NotFoundError, ValidationError)):  # not stored (or not even a key)
        get(repos, table, entity)
    return caught.value


def test_every_enum_column_is_covered() -> None:
    covered = {p.id for p in ENUMS}
    assert covered == {
        "installations.health_status",
        "installations.last_operation_status",
        "operations.type",
        "operations.status",
        "connections.auth_scheme",
        "connections.status",
        "destinations.type",
    }


@pytest.mark.parametrize(("table", "column"), NOT_NULL)
def test_a_null_in_a_not_null_column_is_refused(
    build: Builder, repos: Repositories, table: str, column: str
) -> None:
    entity = dataclasses.replace(build.new(table), **{column: None})
    error = _refused(repos, table, entity, column)
    assert error.rule == "must not be null"


@pytest.mark.parametrize(("table", "column", "enum"), ENUMS)
def test_a_value_outside_an_enum_is_refused(
    build: Builder, repos: Repositories, table: str, column: str, enum: Any
) -> None:
    entity = dataclasses.replace(build.new(table), **{column: "bogus"})
    error = _refused(repos, table, entity, column)
    assert "bogus" in error.rule


@pytest.mark.parametrize(("table", "column", "enum"), ENUMS)
def test_every_enum_value_is_stored_as_its_enum_member(
    build: Builder, repos: Repositories, table: str, column: str, enum: Any
) -> None:
    for member in enum:
        # given as the plain stored string, handed back as the enum member
        created = build.make(table, **{column: str(member.value)})
        stored = getattr(get(repos, table, created), column)
        assert stored is member


@pytest.mark.parametrize("name", ["-acme", "acme-", "a", "", "ac me", "ac_me", "acme.io", "acmé"])
def test_project_names_must_match_the_pattern(
    build: Builder, repos: Repositories, name: str
) -> None:
    _refused(repos, "projects", build.new("projects", name=name), "name")


@pytest.mark.parametrize(("given", "stored"), [("ab", "ab"), ("My-Project-1", "my-project-1")])
def test_project_names_are_lower_cased_and_found_in_any_case(
    build: Builder, repos: Repositories, given: str, stored: str
) -> None:
    project = build.project(name=given)
    assert project.name == stored
    assert repos.projects.get_by_name(given.upper()) == project
    assert repos.projects.get_by_name(stored) == project


def test_a_renamed_project_is_lower_cased_and_checked(build: Builder, repos: Repositories) -> None:
    project = build.project()
    renamed = repos.projects.update(dataclasses.replace(project, name="Acme-Staging"))
    assert renamed.name == "acme-staging"
    with pytest.raises(ValidationError) as caught:
        repos.projects.update(dataclasses.replace(project, name="acme staging"))
    assert (caught.value.table, caught.value.column) == ("projects", "name")
    assert repos.projects.get_by_id(project.id).name == "acme-staging"


@pytest.mark.parametrize("label", ["x", "y" * 255, "ключ"])
def test_jwt_labels_of_1_to_255_characters_are_accepted(build: Builder, label: str) -> None:
    assert build.jwt_key(label=label).label == label


@pytest.mark.parametrize("label", ["", "z" * 256])
def test_jwt_labels_outside_1_to_255_characters_are_refused(
    build: Builder, repos: Repositories, label: str
) -> None:
    _refused(repos, "jwt_keys", build.new("jwt_keys", label=label), "label")
    key = build.jwt_key()
    with pytest.raises(ValidationError):
        repos.jwt_keys.update(dataclasses.replace(key, label=label))


@pytest.mark.parametrize("algorithm", ["HS256", "rs256", "RS512", "none"])
def test_jwt_algorithm_must_be_rs256(build: Builder, repos: Repositories, algorithm: str) -> None:
    _refused(repos, "jwt_keys", build.new("jwt_keys", algorithm=algorithm), "algorithm")


@pytest.mark.parametrize(
    "created_by",
    ["consumer:user-123", "builder:0d5aa4b1-2bc4-4313-b6e3-819b82d45787", "consumer:multi\nline"],
)
def test_installation_created_by_accepts_consumer_and_builder(
    build: Builder, created_by: str
) -> None:
    assert build.installation(created_by=created_by).created_by == created_by


@pytest.mark.parametrize(
    "created_by", ["consumer:", "builder:", "user-123", "admin:root", "Consumer:x", " consumer:x"]
)
def test_installation_created_by_must_name_consumer_or_builder(
    build: Builder, repos: Repositories, created_by: str
) -> None:
    _refused(
        repos, "installations", build.new("installations", created_by=created_by), "created_by"
    )


@pytest.mark.parametrize("scopes", [("full",), ("admin",), ("frontend", "full"), ()])
def test_api_key_scopes_from_the_allowed_set_are_accepted(
    build: Builder, scopes: tuple[str, ...]
) -> None:
    assert build.api_key(scopes=scopes).scopes == scopes


@pytest.mark.parametrize("scopes", [("full", "root"), ("FULL",), ("",)])
def test_api_key_scopes_outside_the_allowed_set_are_refused(
    build: Builder, repos: Repositories, scopes: tuple[str, ...]
) -> None:
    _refused(repos, "api_keys", build.new("api_keys", scopes=scopes), "scopes")


def test_text_arrays_accept_lists_and_hand_back_tuples(build: Builder) -> None:
    assert build.provider_app(scopes=["crm.read", "crm.write"]).scopes == ("crm.read", "crm.write")


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("integrations", "name", "read\x00accounts"),
        ("operations", "result", "done\x00"),
        ("installations", "config", {"provider": "sales\x00force"}),
        ("installations", "config", {"na\x00me": 1}),
        ("destinations", "metadata", {"urls": ["https://x.example", "\x00"]}),
        ("provider_apps", "scopes", ("crm.read", "crm\x00write")),
    ],
    ids=["text", "nullable-text", "jsonb-value", "jsonb-key", "jsonb-nested", "text-array"],
)
def test_nul_characters_are_refused(
    build: Builder, repos: Repositories, table: str, column: str, value: Any
) -> None:
    error = _refused(repos, table, build.new(table, **{column: value}), column)
    assert "NUL" in error.rule


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("read_states", "records_processed", "12"),
        ("read_states", "records_processed", True),
        ("jwt_keys", "active", "yes"),
        ("integrations", "name", 7),
        ("provider_apps", "scopes", "crm.read"),
        ("installations", "config", {"ratio": float("nan")}),
    ],
)
def test_values_of_the_wrong_type_are_refused(
    build: Builder, repos: Repositories, table: str, column: str, value: Any
) -> None:
    _refused(repos, table, build.new(table, **{column: value}), column)
