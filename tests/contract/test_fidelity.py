"""Values at the edges: what PostgreSQL takes, refuses or hands back, the memory store does too.

Each test runs on both backends and names the exact outcome, so a difference between them (or a
raw driver error) fails here: long text in indexed columns, subclasses of the column types, JSON
that only looks like a NUL or nests deeply, times past 9999 in UTC, page tokens that must not
carry a secret, and the key a ``NotFoundError`` names.
"""

from __future__ import annotations

import base64
import dataclasses
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from enum import IntEnum, StrEnum
from typing import Any

import pytest

from pytest_ampdb.errors import NotFoundError, ValidationError
from pytest_ampdb.models.columns import Kind
from pytest_ampdb.models.entities import Destination
from pytest_ampdb.models.schema import BEYOND_9999, MAX_JSON_DEPTH
from pytest_ampdb.models.tables import MAX_INDEXED_TEXT, TABLES
from pytest_ampdb.repositories import pagination
from pytest_ampdb.types import Page, Repositories

from .builders import Builder, get, key_of, list_all

LIMITED = [
    pytest.param(name, check.column, id=f"{name}.{check.column}")
    for name, spec in TABLES.items()
    for check in spec.checks
    if check.name.endswith("_length_check")
]
SCOPED = [name for name, spec in TABLES.items() if spec.scope is not None]


def _incompressible(length: int, *, project_name: bool = False) -> str:
    """Random text PostgreSQL cannot compress below its btree limit (a project name: its
    alphabet only)."""
    chooser = random.Random(length)
    if project_name:
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        return "".join(chooser.choice(alphabet) for _ in range(length))
    return "".join(chr(chooser.randrange(0x4E00, 0x9FFF)) for _ in range(length))


def test_every_indexed_text_column_has_a_length_limit() -> None:
    """Keys, list orders, lookups and other indexes are btree indexes: each text column in one
    must be limited (``connections.consumer_ref`` is in a lookup index only)."""
    indexed = {
        (name, column)
        for name, spec in TABLES.items()
        for column in {c for key in spec.keys for c in key.columns}
        | {c for index in (*spec.index_columns, *spec.list_indexes) for c in index}
        if spec.column_map[column].kind is Kind.TEXT and spec.column_map[column].enum is None
    }
    assert indexed == {tuple(p.values) for p in LIMITED}


@pytest.mark.parametrize(("table", "column"), LIMITED)
def test_indexed_text_over_the_limit_is_a_validation_error_naming_the_limit(
    build: Builder, repos: Repositories, table: str, column: str
) -> None:
    is_project = table == "projects"
    long = _incompressible(3000, project_name=is_project)
    entity = dataclasses.replace(build.new(table), **{column: long})
    with pytest.raises(ValidationError) as caught:
        getattr(repos, table).create(entity)
    assert (caught.value.table, caught.value.column) == (table, column)
    assert str(caught.value) == f"{table}.{column}: must be at most {MAX_INDEXED_TEXT} characters"

    at_limit = _incompressible(MAX_INDEXED_TEXT, project_name=is_project)
    saved = getattr(repos, table).create(
        dataclasses.replace(build.new(table), **{column: at_limit})
    )
    assert getattr(get(repos, table, saved), column) == at_limit
    if table != "api_keys":  # the key is the primary key: it cannot change
        with pytest.raises(ValidationError) as caught:
            getattr(repos, table).update(dataclasses.replace(saved, **{column: long}))
        assert caught.value.rule == f"must be at most {MAX_INDEXED_TEXT} characters"
        assert get(repos, table, saved) == saved


# -- subclasses come back as the plain types PostgreSQL returns ---------------------------------


class Count(IntEnum):
    MANY = 7


class Word(str):
    pass


class Color(StrEnum):
    RED = "red"


class FrozenDatetime(datetime):
    """What a frozen clock (freezegun, time-machine) hands out."""


def test_subclass_values_come_back_as_plain_values(build: Builder, repos: Repositories) -> None:
    when = FrozenDatetime(2026, 3, 4, 5, 6, 7, 8, tzinfo=UTC)
    state = build.new(
        "read_states",
        records_processed=Count.MANY,
        object_name=Word("contact-sub"),
        next_page_token=Color.RED,
        since_time=when,
    )
    for stored in (repos.read_states.create(state), get(repos, "read_states", state)):
        assert type(stored.records_processed) is int
        assert stored.records_processed == 7
        assert type(stored.object_name) is str
        assert stored.object_name == "contact-sub"
        assert type(stored.next_page_token) is str
        assert stored.next_page_token == "red"
        assert type(stored.since_time) is datetime
        assert stored.since_time == when
        assert type(stored.update_time) is datetime


def test_an_enum_column_comes_back_as_the_models_enum(build: Builder, repos: Repositories) -> None:
    connection = build.connection(status="working")
    stored = get(repos, "connections", connection)
    assert type(stored.status) is type(connection.status)
    assert stored.status == "working"


# -- JSON -------------------------------------------------------------------------------------


def test_json_text_holding_a_literal_backslash_u0000_is_stored_as_is(
    build: Builder, repos: Repositories
) -> None:
    text = "\\u0000"  # six characters, no NUL
    destination = build.destination(metadata={"url": "https://example.com", "note": text})
    assert get(repos, "destinations", destination).metadata["note"] == text
    with pytest.raises(ValidationError) as caught:
        build.destination(metadata={"note": "a\x00b"})
    assert (caught.value.column, caught.value.rule) == (
        "metadata",
        "jsonb cannot contain NUL characters",
    )


def _nested(depth: int) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for _ in range(depth - 1):
        document = {"a": document}
    return document


def test_deeply_nested_json_is_a_validation_error_not_a_recursion_error(
    build: Builder, repos: Repositories
) -> None:
    with pytest.raises(ValidationError) as caught:
        build.destination(metadata=_nested(480))
    assert (caught.value.table, caught.value.column) == ("destinations", "metadata")
    assert caught.value.rule == f"jsonb nests deeper than {MAX_JSON_DEPTH} levels"
    deepest = build.destination(metadata=_nested(MAX_JSON_DEPTH))
    assert get(repos, "destinations", deepest).metadata == _nested(MAX_JSON_DEPTH)


# -- times past 9999 in UTC -------------------------------------------------------------------


def test_a_time_past_9999_in_utc_is_stored_as_the_same_instant(
    build: Builder, repos: Repositories
) -> None:
    given = datetime(9999, 12, 31, 23, 30, 15, 250000, tzinfo=timezone(timedelta(hours=-5)))
    first = build.destination(create_time=given)
    second = build.destination(project_id=first.project_id, create_time=given - timedelta(hours=1))
    stored = get(repos, "destinations", first)
    assert stored.create_time == given
    assert stored.create_time.utcoffset() == BEYOND_9999.utcoffset(None)
    assert stored.create_time == datetime(9999, 12, 31, 4, 31, 15, 250000, tzinfo=BEYOND_9999)
    listed = list_all(repos, "destinations", {"project_id": first.project_id}, page_size=1)
    assert [d.id for d in listed] == [second.id, first.id]
    normal = build.destination(create_time=datetime(2026, 1, 1, tzinfo=UTC))
    assert get(repos, "destinations", normal).create_time.tzinfo is UTC


# What PostgreSQL's timestamptz input makes of each text (SELECT '<text>'::timestamptz): a
# fraction finer than a microsecond is rounded to it, half to even, carrying into the seconds.
SUBMICROSECOND_TEXT = [
    ("2026-01-01T00:00:00.123456Z", datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)),
    ("2026-01-01T00:00:00.1234567Z", datetime(2026, 1, 1, 0, 0, 0, 123457, tzinfo=UTC)),
    ("2026-01-01T00:00:00.1234565Z", datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)),
    ("2026-01-01T00:00:00.1234575Z", datetime(2026, 1, 1, 0, 0, 0, 123458, tzinfo=UTC)),
    ("2026-01-01T00:00:00.12345650001Z", datetime(2026, 1, 1, 0, 0, 0, 123457, tzinfo=UTC)),
    ("2026-01-01T23:59:59.9999995+00:00", datetime(2026, 1, 2, tzinfo=UTC)),
    ("2026-01-01T05:29:59.99999999+05:30", datetime(2026, 1, 1, tzinfo=UTC)),
    ("9999-12-31T23:59:59.9999999Z", datetime(9999, 12, 31, 0, 1, tzinfo=BEYOND_9999)),
]


@pytest.mark.parametrize(
    ("text", "instant"), SUBMICROSECOND_TEXT, ids=[t for t, _ in SUBMICROSECOND_TEXT]
)
def test_a_time_given_as_text_is_rounded_to_the_microsecond_as_postgresql_rounds_it(
    build: Builder, repos: Repositories, text: str, instant: datetime
) -> None:
    made = build.destination(create_time=text)
    assert made.create_time == instant
    stored = get(repos, "destinations", made)
    assert stored.create_time == instant
    assert stored.create_time.utcoffset() == instant.utcoffset()


def test_a_token_decoded_in_full_continues_after_times_past_9999_and_before_1970(
    build: Builder, repos: Repositories
) -> None:
    pid = build.project().id
    times = [
        datetime(9999, 12, 31, 23, 30, 15, 250000, tzinfo=timezone(timedelta(hours=-5))),
        datetime(9999, 12, 31, 23, 30, 15, 250001, tzinfo=timezone(timedelta(hours=-5))),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1, 1, 2, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
    ]
    made = sorted(
        (build.destination(project_id=pid, create_time=at) for at in times),
        key=lambda d: (d.create_time, d.id),
    )
    seen, token = [], None
    while True:
        pagination._issued.clear()  # as in another instance of the service: decoded in full
        page = repos.destinations.list(pid, page_size=1, page_token=token)
        seen += [d.id for d in page.items]
        token = page.next_page_token
        if token is None:
            break
    assert seen == [d.id for d in made]


def test_a_token_naming_an_instant_no_time_can_hold_is_a_validation_error(
    build: Builder, repos: Repositories
) -> None:
    pid = build.destination().project_id
    for micros in (10**20, -(10**20)):
        forged = base64.urlsafe_b64encode(
            f'[{micros}, "{build.new("destinations").id}"]'.encode()
        ).decode()
        with pytest.raises(ValidationError) as caught:
            repos.destinations.list(pid, page_token=forged)
        assert (caught.value.table, caught.value.column) == ("destinations", "page_token")


# -- page tokens ------------------------------------------------------------------------------


def test_an_api_keys_page_token_does_not_reveal_a_key(build: Builder, repos: Repositories) -> None:
    pid = build.project().id
    keys = {build.api_key(project_id=pid).key for _ in range(3)}
    token = repos.api_keys.list(pid, page_size=1).next_page_token
    assert token is not None
    decoded = base64.urlsafe_b64decode(token.encode()).decode()
    for key in keys:
        assert key not in token
        assert key not in decoded
        assert key.removeprefix("amp_test_") not in decoded
    assert {k.key for k in list_all(repos, "api_keys", {"project_id": pid}, page_size=1)} == keys


@pytest.mark.parametrize(
    "forged",
    [
        base64.urlsafe_b64encode(b"[" * 100_000 + b"]" * 100_000).decode(),  # nests too deep
        base64.urlsafe_b64encode(b'["2030-01-01T00:00:00+00:00", "amp_test_one"]').decode(),
    ],
    ids=["deep", "plain-key"],
)
def test_a_forged_api_keys_token_is_a_validation_error(
    build: Builder, repos: Repositories, forged: str
) -> None:
    pid = build.api_key().project_id
    with pytest.raises(ValidationError) as caught:
        repos.api_keys.list(pid, page_token=forged)
    assert (caught.value.table, caught.value.column) == ("api_keys", "page_token")


@pytest.mark.parametrize("decoded_in_full", [False, True], ids=["remembered", "in-full"])
def test_a_page_token_continues_only_the_list_that_issued_it(
    build: Builder, repos: Repositories, decoded_in_full: bool
) -> None:
    """A token asked of another list (other filters, another project, another table) is
    refused with a ``ValidationError`` on ``page_token``, not served from an unrelated
    position (AIP-158); the same list with another page size follows it."""
    pid = build.project().id
    other = build.project().id
    for provider in ("a", "a", "a", "b", "b"):
        build.connection(project_id=pid, provider=provider)
    build.destination(project_id=pid)
    token = repos.connections.list(pid, provider="a", page_size=1).next_page_token
    assert token is not None

    def follow(call: Callable[[], object]) -> object:
        if decoded_in_full:
            pagination._issued.clear()  # as in another instance of the service
        return call()

    elsewhere = [
        lambda: repos.connections.list(pid, provider="b", page_size=1, page_token=token),
        lambda: repos.connections.list(pid, page_size=1, page_token=token),
        lambda: repos.connections.list(other, provider="a", page_size=1, page_token=token),
        lambda: repos.destinations.list(pid, page_size=1, page_token=token),
    ]
    for call in elsewhere:
        with pytest.raises(ValidationError, match="issued for another list") as caught:
            follow(call)
        assert caught.value.column == "page_token"
    page = follow(lambda: repos.connections.list(pid, provider="a", page_size=5, page_token=token))
    assert isinstance(page, Page)
    assert len(page.items) == 2
    assert {c.provider for c in page.items} == {"a"}


# -- NotFoundError ----------------------------------------------------------------------------


def test_updating_a_missing_revision_is_not_found(build: Builder, repos: Repositories) -> None:
    revision = build.new("revisions")
    with pytest.raises(NotFoundError) as caught:
        repos.revisions.update(revision)
    assert caught.value.key == f"project_id={revision.project_id}, id={revision.id}"
    saved = repos.revisions.create(revision)
    with pytest.raises(ValidationError):
        repos.revisions.update(dataclasses.replace(saved, spec_version="9.9.9"))


@pytest.mark.parametrize("table", SCOPED)
def test_not_found_names_the_key_the_same_way_for_get_update_and_delete(
    build: Builder, repos: Repositories, table: str
) -> None:
    missing = build.new(table)
    repo = getattr(repos, table)
    keys = []
    for call in (
        lambda: repo.get_by_id(*key_of(table, missing)),
        lambda: repo.update(missing),
        lambda: repo.delete(*key_of(table, missing)),
    ):
        with pytest.raises(NotFoundError) as caught:
            call()
        keys.append(caught.value.key)
    assert len(set(keys)) == 1
    assert keys[0].startswith(f"project_id={missing.project_id}, ")


# -- time texts PostgreSQL refuses, and an id that may be a secret ---------------------------

# Forms ``datetime.fromisoformat`` reads but ``SELECT '<text>'::timestamptz`` refuses.
TIME_TEXT_POSTGRESQL_REFUSES = [
    "2026-01-01T00:00:00,5Z",  # a comma before the fraction
    "2026-01-01 00:00,5",
    "2026-W01-4",  # a week date
    "2026W014",
    "2026-01-01T00",  # the hour alone
    "2026-01-01 00+01",
    "2026-01-01T00Z",
    "2026-01-01t10",
    "2026-01-01T10.5",
]


@pytest.mark.parametrize("text", TIME_TEXT_POSTGRESQL_REFUSES)
def test_a_time_text_postgresql_refuses_is_a_validation_error(
    build: Builder, repos: Repositories, text: str
) -> None:
    pid = build.project().id
    with pytest.raises(ValidationError) as caught:
        build.destination(project_id=pid, create_time=text)
    assert (caught.value.table, caught.value.column) == ("destinations", "create_time")
    assert "invalid input syntax for type timestamp with time zone" in str(caught.value)
    assert repos.destinations.list(pid).items == []


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("20260101T000000Z", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T0000Z", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T00:00:00.5+0530", datetime(2025, 12, 31, 18, 30, 0, 500000, tzinfo=UTC)),
        ("2026-01-01 00:00+01", datetime(2025, 12, 31, 23, tzinfo=UTC)),
    ],
)
def test_a_time_text_postgresql_takes_is_taken(
    build: Builder, repos: Repositories, text: str, instant: datetime
) -> None:
    made = build.destination(create_time=text)
    assert get(repos, "destinations", made).create_time == instant


def test_a_secret_given_as_an_id_is_not_shown_in_the_error(
    build: Builder, repos: Repositories
) -> None:
    """An API key passed where an id belongs (a mixed-up argument) is refused without being
    quoted: an error text ends up in logs and CI reports."""
    key = build.api_key().key
    pid = build.project().id
    for call in (
        lambda: repos.destinations.get_by_id(pid, key),
        lambda: repos.destinations.list(key),
        lambda: repos.projects.get_by_id(key),
    ):
        with pytest.raises(ValidationError) as caught:
            call()
        assert key not in str(caught.value)
        assert key not in repr(caught.value)
        assert f"a {len(key)}-character text is not a valid UUID" in str(caught.value)


# -- a model subclass the schema does not declare ------------------------------------------


@dataclasses.dataclass(frozen=True)
class TieredDestination(Destination):
    tier: str = "gold"


@dataclasses.dataclass(frozen=True)
class NamedDestination(Destination):
    """A subclass adding behaviour, no field: its row is the parent's."""

    def label(self) -> str:
        return f"destination {self.name}"


def test_an_undeclared_subclass_with_fields_is_refused_not_stored_without_them(
    build: Builder, repos: Repositories
) -> None:
    """Storing it would drop ``tier`` silently (both backends hold only the declared columns),
    and reading it back would give a plain ``Destination``."""
    pid = build.project().id
    new = build.new("destinations")
    tiered = TieredDestination(**{**dataclasses.asdict(new), "project_id": pid})
    with pytest.raises(TypeError) as caught:
        repos.destinations.create(tiered)
    assert str(caught.value) == (
        "destinations: TieredDestination has fields the table does not hold (tier); declare it "
        "as the table's model (--ampdb-schema) so its columns exist, or pass a Destination"
    )
    assert repos.destinations.list(pid).items == []
    saved = build.destination(project_id=pid)
    with pytest.raises(TypeError, match=r"\(tier\)"):
        repos.destinations.update(TieredDestination(**dataclasses.asdict(saved)))
    assert get(repos, "destinations", saved) == saved

    named = NamedDestination(**{**dataclasses.asdict(new), "project_id": pid})
    stored = repos.destinations.create(named)
    assert type(stored) is Destination
    assert get(repos, "destinations", stored) == stored
