"""Rows, field changes and lookup arguments for the differential test, drawn by Hypothesis.

Each column is described once (``FIELDS``) by two strategies. ``valid`` values come mostly from
small pools, so unique keys collide and lookups hit, and include what is legal but stored in
another form (JSON key order and numbers, times at other offsets, non-canonical UUIDs). ``wild``
values are the mistakes a user makes: dangling or malformed ids, bad enum strings, bad project
names, NUL characters, unpaired surrogates, over-long labels, NaN. A create draws every column
valid and then makes none, one or two of them wild; an update changes one to three columns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from hypothesis import strategies as st

from pytest_ampdb.models import (
    ENTITIES,
    AuthScheme,
    ConnectionStatus,
    DestinationType,
    HealthStatus,
    OperationStatus,
    OperationType,
)
from pytest_ampdb.models.tables import TABLES

T = TypeVar("T")

START = datetime(2030, 1, 1, tzinfo=UTC)
"""Where the shared clock starts: after every seed row, so new rows list after the seeds."""


class World(Protocol):
    """What the strategies may ask the test about the rows that exist (or existed)."""

    def known_ids(self, table: str) -> Sequence[str]:
        """Every id of ``table`` seen so far: seeded, created, and since deleted ones."""
        ...

    def ids_in(self, table: str, project_id: object) -> Sequence[str]:
        """Ids of the rows of ``table`` in ``project_id`` that exist now."""
        ...


Draw = Callable[..., Any]
"""``st.DataObject.draw``: a strategy and a ``label`` in, a value out."""

FieldMaker = Callable[[World, object], st.SearchStrategy[Any]]
"""The values a field may take, given the world and the project the row belongs to."""


def weighted(*choices: tuple[int, st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """One of ``choices`` picked by weight; shrinks towards the first one (keep it the valid one)."""
    table: list[st.SearchStrategy[T]] = [s for weight, s in choices for _ in range(weight)]
    return st.integers(0, len(table) - 1).flatmap(lambda i: table[i])


# -- scalar values ----------------------------------------------------------------------------

ODD_TEXT = (
    "",
    "with\x00nul",
    "lone\ud800surrogate",
    "tab\tand\nnewline",
    "emoji \U0001f600",
    "e\u0301",
    "\u0130stanbul",
    " padded ",
)
"""Text a user can pass by mistake or on purpose; NUL and unpaired surrogates cannot be stored."""

NOT_TEXT: tuple[object, ...] = (7, None)


def text(*pool: str, odd: bool = True, nullable: bool = False) -> st.SearchStrategy[Any]:
    """Mostly a value from ``pool`` (collisions), sometimes any short text or an odd value."""
    choices: list[tuple[int, st.SearchStrategy[Any]]] = (
        [(12, st.sampled_from(pool))] if pool else []
    )
    if nullable:
        choices.append((3, st.none()))
    choices.append((2, safe_text))
    if odd:
        choices += [(2, st.sampled_from(ODD_TEXT)), (1, st.sampled_from(NOT_TEXT))]
    return weighted(*choices)


def enum_value(enum: type[StrEnum], *, nullable: bool = False) -> st.SearchStrategy[Any]:
    """A member, its plain string, or a string that is no member (wrong case, unknown)."""
    members = list(enum)
    choices: list[tuple[int, st.SearchStrategy[Any]]] = [
        (8, st.sampled_from(members)),
        (3, st.sampled_from([m.value for m in members])),
    ]
    if nullable:
        choices.append((3, st.none()))
    choices.append((1, st.sampled_from(["bogus", members[0].value.upper(), "", None])))
    return weighted(*choices)


INVALID_UUIDS: tuple[object, ...] = (
    "not-a-uuid",
    "",
    "A0000002-0000-4000-8000-000000000001",
    "{a0000002-0000-4000-8000-000000000001}",
    "a0000002000040008000000000000001",
    "a0000002-0000-4000-8000-00000000000g",
    12,
    None,
)
"""Ids that are malformed, or valid in a non-canonical spelling, or not text at all."""

random_uuid = st.uuids().map(str)


def any_id(world: World, table: str) -> st.SearchStrategy[Any]:
    """An id to look up or delete: a known one (maybe deleted), a random one, or a bad one."""
    return weighted(
        (12, st.sampled_from(world.known_ids(table))),
        (2, random_uuid),
        (1, st.sampled_from(INVALID_UUIDS)),
    )


OFFSETS = (UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8)), None)

instants = st.builds(
    lambda micros, tz: (
        (START + timedelta(microseconds=micros)).astimezone(tz)
        if tz is not None
        else (START + timedelta(microseconds=micros)).replace(tzinfo=None)
    ),
    st.integers(-3, 40),
    st.sampled_from(OFFSETS),
)
"""Times around the clock's start (so rows tie on create_time), naive or at any offset."""

PAST_9999 = (
    datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5))),
    datetime(9999, 12, 31, 20, 0, 0, 1, tzinfo=timezone(timedelta(hours=-8))),
)
"""Times PostgreSQL stores although their UTC value is in year 10000."""


class Instant(datetime):
    """A datetime subclass, as a frozen clock hands out: stored and returned as a datetime."""


def _instant(value: datetime) -> Instant:
    v = value
    return Instant(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, v.tzinfo)


class Count(int):
    """An int subclass (an IntEnum member is one): stored and returned as an int."""


class Word(str):
    """A str subclass: stored and returned as a str."""


safe_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=6)
"""Short text PostgreSQL can store (no NUL, no surrogates)."""

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    safe_text,
)

json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(safe_text, inner, max_size=3),
    max_leaves=6,
)


@dataclass(frozen=True)
class Field:
    """How one column is drawn: ``valid`` values the schema accepts (duplicates included), and
    ``wild`` ones it must refuse the same way on both sides (references to other projects
    included)."""

    valid: FieldMaker
    wild: FieldMaker


def field_of(
    valid: st.SearchStrategy[Any] | FieldMaker, wild: st.SearchStrategy[Any] | FieldMaker
) -> Field:
    """A ``Field`` from two strategies (or world-dependent makers)."""
    return Field(_maker(valid), _maker(wild))


def _maker(source: st.SearchStrategy[Any] | FieldMaker) -> FieldMaker:
    if isinstance(source, st.SearchStrategy):
        strategy = source
        return lambda world, project_id: strategy
    return source


class _Default:
    """Marks a field left to the model's default (a fresh id, an enum default)."""

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _Default()


def words(*pool: str, nullable: bool = False) -> Field:
    """A text column: a value from ``pool`` (collisions), any storable text, or odd text."""
    valid = weighted(
        (10, st.sampled_from(pool)),
        (2, safe_text),
        (1, st.sampled_from(pool).map(Word)),
        *_none(nullable),
    )
    return field_of(valid, st.sampled_from((*ODD_TEXT, *NOT_TEXT)))


def member(enum: type[StrEnum], *, nullable: bool = False) -> Field:
    """An enum column: a member or its string; wild: no member (wrong case, unknown, null)."""
    members = list(enum)
    valid = weighted(
        (8, st.sampled_from(members)),
        (3, st.sampled_from([m.value for m in members])),
        *_none(nullable),
    )
    wild = ["bogus", members[0].value.upper(), "", 3]
    return field_of(valid, st.sampled_from(wild if nullable else [*wild, None]))


def refers_to(table: str, *, nullable: bool = False) -> Field:
    """A reference: an id in the row's project (any known id when it has none); wild: another
    project's id (refused as a dangling one is), a dangling or a malformed id."""

    def valid(world: World, project_id: object) -> st.SearchStrategy[Any]:
        same = world.ids_in(table, project_id)
        return weighted(
            (12, st.sampled_from(same or world.known_ids(table))),
            *_none(nullable, 4),
        )

    def wild(world: World, project_id: object) -> st.SearchStrategy[Any]:
        return weighted(
            (3, st.sampled_from(world.known_ids(table))),
            (2, random_uuid),
            (1, st.sampled_from(INVALID_UUIDS)),
        )

    return field_of(valid, wild)


def key_of_own(table: str) -> Field:
    """A new row's primary key: fresh (left to the model); wild: a known one or a bad one."""

    def wild(world: World, project_id: object) -> st.SearchStrategy[Any]:
        return weighted(
            (3, st.sampled_from(world.known_ids(table))), (1, st.sampled_from(INVALID_UUIDS))
        )

    return field_of(st.just(DEFAULT), wild)


def when(*, nullable: bool = True) -> Field:
    """A time column: mostly unset (the repository fills it) or an instant at any offset;
    wild: not a time, or a time that leaves the datetime range once moved to UTC."""
    valid = weighted(
        *_none(nullable, 8),
        (4, instants),
        (1, instants.map(lambda d: d.isoformat())),
        (1, st.sampled_from(PAST_9999)),
        (1, instants.filter(lambda d: d.tzinfo is not None).map(_instant)),
    )
    wild = st.sampled_from(["yesterday", 20300101, "0001-01-01T00:30:00+01:00"])
    return field_of(valid, wild)


STORED_DIFFERENTLY: tuple[object, ...] = (
    {"big": 1e16, "neg_zero": -0.0, "one": 1.0, "small": 1e-7},
    {"zz": 1, "a": 2, "mm": {"b": 1, "aa": 2}},
    {"\u00e9": 1, "z": 2, "ab": 3},
    {1: "int key", "t": (1, 2)},
    {"escaped": "\\u0000", "deep": [[[[[[[[1]]]]]]]]},
)
"""Documents jsonb keeps in another form than Python: key order, numbers, tuples, int keys."""


def _nested(depth: int) -> Any:
    document: Any = 1
    for _ in range(depth):
        document = [document]
    return document


def document(*, nullable: bool = False) -> Field:
    """A jsonb column: drawn documents and ones jsonb stores differently; wild: NaN, NUL, a
    lone surrogate."""
    valid = weighted(
        (8, st.dictionaries(safe_text, json_values, max_size=4)),
        (2, st.sampled_from(STORED_DIFFERENTLY)),
        *_none(nullable, 3),
    )
    wild = st.sampled_from(
        [{"n": float("nan")}, {"nul": "a\x00b"}, {"lone": "\ud800"}, "[1]", _nested(480)]
    )
    return field_of(valid, wild)


def words_list(*pool: str) -> Field:
    """A text[] column: a tuple or list from ``pool``; wild: odd items, or not a list."""
    items = st.lists(st.sampled_from(pool), max_size=3)
    odd_items = st.lists(st.sampled_from(ODD_TEXT), min_size=1, max_size=2)
    return field_of(
        weighted((4, items.map(tuple)), (1, items)),
        weighted((2, odd_items), (1, st.sampled_from(["full", None, (1,)]))),
    )


def _none(nullable: bool, weight: int = 3) -> list[tuple[int, st.SearchStrategy[Any]]]:
    return [(weight, st.none())] if nullable else []


PROJECT_NAMES = ("alpha", "beta", "Alpha", "ampersand-local", "gamma-2", "x1")
BAD_PROJECT_NAMES = ("a", "bad_name", "-lead", "trail-", "\u212aelvin", *ODD_TEXT)
API_KEYS = ("amp_test_one", "amp_test_two", "amp_test_One", "amp_test_\u00e9")
PEM = "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n"

_project = refers_to("projects")
_label = words("Acme", "acme", "Initech", "Umbrella")
_provider = words("salesforce", "hubspot", "Salesforce")
_group_ref = words("group-1", "group-2", "Group-1")
_created = when()


def _api_key_wild(world: World, project_id: object) -> st.SearchStrategy[Any]:
    return weighted(
        (3, st.sampled_from(world.known_ids("api_keys"))), (1, st.sampled_from(ODD_TEXT))
    )


FIELDS: Mapping[str, Mapping[str, Field]] = {
    "organizations": {
        "id": key_of_own("organizations"),
        "label": _label,
        "default_team_id": field_of(random_uuid, st.sampled_from(INVALID_UUIDS)),
        "create_time": _created,
    },
    "projects": {
        "id": key_of_own("projects"),
        "name": field_of(st.sampled_from(PROJECT_NAMES), st.sampled_from(BAD_PROJECT_NAMES)),
        "app_name": words("App", "Other App"),
        "organization_id": refers_to("organizations"),
        "create_time": _created,
    },
    "integrations": {
        "id": key_of_own("integrations"),
        "project_id": _project,
        "name": words("read-accounts", "sync", "Sync"),
        "provider": _provider,
        "latest_revision_id": refers_to("revisions", nullable=True),
        "create_time": _created,
    },
    "revisions": {
        "id": key_of_own("revisions"),
        "project_id": _project,
        "integration_id": refers_to("integrations"),
        "spec_version": words("1.0.0", "2.0.0"),
        "content": document(),
        "create_time": _created,
    },
    "installations": {
        "id": key_of_own("installations"),
        "project_id": _project,
        "integration_id": refers_to("integrations"),
        "connection_id": refers_to("connections"),
        "group_ref": _group_ref,
        "group_name": words("Group", "Other"),
        "health_status": member(HealthStatus),
        "last_operation_status": member(OperationStatus, nullable=True),
        "config": document(),
        "created_by": field_of(
            st.sampled_from(["consumer:user-1", "builder:b-1", "consumer:\nline"]),
            st.sampled_from(["consumer:", "nobody", "Consumer:x", None]),
        ),
        "create_time": _created,
    },
    "operations": {
        "id": key_of_own("operations"),
        "project_id": _project,
        "integration_id": refers_to("integrations"),
        "installation_id": refers_to("installations"),
        "type": member(OperationType),
        "status": member(OperationStatus),
        "result": words("ok", "[contact] No new data found", nullable=True),
        "metadata": document(nullable=True),
        "create_time": _created,
    },
    "connections": {
        "id": key_of_own("connections"),
        "project_id": _project,
        "provider": _provider,
        "provider_app_id": refers_to("provider_apps", nullable=True),
        "group_ref": _group_ref,
        "group_name": words("Acme Corp"),
        "consumer_ref": words("user-1", "user-2"),
        "consumer_name": words("John Doe"),
        "auth_scheme": member(AuthScheme),
        "status": member(ConnectionStatus),
        "provider_workspace_ref": words("ws-1", nullable=True),
        "provider_metadata": document(nullable=True),
        "create_time": _created,
    },
    "provider_apps": {
        "id": key_of_own("provider_apps"),
        "project_id": _project,
        "provider": _provider,
        "client_id": words("client-1", "client-2"),
        "client_secret": words("secret-1", "secret-2"),
        "scopes": words_list("read", "write", "Read"),
        "external_ref": words("ext-1", nullable=True),
        "metadata": document(nullable=True),
        "create_time": _created,
    },
    "api_keys": {
        "key": field_of(
            weighted((3, st.sampled_from(API_KEYS)), (1, st.uuids().map(lambda u: f"amp_{u.hex}"))),
            _api_key_wild,
        ),
        "project_id": _project,
        "label": _label,
        "active": field_of(st.booleans(), st.sampled_from([None, 1, "yes"])),
        "scopes": field_of(
            st.lists(st.sampled_from(["full", "frontend", "admin"]), max_size=3).map(tuple),
            st.sampled_from([("root",), ("full", "Full"), "full", [None]]),
        ),
        "create_time": _created,
    },
    "destinations": {
        "id": key_of_own("destinations"),
        "project_id": _project,
        "name": words("webhook-1", "webhook-2", "Webhook-1"),
        "type": member(DestinationType),
        "metadata": document(),
        "create_time": _created,
    },
    "jwt_keys": {
        "id": key_of_own("jwt_keys"),
        "project_id": _project,
        "label": field_of(
            st.sampled_from(["jwt", "rotated", "J" * 255, "\U0001f600" * 255]),
            st.sampled_from(["", "J" * 256, "\U0001f600" * 256, *ODD_TEXT[1:]]),
        ),
        "algorithm": field_of(st.just("RS256"), st.sampled_from(["HS256", "rs256", ""])),
        "public_key_pem": words(PEM),
        "active": field_of(st.booleans(), st.sampled_from([None, 0])),
        "create_time": _created,
        "update_time": _created,
    },
    "read_states": {
        "id": key_of_own("read_states"),
        "project_id": _project,
        "installation_id": refers_to("installations"),
        "object_name": words("contact", "account", "Contact", "a\u00e9"),
        "next_page_token": words("Q9JT+2qfys28V4ODN+UayA==", "bmV4dA==", nullable=True),
        "since_time": _created,
        "records_processed": field_of(
            weighted(
                (8, st.integers(0, 1000)),
                (1, st.sampled_from([2**63 - 1, -1])),
                (1, st.integers(0, 9).map(Count)),
            ),
            st.sampled_from([2**63, True, "3", None]),
        ),
        "update_time": _created,
    },
}
"""Every column a create may set, for every table."""

MODELS: Mapping[str, type[Any]] = {spec.name: spec.model for spec in TABLES.values()}

assert set(MODELS.values()) == set(ENTITIES)
assert set(FIELDS) == set(TABLES)
assert all(set(FIELDS[t]) <= set(TABLES[t].column_names) for t in TABLES)


def _draw_field(
    draw: Draw, world: World, table: str, name: str, project_id: object, wild: bool
) -> Any:
    spec = FIELDS[table][name]
    maker = spec.wild if wild else spec.valid
    return draw(maker(world, project_id), label=f"{table}.{name}" + (" (wild)" if wild else ""))


def new_row(draw: Draw, world: World, table: str) -> Any:
    """An unsaved model of ``table``: every column valid, then none, one or two of them wild.

    The project is drawn first so that references can mostly stay inside it.
    """
    fields = FIELDS[table]
    wild = set(
        draw(
            weighted(
                (6, st.just([])),
                (4, st.lists(st.sampled_from(list(fields)), min_size=1, max_size=2)),
            ),
            label="wild columns",
        )
    )
    values: dict[str, Any] = {}
    project_id: object = None
    if "project_id" in fields:
        project_id = values["project_id"] = _draw_field(
            draw, world, table, "project_id", None, "project_id" in wild
        )
    for name in fields:
        if name != "project_id":
            values[name] = _draw_field(draw, world, table, name, project_id, name in wild)
    return MODELS[table](**{k: v for k, v in values.items() if v is not DEFAULT})


def valid_row(draw: Draw, world: World, table: str, **fixed: Any) -> Any:
    """An unsaved model of ``table`` with every column valid, and ``fixed`` columns as given."""
    fields = FIELDS[table]
    project_id = fixed.get("project_id")
    if "project_id" in fields and project_id is None:
        project_id = _draw_field(draw, world, table, "project_id", None, False)
    values: dict[str, Any] = {"project_id": project_id} if "project_id" in fields else {}
    for name in fields:
        if name not in values:
            values[name] = fixed.get(name, DEFAULT)
            if name not in fixed:
                values[name] = _draw_field(draw, world, table, name, project_id, False)
    return MODELS[table](**{k: v for k, v in values.items() if v is not DEFAULT})


def changed_fields(draw: Draw, world: World, table: str, project_id: object) -> dict[str, Any]:
    """New values for one to three non-key columns of ``table`` (what an update changes)."""
    spec = TABLES[table]
    names = [n for n in FIELDS[table] if n not in {spec.primary_key, "project_id"}]
    chosen = draw(
        st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True),
        label="columns to change",
    )
    values = {}
    for name in chosen:
        wild = draw(st.integers(0, 4), label=f"{name} wild?") == 4
        values[name] = _draw_field(draw, world, table, name, project_id, wild)
    return {k: v for k, v in values.items() if v is not DEFAULT}
