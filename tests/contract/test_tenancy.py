"""Tenant isolation: no reference, write or cascade ever reaches another project's rows.

Every project-scoped reference (declared once in ``models/tables.py``) is tried across projects
on create, update and ``read_states.upsert``: each is refused exactly as a dangling reference is,
with a message that says nothing about the other project, and nothing is written. Every ON DELETE
path is run with a twin row in another project that must come through untouched.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pytest_ampdb.errors import AlreadyExistsError, ForeignKeyError, NotFoundError
from pytest_ampdb.models.schema import ForeignKey, OnDelete
from pytest_ampdb.models.tables import TABLES
from pytest_ampdb.types import Repositories

from .builders import Builder, get

SCOPED_REFERENCES = [
    pytest.param(name, fk, id=f"{name}.{fk.column}")
    for name, spec in TABLES.items()
    for fk in spec.foreign_keys
    if fk.scope is not None
]

MUTABLE_REFERENCES = [p for p in SCOPED_REFERENCES if not TABLES[p.values[0]].immutable]  # type: ignore[index]


def test_every_reference_of_a_scoped_table_is_project_scoped() -> None:
    """Only the project reference itself (and the unscoped tables') may leave the project."""
    loose = [
        f"{name}.{fk.column}"
        for name, spec in TABLES.items()
        for fk in spec.foreign_keys
        if spec.scope is not None and fk.scope is None and fk.column != spec.scope
    ]
    assert loose == []
    assert len(SCOPED_REFERENCES) == 8


def _refused_as_dangling(
    caught: pytest.ExceptionInfo[ForeignKeyError],
    table: str,
    fk: ForeignKey,
    project_id: str,
    value: str,
) -> None:
    parent = TABLES[fk.table]
    assert (caught.value.table, caught.value.column, caught.value.references) == (
        table,
        fk.column,
        fk.table,
    )
    assert str(caught.value) == (
        f"{table}.{fk.column} -> {fk.table}: no {fk.table} row with "
        f"project_id={project_id}, {parent.primary_key}={value}"
    )


def _parent_in(build: Builder, fk: ForeignKey, project_id: str) -> Any:
    return build.make(fk.table, project_id=project_id)


@pytest.mark.parametrize(("table", "fk"), SCOPED_REFERENCES)
def test_create_naming_another_projects_row_is_refused_as_dangling(
    build: Builder, repos: Repositories, table: str, fk: ForeignKey
) -> None:
    mine, theirs = build.project().id, build.project().id
    foreign = _parent_in(build, fk, theirs)
    entity = dataclasses.replace(build.new(table, project_id=mine), **{fk.column: foreign.id})
    with pytest.raises(ForeignKeyError) as caught:
        getattr(repos, table).create(entity)
    _refused_as_dangling(caught, table, fk, mine, foreign.id)
    with pytest.raises(NotFoundError):
        get(repos, table, entity)
    assert get(repos, fk.table, foreign) == foreign


@pytest.mark.parametrize(("table", "fk"), MUTABLE_REFERENCES)
def test_update_to_another_projects_row_is_refused_as_dangling(
    build: Builder, repos: Repositories, table: str, fk: ForeignKey
) -> None:
    mine, theirs = build.project().id, build.project().id
    row = build.make(table, project_id=mine)
    foreign = _parent_in(build, fk, theirs)
    with pytest.raises(ForeignKeyError) as caught:
        getattr(repos, table).update(dataclasses.replace(row, **{fk.column: foreign.id}))
    _refused_as_dangling(caught, table, fk, mine, foreign.id)
    assert get(repos, table, row) == row


def test_upsert_with_another_projects_installation_leaves_its_cursor_alone(
    build: Builder, repos: Repositories
) -> None:
    mine = build.project().id
    theirs = build.read_state()
    fk = TABLES["read_states"].foreign_keys[1]
    intruder = dataclasses.replace(
        theirs,
        id=build.new("read_states").id,
        project_id=mine,
        next_page_token="stolen",
        records_processed=999,
    )
    with pytest.raises(ForeignKeyError) as caught:
        repos.read_states.upsert(intruder)
    _refused_as_dangling(caught, "read_states", fk, mine, theirs.installation_id)
    assert (
        repos.read_states.get(theirs.project_id, theirs.installation_id, theirs.object_name)
        == theirs
    )
    with pytest.raises(NotFoundError):
        repos.read_states.get(mine, theirs.installation_id, theirs.object_name)


def test_upsert_of_a_new_cursor_with_another_projects_installation_is_refused(
    build: Builder, repos: Repositories
) -> None:
    mine = build.project().id
    installation = build.installation()
    state = dataclasses.replace(
        build.new("read_states", project_id=mine, installation_id=installation.id)
    )
    with pytest.raises(ForeignKeyError):
        repos.read_states.upsert(state)
    with pytest.raises(NotFoundError):
        repos.read_states.get(mine, installation.id, state.object_name)


def test_a_unique_key_of_another_project_is_not_revealed(
    build: Builder, repos: Repositories
) -> None:
    """Naming another project's integration and one of its group refs is a dangling reference,
    not a duplicate: the error must not confirm that the other project has that row."""
    theirs = build.installation()
    mine = build.project().id
    probe = dataclasses.replace(
        build.new("installations", project_id=mine),
        integration_id=theirs.integration_id,
        group_ref=theirs.group_ref,
    )
    with pytest.raises(ForeignKeyError) as caught:
        repos.installations.create(probe)
    assert not isinstance(caught.value, AlreadyExistsError)
    assert caught.value.column == "integration_id"


# -- every ON DELETE path stays inside the project ------------------------------------------


def _child(build: Builder, table: str, fk: ForeignKey, project_id: str) -> tuple[Any, Any]:
    """A parent row in ``project_id`` and a row of ``table`` referencing it through ``fk``."""
    parent = _parent_in(build, fk, project_id)
    return parent, build.make(table, project_id=project_id, **{fk.column: parent.id})


@pytest.mark.parametrize(("table", "fk"), SCOPED_REFERENCES)
def test_deleting_a_parent_acts_on_its_project_only(
    build: Builder, repos: Repositories, table: str, fk: ForeignKey
) -> None:
    doomed_parent, child = _child(build, table, fk, build.project().id)
    kept_parent, twin = _child(build, table, fk, build.project().id)
    parent_repo = getattr(repos, fk.table)
    delete = lambda: parent_repo.delete(doomed_parent.project_id, doomed_parent.id)  # noqa: E731

    if fk.on_delete is OnDelete.NO_ACTION:
        with pytest.raises(ForeignKeyError) as caught:
            delete()
        assert (caught.value.table, caught.value.column) == (table, fk.column)
        assert str(caught.value).endswith(
            f"{fk.table} row {TABLES[fk.table].primary_key}={doomed_parent.id} is still referenced"
        )
        assert get(repos, fk.table, doomed_parent) == doomed_parent
        assert get(repos, table, child) == child
    else:
        delete()
        with pytest.raises(NotFoundError):
            get(repos, fk.table, doomed_parent)
        if fk.on_delete is OnDelete.CASCADE:
            with pytest.raises(NotFoundError):
                get(repos, table, child)
        else:
            left = get(repos, table, child)
            assert getattr(left, fk.column) is None
            assert left.project_id == child.project_id
    assert get(repos, fk.table, kept_parent) == kept_parent
    assert get(repos, table, twin) == twin


def test_a_refused_delete_names_the_row_asked_for_in_every_backend(
    build: Builder, repos: Repositories
) -> None:
    """Two installations block their connection's delete: the error names the connection
    (the row the caller asked to delete), the same in both backends."""
    first = build.installation()
    pid = first.project_id
    build.installation(
        project_id=pid, connection_id=first.connection_id, integration_id=first.integration_id
    )
    with pytest.raises(ForeignKeyError) as caught:
        repos.connections.delete(pid, first.connection_id)
    assert str(caught.value) == (
        "installations.connection_id -> connections: "
        f"connections row id={first.connection_id} is still referenced"
    )
