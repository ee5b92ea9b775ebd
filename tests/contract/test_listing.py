"""Lists: a stable order, keyset paging that survives inserts, page-size and token checks, filters."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pytest_ampdb.errors import ValidationError
from pytest_ampdb.models import ConnectionStatus, Destination
from pytest_ampdb.models.tables import TABLES
from pytest_ampdb.types import Repositories

from .builders import Builder, list_all, list_page, order_key, scope_of

ALL_TABLES = list(TABLES)
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _siblings(build: Builder, table: str, count: int) -> tuple[dict[str, Any], list[Any]]:
    first = build.make(table)
    scope = scope_of(table, first)
    return scope, [first, *(build.make(table, **scope) for _ in range(count - 1))]


@pytest.mark.parametrize("table", ALL_TABLES)
def test_paging_returns_every_row_once_in_list_order(
    build: Builder, repos: Repositories, table: str
) -> None:
    scope, rows = _siblings(build, table, 5)
    if scope:
        build.make(table)  # a row in another project / organization stays out of this list
    expected = sorted(rows, key=lambda r: order_key(table, r))

    seen: list[Any] = []
    token: str | None = None
    for _ in range(10):
        page = list_page(repos, table, scope, page_size=2, page_token=token)
        assert len(page.items) <= 2
        seen.extend(page.items)
        token = page.next_page_token
        if token is None:
            break
    assert seen == expected
    assert list_page(repos, table, scope).items == expected  # the default page holds them all


@pytest.mark.parametrize("table", ALL_TABLES)
def test_an_empty_list_is_one_empty_page(build: Builder, repos: Repositories, table: str) -> None:
    if table == "organizations":
        scope: dict[str, Any] = {}  # the store is empty
    elif table == "projects":
        scope = {"organization_id": build.organization().id}
    else:
        scope = {"project_id": build.project().id}
    page = list_page(repos, table, scope)
    assert page.items == []
    assert page.next_page_token is None


def test_rows_with_the_same_create_time_are_ordered_by_id(
    build: Builder, repos: Repositories
) -> None:
    pid = build.project().id
    rows = [build.destination(project_id=pid, create_time=T0) for _ in range(6)]
    listed = list_all(repos, "destinations", {"project_id": pid}, page_size=4)
    assert [r.id for r in listed] == sorted(r.id for r in rows)


def test_the_order_is_create_time_first(build: Builder, repos: Repositories) -> None:
    pid = build.project().id
    late = build.destination(project_id=pid, create_time=T0 + timedelta(microseconds=1))
    early = build.destination(project_id=pid, create_time=T0)
    assert list_all(repos, "destinations", {"project_id": pid}) == [early, late]


def test_a_full_last_page_has_no_next_token(build: Builder, repos: Repositories) -> None:
    pid = build.project().id
    for _ in range(4):
        build.jwt_key(project_id=pid)
    first = repos.jwt_keys.list(pid, page_size=2)
    assert first.next_page_token is not None
    second = repos.jwt_keys.list(pid, page_size=2, page_token=first.next_page_token)
    assert len(second.items) == 2
    assert second.next_page_token is None


def test_rows_inserted_between_pages_after_the_cursor_appear_and_none_repeat(
    build: Builder, repos: Repositories
) -> None:
    pid = build.project().id
    rows = [
        build.destination(project_id=pid, create_time=T0 + timedelta(seconds=i)) for i in range(6)
    ]
    page = repos.destinations.list(pid, page_size=2)
    assert page.items == rows[:2]
    cursor = rows[1]
    late = [
        build.destination(project_id=pid, create_time=cursor.create_time, id=_id("f")),
        build.destination(project_id=pid, create_time=T0 + timedelta(seconds=3, microseconds=5)),
        build.destination(project_id=pid),  # the clock's now: after everything
    ]
    early = [
        build.destination(project_id=pid, create_time=cursor.create_time, id=_id("0")),
        build.destination(project_id=pid, create_time=T0 - timedelta(seconds=1)),
    ]
    seen: list[Destination] = list(page.items)
    token = page.next_page_token
    while token is not None:
        page = repos.destinations.list(pid, page_size=2, page_token=token)
        seen.extend(page.items)
        token = page.next_page_token
        if len(seen) == 4:
            late.append(build.destination(project_id=pid))  # inserted mid-way, after the cursor

    assert len({r.id for r in seen}) == len(seen)
    assert seen == sorted([*rows, *late], key=_by_time_id)
    assert not {r.id for r in early} & {r.id for r in seen}


def _id(digit: str) -> str:
    return f"{digit * 8}-{digit * 4}-4{digit * 3}-8{digit * 3}-{digit * 12}"


def _by_time_id(row: Destination) -> tuple[Any, ...]:
    return (row.create_time, row.id)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "",
        "Q9JT+2qfys28V4ODN+UayA==",
        _b64("[1]"),
        _b64('["2025-01-01T00:00:00+00:00"]'),
        _b64('["yesterday", "a0000002-0000-4000-8000-000000000001"]'),
        _b64('["2025-01-01T00:00:00+00:00", "not-a-uuid"]'),
        _b64('{"create_time": 1}'),
    ],
)
def test_a_token_the_list_never_issued_is_a_validation_error(
    build: Builder, repos: Repositories, token: str
) -> None:
    pid = build.destination().project_id
    with pytest.raises(ValidationError) as caught:
        repos.destinations.list(pid, page_token=token)
    assert (caught.value.table, caught.value.column) == ("destinations", "page_token")


@pytest.mark.parametrize("page_size", [0, -1, 1001, "10", 2.5, None, True])
def test_a_page_size_outside_1_to_1000_is_a_validation_error(
    build: Builder, repos: Repositories, page_size: Any
) -> None:
    pid = build.destination().project_id
    with pytest.raises(ValidationError) as caught:
        repos.destinations.list(pid, page_size=page_size)
    assert (caught.value.table, caught.value.column) == ("destinations", "page_size")


@pytest.mark.parametrize("page_size", [1, 1000])
def test_page_sizes_1_and_1000_are_accepted(
    build: Builder, repos: Repositories, page_size: int
) -> None:
    row = build.destination()
    assert repos.destinations.list(row.project_id, page_size=page_size).items == [row]


def test_connections_list_filters_combine_with_paging(build: Builder, repos: Repositories) -> None:
    pid = build.project().id
    made = []
    for i in range(12):
        made.append(
            build.connection(
                project_id=pid,
                provider=("salesforce", "hubspot")[i % 2],
                group_ref=("xyz-company", "acme")[i % 3 == 0],
                consumer_ref=f"user-{i % 4}",
                status=list(ConnectionStatus)[i % 3],
            )
        )
    filters: list[dict[str, Any]] = [
        {},
        {"provider": "salesforce"},
        {"group_ref": "acme"},
        {"consumer_ref": "user-2"},
        {"status": ConnectionStatus.WORKING},
        {"status": "bad_credentials"},
        {"provider": "hubspot", "group_ref": "xyz-company"},
        {"provider": "hubspot", "group_ref": "xyz-company", "status": ConnectionStatus.CREATED},
        {"provider": "salesforce", "consumer_ref": "user-1"},  # nothing matches
    ]
    for where in filters:
        expected = [c for c in made if all(getattr(c, k) == v for k, v in where.items())]
        seen: list[Any] = []
        token: str | None = None
        while True:
            page = repos.connections.list(pid, page_size=1, page_token=token, **where)
            seen.extend(page.items)
            token = page.next_page_token
            if token is None:
                break
        assert seen == expected, where
    assert any(
        len([c for c in made if all(getattr(c, k) == v for k, v in w.items())]) == 0
        for w in filters
    )


def test_projects_list_by_organization(build: Builder, repos: Repositories) -> None:
    mine, theirs = build.organization().id, build.organization().id
    my_projects = [build.project(organization_id=mine) for _ in range(3)]
    their_projects = [build.project(organization_id=theirs) for _ in range(2)]
    assert list_all(repos, "projects", {"organization_id": mine}, page_size=2) == my_projects
    assert list_all(repos, "projects", {"organization_id": theirs}) == their_projects
    everything = list_all(repos, "projects", {}, page_size=1)
    assert sorted(p.id for p in everything) == sorted(p.id for p in my_projects + their_projects)
