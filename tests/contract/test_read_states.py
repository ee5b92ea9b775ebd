"""``read_states.upsert``: one row per installation and object, updated as a read pages on."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from pytest_ampdb.errors import ForeignKeyError, NotFoundError
from pytest_ampdb.models import ReadState
from pytest_ampdb.repositories import utc_now
from pytest_ampdb.types import Repositories

from .builders import Builder


def _state(build: Builder, **fields: object) -> ReadState:
    state: ReadState = build.new("read_states", **fields)
    return state


def test_upsert_inserts_then_updates_the_same_row(build: Builder, repos: Repositories) -> None:
    first = _state(build, object_name="contact", next_page_token="Q9JT+2qfys28V4ODN+UayA==")
    before = utc_now()
    inserted = repos.read_states.upsert(first)
    assert inserted.id == first.id
    assert before <= inserted.update_time <= utc_now()

    since = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
    again = ReadState(  # a new model for the same installation and object: a fresh id
        project_id=first.project_id,
        installation_id=first.installation_id,
        object_name="contact",
        next_page_token="bmV4dCBwYWdl",
        since_time=since,
        records_processed=250,
    )
    updated = repos.read_states.upsert(again)

    assert updated.id == inserted.id != again.id
    assert (updated.next_page_token, updated.since_time, updated.records_processed) == (
        "bmV4dCBwYWdl",
        since,
        250,
    )
    assert updated.update_time > inserted.update_time
    assert repos.read_states.get(first.project_id, first.installation_id, "contact") == updated
    listed = repos.read_states.list(first.project_id).items
    assert [s.id for s in listed] == [inserted.id]


def test_upsert_can_clear_the_token_at_the_end_of_a_read(
    build: Builder, repos: Repositories
) -> None:
    state = repos.read_states.upsert(_state(build, records_processed=10))
    done = repos.read_states.upsert(
        dataclasses.replace(state, next_page_token=None, records_processed=20)
    )
    assert (done.id, done.next_page_token, done.records_processed) == (state.id, None, 20)


def test_upsert_of_another_object_is_another_row(build: Builder, repos: Repositories) -> None:
    contact = repos.read_states.upsert(_state(build, object_name="contact"))
    account = repos.read_states.upsert(
        _state(
            build,
            project_id=contact.project_id,
            installation_id=contact.installation_id,
            object_name="account",
        )
    )
    assert account.id != contact.id
    pid, iid = contact.project_id, contact.installation_id
    assert repos.read_states.get(pid, iid, "contact") == contact
    assert repos.read_states.get(pid, iid, "account") == account


def test_upsert_checks_references(build: Builder, repos: Repositories) -> None:
    state = _state(build)
    repos.installations.delete(state.project_id, state.installation_id)
    with pytest.raises(ForeignKeyError) as caught:
        repos.read_states.upsert(state)
    assert (caught.value.column, caught.value.references) == ("installation_id", "installations")


def test_get_of_an_absent_state_is_not_found(build: Builder, repos: Repositories) -> None:
    state = repos.read_states.upsert(_state(build, object_name="contact"))
    pid, iid = state.project_id, state.installation_id
    with pytest.raises(NotFoundError) as caught:
        repos.read_states.get(pid, iid, "opportunity")
    assert caught.value.table == "read_states"
    with pytest.raises(NotFoundError):
        repos.read_states.get(build.project().id, iid, "contact")
    with pytest.raises(NotFoundError):
        repos.read_states.get(pid, build.installation(project_id=pid).id, "contact")
