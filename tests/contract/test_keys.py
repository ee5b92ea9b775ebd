"""Primary and unique keys, references, and what deleting a referenced row does."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from pytest_ampdb.errors import AlreadyExistsError, ForeignKeyError, NotFoundError
from pytest_ampdb.models import OperationStatus
from pytest_ampdb.models.tables import TABLES
from pytest_ampdb.types import Repositories

from .builders import Builder, get, list_all

ALL_TABLES = list(TABLES)
FOREIGN_KEYS = [
    pytest.param(name, fk.column, fk.table, id=f"{name}.{fk.column}")
    for name, spec in TABLES.items()
    for fk in spec.foreign_keys
]
# The unique keys the schema promises (besides primary keys), spelled out so none can vanish.
UNIQUE_KEYS = [
    ("integrations", ("project_id", "name")),
    ("installations", ("project_id", "integration_id", "group_ref")),
    ("provider_apps", ("project_id", "provider")),
    ("destinations", ("project_id", "name")),
    ("read_states", ("project_id", "installation_id", "object_name")),
]
PROJECT_TABLES = [name for name, spec in TABLES.items() if spec.scope == "project_id"]


def _same_scope(table: str, row: Any) -> dict[str, Any]:
    return {"project_id": row.project_id} if TABLES[table].scope else {}


# -- keys ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ALL_TABLES)
def test_a_duplicate_primary_key_is_already_exists(
    build: Builder, repos: Repositories, table: str
) -> None:
    pk = TABLES[table].primary_key
    first = build.make(table)
    twin = dataclasses.replace(
        build.new(table, **_same_scope(table, first)), **{pk: getattr(first, pk)}
    )
    with pytest.raises(AlreadyExistsError) as caught:
        getattr(repos, table).create(twin)
    assert caught.value.table == table
    assert caught.value.columns == (pk,)
    assert get(repos, table, first) == first


@pytest.mark.parametrize(("table", "columns"), UNIQUE_KEYS)
def test_a_duplicate_unique_key_is_already_exists(
    build: Builder, repos: Repositories, table: str, columns: tuple[str, ...]
) -> None:
    first = build.make(table)
    same = {c: getattr(first, c) for c in columns}
    with pytest.raises(AlreadyExistsError) as caught:
        build.make(table, **{**_same_scope(table, first), **same})
    assert caught.value.table == table
    assert caught.value.columns == columns
    assert caught.value.values == tuple(same.values())
    assert table in str(caught.value)


def test_project_names_are_unique_after_lower_casing(build: Builder) -> None:
    build.project(name="acme-prod")
    with pytest.raises(AlreadyExistsError) as caught:
        build.project(name="ACME-Prod")
    assert (caught.value.table, caught.value.columns, caught.value.values) == (
        "projects",
        ("name",),
        ("acme-prod",),
    )


def test_api_keys_are_unique_across_projects(build: Builder) -> None:
    first = build.api_key()
    with pytest.raises(AlreadyExistsError) as caught:
        build.api_key(key=first.key)  # in a new project of its own
    assert (caught.value.table, caught.value.columns) == ("api_keys", ("key",))


@pytest.mark.parametrize(
    ("table", "column"),
    [("integrations", "name"), ("provider_apps", "provider"), ("destinations", "name")],
)
def test_project_unique_keys_allow_the_same_value_in_another_project(
    build: Builder, repos: Repositories, table: str, column: str
) -> None:
    first = build.make(table)
    second = build.make(table, **{column: getattr(first, column)})  # another project
    assert second.project_id != first.project_id
    assert get(repos, table, second) == second


def test_update_into_a_taken_unique_key_is_already_exists(
    build: Builder, repos: Repositories
) -> None:
    first = build.integration()
    second = build.integration(project_id=first.project_id)
    with pytest.raises(AlreadyExistsError) as caught:
        repos.integrations.update(dataclasses.replace(second, name=first.name))
    assert caught.value.columns == ("project_id", "name")
    assert repos.integrations.get_by_id(second.project_id, second.id) == second


def test_a_deleted_rows_unique_key_can_be_taken_again(build: Builder, repos: Repositories) -> None:
    gone = build.destination()
    repos.destinations.delete(gone.project_id, gone.id)
    again = build.destination(project_id=gone.project_id, name=gone.name)
    assert repos.destinations.get_by_name(gone.project_id, gone.name) == again


def test_renaming_frees_the_old_unique_key(build: Builder, repos: Repositories) -> None:
    row = build.destination()
    repos.destinations.update(dataclasses.replace(row, name="renamed"))
    reused = build.destination(project_id=row.project_id, name=row.name)
    assert repos.destinations.get_by_name(row.project_id, row.name) == reused
    with pytest.raises(AlreadyExistsError):
        build.destination(project_id=row.project_id, name="renamed")


# -- references ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("table", "column", "parent"), FOREIGN_KEYS)
def test_a_dangling_reference_is_a_foreign_key_error(
    build: Builder, repos: Repositories, table: str, column: str, parent: str
) -> None:
    entity = dataclasses.replace(build.new(table), **{column: str(uuid.uuid4())})
    with pytest.raises(ForeignKeyError) as caught:
        getattr(repos, table).create(entity)
    assert (caught.value.table, caught.value.column, caught.value.references) == (
        table,
        column,
        parent,
    )
    assert str(caught.value).startswith(f"{table}.{column} -> {parent}: ")
    with pytest.raises(NotFoundError):
        get(repos, table, entity)


def test_update_to_a_dangling_reference_is_a_foreign_key_error(
    build: Builder, repos: Repositories
) -> None:
    installation = build.installation()
    moved = dataclasses.replace(installation, connection_id=str(uuid.uuid4()))
    with pytest.raises(ForeignKeyError) as caught:
        repos.installations.update(moved)
    assert (caught.value.table, caught.value.column, caught.value.references) == (
        "installations",
        "connection_id",
        "connections",
    )


# -- deletes ------------------------------------------------------------------------------------


def test_an_organization_with_projects_cannot_be_deleted(
    build: Builder, repos: Repositories
) -> None:
    project = build.project()
    with pytest.raises(ForeignKeyError) as caught:
        repos.organizations.delete(project.organization_id)
    assert (caught.value.table, caught.value.column, caught.value.references) == (
        "projects",
        "organization_id",
        "organizations",
    )
    assert repos.projects.get_by_id(project.id) == project
    repos.projects.delete(project.id)
    repos.organizations.delete(project.organization_id)
    with pytest.raises(NotFoundError):
        repos.organizations.get_by_id(project.organization_id)


def test_a_connection_used_by_an_installation_cannot_be_deleted(
    build: Builder, repos: Repositories
) -> None:
    installation = build.installation()
    pid, connection_id = installation.project_id, installation.connection_id
    with pytest.raises(ForeignKeyError) as caught:
        repos.connections.delete(pid, connection_id)
    assert (caught.value.table, caught.value.column, caught.value.references) == (
        "installations",
        "connection_id",
        "connections",
    )
    assert repos.connections.get_by_id(pid, connection_id).id == connection_id
    repos.installations.delete(pid, installation.id)
    repos.connections.delete(pid, connection_id)
    with pytest.raises(NotFoundError):
        repos.connections.get_by_id(pid, connection_id)


def _fill_project(build: Builder) -> str:
    """A project with rows in every project-scoped table; returns its id."""
    pid = build.project().id
    integration = build.integration(project_id=pid)
    revision = build.revision(project_id=pid, integration_id=integration.id)
    build.repos.integrations.update(
        dataclasses.replace(integration, latest_revision_id=revision.id)
    )
    app = build.provider_app(project_id=pid)
    connection = build.connection(project_id=pid, provider_app_id=app.id)
    installation = build.installation(
        project_id=pid, integration_id=integration.id, connection_id=connection.id
    )
    build.operation_in(OperationStatus.RUNNING, project_id=pid, installation_id=installation.id)
    build.read_state(project_id=pid, installation_id=installation.id)
    build.api_key(project_id=pid)
    build.destination(project_id=pid)
    build.jwt_key(project_id=pid)
    return pid


def _counts(repos: Repositories, pid: str) -> dict[str, int]:
    return {t: len(list_all(repos, t, {"project_id": pid})) for t in PROJECT_TABLES}


def test_deleting_a_project_cascades_through_everything_under_it(
    build: Builder, repos: Repositories
) -> None:
    doomed, kept = _fill_project(build), _fill_project(build)
    assert set(_counts(repos, doomed).values()) == {1}
    kept_before = _counts(repos, kept)
    organization_id = repos.projects.get_by_id(doomed).organization_id

    repos.projects.delete(doomed)

    assert set(_counts(repos, doomed).values()) == {0}
    assert _counts(repos, kept) == kept_before
    with pytest.raises(NotFoundError):
        repos.projects.get_by_id(doomed)
    assert repos.organizations.get_by_id(organization_id).id == organization_id


def test_deleting_an_integration_cascades_to_its_rows_only(
    build: Builder, repos: Repositories
) -> None:
    pid = build.project().id
    doomed, kept = build.integration(project_id=pid), build.integration(project_id=pid)
    connection = build.connection(project_id=pid)
    for integration in (doomed, kept):
        build.revision(project_id=pid, integration_id=integration.id)
        installation = build.installation(
            project_id=pid, integration_id=integration.id, connection_id=connection.id
        )
        build.operation(project_id=pid, installation_id=installation.id)
        build.read_state(project_id=pid, installation_id=installation.id)
    before = _counts(repos, pid)

    repos.integrations.delete(pid, doomed.id)

    after = _counts(repos, pid)
    for table in ("integrations", "revisions", "installations", "operations", "read_states"):
        assert after[table] == before[table] - 1, table
    assert after["connections"] == before["connections"] == 1
    assert repos.revisions.list_by_integration(pid, doomed.id) == []
    assert len(repos.revisions.list_by_integration(pid, kept.id)) == 1
    for op in list_all(repos, "operations", {"project_id": pid}):
        assert op.integration_id == kept.id


def test_deleting_an_installation_cascades_to_operations_and_read_states(
    build: Builder, repos: Repositories
) -> None:
    installation = build.installation()
    pid = installation.project_id
    build.operation(project_id=pid, installation_id=installation.id)
    state = build.read_state(project_id=pid, installation_id=installation.id)
    repos.installations.delete(pid, installation.id)
    assert repos.operations.list_by_installation(pid, installation.id) == []
    with pytest.raises(NotFoundError):
        repos.read_states.get(pid, installation.id, state.object_name)
    assert repos.connections.get_by_id(pid, installation.connection_id).project_id == pid


def test_deleting_the_latest_revision_clears_the_integrations_reference(
    build: Builder, repos: Repositories
) -> None:
    integration = build.integration()
    pid = integration.project_id
    older = build.revision(project_id=pid, integration_id=integration.id)
    latest = build.revision(project_id=pid, integration_id=integration.id)
    repos.integrations.update(dataclasses.replace(integration, latest_revision_id=latest.id))

    repos.revisions.delete(pid, older.id)
    assert repos.integrations.get_by_id(pid, integration.id).latest_revision_id == latest.id

    repos.revisions.delete(pid, latest.id)
    assert repos.integrations.get_by_id(pid, integration.id).latest_revision_id is None


def test_deleting_a_provider_app_clears_the_connections_reference(
    build: Builder, repos: Repositories
) -> None:
    app = build.provider_app()
    connection = build.connection(project_id=app.project_id, provider_app_id=app.id)
    repos.provider_apps.delete(app.project_id, app.id)
    stored = repos.connections.get_by_id(app.project_id, connection.id)
    assert stored.provider_app_id is None
    assert dataclasses.replace(stored, provider_app_id=app.id) == connection
