"""Memory store and PostgreSQL side by side: every call must give the same result or error.

A Hypothesis state machine drives random sequences of create, get, list (following page tokens),
update, delete, operation transitions, read-state upserts and the lookups through two
``Repositories`` built from the same repository classes: one over a seeded ``MemoryStore``, one
over a seeded PostgreSQL 15 database inside a transaction rolled back after each example. Both
read one replayed clock, so timestamps match to the microsecond. Each call must return equal
values (compared strictly: types, JSON key order, time zones) or raise the same error class with
the same message, and after every write both backends must hold the same rows in every table.
A user who tests against the memory store relies on exactly this.

``AMPDB_DIFF_EXAMPLES`` / ``AMPDB_DIFF_STEPS`` raise the bounds for a long exploratory run.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import difflib
import json
import os
import pprint
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta, timezone
from enum import Enum
from functools import cache
from typing import Any, ClassVar

import psycopg
import pytest
from contract.async_view import sync_view
from differential_strategies import (
    INVALID_UUIDS,
    ODD_TEXT,
    PROJECT_NAMES,
    START,
    any_id,
    changed_fields,
    enum_value,
    new_row,
    text,
    valid_row,
    weighted,
)
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    rule,
    run_state_machine_as_test,
)

from pytest_ampdb import memory, migrations
from pytest_ampdb import repositories as repository_classes
from pytest_ampdb.harness.provisioning import LocalCluster
from pytest_ampdb.memory import MemoryStore, Snapshot
from pytest_ampdb.models import ConnectionStatus, OperationStatus, ReadState
from pytest_ampdb.models.tables import TABLES
from pytest_ampdb.postgres import (
    AsyncPostgresEngine,
    AsyncSharedSource,
    PostgresEngine,
    SharedSource,
    aconfigure_connection,
    configure_connection,
)
from pytest_ampdb.repositories import aio
from pytest_ampdb.seeds import load_into_store, read_seeds
from pytest_ampdb.seeds.postgres import load_into_postgres
from pytest_ampdb.types import AsyncRepositories, Page, Repositories

CI = bool(os.environ.get("CI"))
MAX_PAGES = 6
"""Pages followed per list call: enough to page through every table at page size 1-3."""

SETTINGS = settings(
    max_examples=int(os.environ.get("AMPDB_DIFF_EXAMPLES", "60")),
    stateful_step_count=int(os.environ.get("AMPDB_DIFF_STEPS", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=CI,
    database=None if CI else settings().database,
)

SERVER_DEFAULTS = "-c TimeZone=America/St_Johns -c DateStyle=SQL,DMY"
"""Session defaults of a server that is not set up like our local cluster (a user's own server):
times must still come back in UTC, as the memory store keeps them."""

TABLE_NAMES = tuple(TABLES)
FAMILY = (
    "integrations",
    "revisions",
    "provider_apps",
    "connections",
    "installations",
    "operations",
    "read_states",
    "destinations",
    "jwt_keys",
    "api_keys",
)
"""The project-scoped tables, parents first: one row each in every project made."""
PARENT_TABLES = tuple(sorted({fk.table for spec in TABLES.values() for fk in spec.foreign_keys}))
"""Tables other rows reference."""
OUTCOMES: Counter[str] = Counter()
"""How often each call succeeded or raised each error (printed after the run: ``pytest -s``)."""


# -- the shared clock ----------------------------------------------------------------------------


class ReplayClock:
    """One clock for both backends: each call moves it a microsecond, and each step replays it.

    Before a step calls the memory side the clock's position is marked; before the same call
    on PostgreSQL it is rewound there, so both sides see the same strictly increasing times.
    """

    def __init__(self, start: datetime) -> None:
        self._now = start

    def __call__(self) -> datetime:
        self._now += timedelta(microseconds=1)
        return self._now

    def mark(self) -> datetime:
        return self._now

    def rewind(self, to: datetime) -> None:
        self._now = to


# -- comparing outcomes --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one backend did: returned ``value``, or raised (class name, message)."""

    value: Any = None
    error: tuple[str, str, str] | None = None


def outcome(call: Callable[[], Any]) -> Outcome:
    try:
        return Outcome(value=call())
    except Exception as exc:  # compared, whatever it is: a raw driver error is a difference
        return raised(exc)


async def settled(call: Awaitable[Any]) -> Outcome:
    """``outcome`` of an awaited call."""
    try:
        return Outcome(value=await call)
    except Exception as exc:
        return raised(exc)


def raised(exc: Exception) -> Outcome:
    """The error's class, message and attributes (``table``, ``key``, ``values``, ...: what a
    caller reads off it), as a user could tell them apart."""
    attributes = repr(canonical(vars(exc))) if vars(exc) else ""
    return Outcome(error=(f"{type(exc).__module__}.{type(exc).__qualname__}", str(exc), attributes))


def canonical(value: Any) -> Any:
    """``value`` as nested tuples that differ whenever a user could tell the values apart.

    Stricter than ``==``: ``1e16`` and ``10**16``, ``-0.0`` and ``0.0``, a UTC time and the same
    instant at another offset, and dicts with the same items in another order all differ.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__name__,
            tuple((f.name, canonical(getattr(value, f.name))) for f in dataclasses.fields(value)),
        )
    if isinstance(value, dict):
        return ("dict", tuple((canonical(k), canonical(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(canonical(v) for v in value))
    if isinstance(value, Enum):
        return (type(value).__name__, value.value)
    if isinstance(value, datetime | float):
        return (type(value).__name__, repr(value))
    return (type(value).__name__, value)


def _shown(result: Outcome) -> str:
    if result.error is not None:
        return f"raised {result.error[0]}: {result.error[1]} {result.error[2]}"
    return "returned " + pprint.pformat(canonical(result.value), width=100)


def require_same(label: str, mem: Outcome, pg: Outcome) -> None:
    """Fail with a readable diff unless both backends did the same thing."""
    if mem.error is not None or pg.error is not None:
        if mem.error == pg.error:
            return
    elif canonical(mem.value) == canonical(pg.value):
        return
    left, right = _shown(mem).splitlines(), _shown(pg).splitlines()
    diff = "\n".join(difflib.unified_diff(left, right, "memory", "postgres", lineterm="", n=2))
    raise AssertionError(f"backends differ on {label}\n{diff}")


# -- the database ------------------------------------------------------------------------------


@cache
def seeded_snapshot() -> Snapshot:
    """The packaged seeds in a memory store, restored into a new store for every example."""
    store = MemoryStore()
    load_into_store(store, read_seeds())
    return store.snapshot()


@pytest.fixture(scope="module")
def differential_database(pg_cluster: LocalCluster) -> str:
    """One migrated, seeded database for this module (each example rolls its writes back)."""
    with psycopg.connect(pg_cluster.dsn(), autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS ampdb_differential WITH (FORCE)")
        admin.execute("CREATE DATABASE ampdb_differential")
    dsn = pg_cluster.dsn("ampdb_differential")
    migrations.apply(dsn)
    with psycopg.connect(dsn) as conn:
        load_into_postgres(conn, read_seeds())
    return dsn


# -- the state machine ---------------------------------------------------------------------------


def _token(parts: Sequence[object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode()


ALIEN_TOKENS = st.one_of(
    st.sampled_from(["", "not a token", "e30=", "W10=", _token(["x"] * 4)]),
    st.lists(
        st.sampled_from(
            [
                "2030-01-01T00:00:00.000003+00:00",
                "2030-01-01T00:00:00",
                "2026-01-01T00:00:00+05:30",
                "0001-01-01T00:30:00+01:00",
                "a0000002-0000-4000-8000-000000000001",
                "not-a-uuid",
                "amp_test_one",
                None,
                7,
            ]
        ),
        min_size=2,
        max_size=3,
    ).map(_token),
)
"""Page tokens the list never issued: malformed, wrong shape, or well-formed keys of our own."""


class DifferentialMachine(RuleBasedStateMachine):
    """The same calls on both backends; ``dsn`` is set by the test before the machine runs."""

    dsn: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        self.clock = ReplayClock(START)
        self.store = MemoryStore()
        self.store.restore(seeded_snapshot())
        self.mem, self.pg = self.open_backends()
        self.pool: dict[str, list[str]] = {
            name: [row[spec.primary_key] for row in self.store.rows(name)]
            for name, spec in TABLES.items()
        }
        self.tokens: dict[str, list[str]] = {name: [] for name in TABLES}

    def open_backends(self) -> tuple[Repositories, Repositories]:
        """The memory repositories, and PostgreSQL's inside a transaction of the example."""
        self.conn = psycopg.connect(self.dsn, options=SERVER_DEFAULTS)
        configure_connection(self.conn)
        self.conn.execute("SELECT 1")  # the example's transaction; every call nests a savepoint
        self.engine = PostgresEngine(SharedSource(self.conn))
        return memory.repositories(self.store, self.clock), repository_classes.build(
            self.engine, self.clock
        )

    def pg_rows(self, spec: Any) -> list[dict[str, Any]]:
        """Every row of a table in PostgreSQL, read by the engine."""
        return self.engine.select(spec, {})

    def teardown(self) -> None:
        self.conn.rollback()
        self.conn.close()

    # -- World (what the strategies may ask) ----------------------------------------------------

    def known_ids(self, table: str) -> Sequence[str]:
        return self.pool[table]

    def ids_in(self, table: str, project_id: object) -> Sequence[str]:
        pk = TABLES[table].primary_key
        return [r[pk] for r in self.store.rows(table) if r.get("project_id") == project_id]

    # -- running a call on both -------------------------------------------------------------

    def both(self, label: str, call: Callable[[Repositories], Any]) -> Outcome:
        """Run ``call`` on memory then PostgreSQL at the same clock; require the same outcome."""
        start = self.clock.mark()
        mem = outcome(lambda: call(self.mem))
        self.clock.rewind(start)
        pg = outcome(lambda: call(self.pg))
        require_same(label, mem, pg)
        method = label.split("(", 1)[0]
        OUTCOMES[f"{method}: {mem.error[0].rsplit('.', 1)[1] if mem.error else 'ok'}"] += 1
        return mem

    def require_same_tables(self, after: str) -> None:
        """Every table holds the same rows on both sides (cascades, SET NULL, no half writes)."""
        for name, spec in TABLES.items():
            mem, pg = self.store.select(spec, {}), self.pg_rows(spec)
            if repr(mem) != repr(pg):  # plain rows: repr shows types, key order and zones
                require_same(f"the rows of {name} after {after}", Outcome(mem), Outcome(pg))

    def _row(self, table: str, key: object) -> dict[str, Any] | None:
        pk = TABLES[table].primary_key
        return next((r for r in self.store.rows(table) if r[pk] == key), None)

    def _project_of(self, data: st.DataObject, table: str, key: object) -> object:
        """The project a lookup names: the row's own (mostly), another, or a bad id."""
        row = self._row(table, key)
        own = [row["project_id"]] if row is not None else []
        return data.draw(
            weighted(
                *([(10, st.sampled_from(own))] if own else []),
                (3, st.sampled_from(self.pool["projects"])),
                (1, st.sampled_from(INVALID_UUIDS)),
            ),
            label="project_id",
        )

    def _key_args(self, data: st.DataObject, table: str) -> tuple[object, ...]:
        key = data.draw(any_id(self, table) if table != "api_keys" else self._api_key(), label="id")
        if TABLES[table].scope is None:
            return (key,)
        return (self._project_of(data, table, key), key)

    def _api_key(self) -> st.SearchStrategy[Any]:
        keys: st.SearchStrategy[Any] = weighted(
            (10, st.sampled_from(self.pool["api_keys"])), (1, st.sampled_from(ODD_TEXT))
        )
        return keys

    # -- rules --------------------------------------------------------------------------------

    @rule(table=st.sampled_from(TABLE_NAMES), data=st.data())
    def create(self, table: str, data: st.DataObject) -> None:
        self._create(table, new_row(data.draw, self, table))

    def _create(self, table: str, entity: Any, *, check: bool = True) -> Any:
        """Create on both; the saved row (``None`` if refused), its key added to the pool."""
        result = self.both(
            f"{table}.create({entity!r})", lambda r: r.by_table()[table].create(entity)
        )
        if result.error is None:
            self.pool[table].append(getattr(result.value, TABLES[table].primary_key))
        if check:
            self.require_same_tables(f"{table}.create")
        return result.value

    @initialize(data=st.data())
    def more_projects(self, data: st.DataObject) -> None:
        """Two more projects with a row in every project-scoped table, so that lookups, lists,
        upserts and deletes have other tenants' rows to stay away from (and references drawn
        wild name them); and an installation naming another project's connection, which both
        backends must refuse, as every reference leaving its project."""
        seeded = self.pool["projects"][0]
        projects = [seeded]
        for n in range(2):
            made = self._create(
                "projects", valid_row(data.draw, self, "projects", name=f"tenant-{n}"), check=False
            )
            if made is not None:
                projects.append(made.id)
        for owner in projects[1:]:
            for table in FAMILY:
                row = valid_row(data.draw, self, table, project_id=owner)
                self._create(table, row, check=False)
        connections = [c for p in projects[1:] for c in self.ids_in("connections", p)]
        across: bool = data.draw(st.booleans(), label="installation across projects")
        if connections and across:
            fields = {"project_id": seeded, "connection_id": connections[0]}
            row = valid_row(data.draw, self, "installations", **fields)
            self._create("installations", row, check=False)
        self.require_same_tables("the other projects' rows")

    @rule(table=st.sampled_from(TABLE_NAMES), data=st.data())
    def get_by_id(self, table: str, data: st.DataObject) -> None:
        args = self._key_args(data, table)
        self.both(f"{table}.get_by_id{args!r}", lambda r: r.by_table()[table].get_by_id(*args))

    @rule(table=st.sampled_from(TABLE_NAMES), data=st.data())
    def list_pages(self, table: str, data: st.DataObject) -> None:
        page_size = data.draw(
            weighted((10, st.sampled_from([1, 2, 3, 100])), (1, st.sampled_from([0, 1001, True]))),
            label="page_size",
        )
        issued = self.tokens[table]  # tokens from earlier steps: rows changed since
        token: str | None = data.draw(
            weighted(
                (8, st.none()),
                *([(2, st.sampled_from(issued))] if issued else []),
                (1, ALIEN_TOKENS),
            ),
            label="first page_token",
        )
        args, filters = self._list_scope(data, table)
        for _ in range(MAX_PAGES):
            kwargs = {**filters, "page_size": page_size, "page_token": token}
            label = f"{table}.list{args!r} {kwargs!r}"

            def call(r: Repositories, k: dict[str, Any] = kwargs) -> Any:
                return r.by_table()[table].list(*args, **k)

            result = self.both(label, call)
            if result.error is not None or not isinstance(result.value, Page):
                return
            token = result.value.next_page_token
            if token is None:
                return
            issued.append(token)

    def _list_scope(
        self, data: st.DataObject, table: str
    ) -> tuple[tuple[object, ...], dict[str, object]]:
        if table == "organizations":
            return (), {}
        if table == "projects":
            org = data.draw(
                weighted(
                    (4, st.none()),
                    (4, st.sampled_from(self.pool["organizations"])),
                    (1, st.sampled_from(INVALID_UUIDS[:2])),
                ),
                label="organization_id",
            )
            return (), ({"organization_id": org} if org is not None else {})
        project = data.draw(
            weighted(
                (10, st.sampled_from(self.pool["projects"])), (1, st.sampled_from(INVALID_UUIDS))
            ),
            label="project_id",
        )
        if table != "connections":
            return (project,), {}
        filters = {
            "provider": data.draw(text("salesforce", "hubspot", nullable=True), label="provider"),
            "group_ref": data.draw(text("group-1", "group-2", nullable=True), label="group_ref"),
            "consumer_ref": data.draw(text("user-1", nullable=True), label="consumer_ref"),
            "status": data.draw(enum_value(ConnectionStatus, nullable=True), label="status"),
        }
        return (project,), {k: v for k, v in filters.items() if v is not None}

    @rule(table=st.sampled_from(TABLE_NAMES), data=st.data())
    def update(self, table: str, data: st.DataObject) -> None:
        spec = TABLES[table]
        key = data.draw(self._api_key() if table == "api_keys" else any_id(self, table), label="id")
        row = self._row(table, key)
        if row is not None:
            base = spec.to_model(row)
        else:  # a row that is gone or never was: the update must be refused the same way
            base = new_row(data.draw, self, table)
            base = dataclasses.replace(base, **{spec.primary_key: key})
        project = getattr(base, "project_id", None)
        if spec.scope is not None and data.draw(st.integers(0, 9), label="other project?") == 0:
            project = data.draw(st.sampled_from(self.pool["projects"]), label="other project")
            base = dataclasses.replace(base, project_id=project)
        changes = changed_fields(data.draw, self, table, project)
        entity = dataclasses.replace(base, **changes)
        self.both(f"{table}.update({entity!r})", lambda r: r.by_table()[table].update(entity))
        self.require_same_tables(f"{table}.update")

    @rule(table=st.sampled_from(TABLE_NAMES), data=st.data())
    def delete(self, table: str, data: st.DataObject) -> None:
        args = self._key_args(data, table)
        self.both(f"{table}.delete{args!r}", lambda r: r.by_table()[table].delete(*args))
        self.require_same_tables(f"{table}.delete")

    @rule(table=st.sampled_from(PARENT_TABLES), data=st.data())
    def delete_parent(self, table: str, data: st.DataObject) -> None:
        """Deletes of referenced rows again: cascades, SET NULL and refusals need them often."""
        self.delete(table, data)

    @rule(data=st.data())
    def transition(self, data: st.DataObject) -> None:
        project, op_id = self._key_args(data, "operations")  # any values: bad ones too
        ids: tuple[Any, Any] = (project, op_id)
        target = data.draw(enum_value(OperationStatus), label="target")
        result = data.draw(text("done", "[contact] 3 records", nullable=True), label="result")
        label = f"operations.transition({project!r}, {op_id!r}, {target!r}, result={result!r})"
        self.both(label, lambda r: r.operations.transition(*ids, target, result=result))
        self.require_same_tables("operations.transition")

    @rule(data=st.data())
    def upsert(self, data: st.DataObject) -> None:
        drawn = new_row(data.draw, self, "read_states")
        installation = self._row("installations", drawn.installation_id)
        if installation is not None and data.draw(st.integers(0, 4), label="own project?") > 0:
            drawn = dataclasses.replace(drawn, project_id=installation["project_id"])
        state: ReadState = drawn
        self.both(f"read_states.upsert({state!r})", lambda r: r.read_states.upsert(state))
        self.require_same_tables("read_states.upsert")

    @rule(data=st.data())
    def lookup(self, data: st.DataObject) -> None:
        kind = data.draw(st.sampled_from(sorted(LOOKUPS)), label="lookup")
        args, kwargs = LOOKUPS[kind](self, data)
        owner, method = kind.split(".")
        self.both(
            f"{kind}{args!r} {kwargs!r}",
            lambda r: getattr(r.by_table()[owner], method)(*args, **kwargs),
        )

    # -- lookup arguments ------------------------------------------------------------------

    def project_arg(self, data: st.DataObject) -> object:
        return data.draw(
            weighted(
                (10, st.sampled_from(self.pool["projects"])), (1, st.sampled_from(INVALID_UUIDS))
            ),
            label="project_id",
        )

    def in_project(self, data: st.DataObject, table: str, project: object) -> object:
        same = self.ids_in(table, project)
        return data.draw(
            weighted(
                *([(10, st.sampled_from(same))] if same else []),
                (3, any_id(self, table)),
            ),
            label=f"{table} id",
        )


Arguments = tuple[tuple[object, ...], dict[str, object]]
"""Positional and keyword arguments of one call."""


def _names(*pool: str) -> st.SearchStrategy[Any]:
    names: st.SearchStrategy[Any] = text(*pool, nullable=True)
    return names


def _lookups() -> dict[str, Callable[[DifferentialMachine, st.DataObject], Arguments]]:
    def project_by_name(m: DifferentialMachine, d: st.DataObject) -> Arguments:
        return (
            d.draw(
                weighted((8, st.sampled_from(PROJECT_NAMES)), (1, _names("ALPHA"))), label="name"
            ),
        ), {}

    def by_name(pool: tuple[str, ...]) -> Callable[..., Arguments]:
        def args(m: DifferentialMachine, d: st.DataObject) -> Arguments:
            return (m.project_arg(d), d.draw(_names(*pool), label="name")), {}

        return args

    def group_ref(m: DifferentialMachine, d: st.DataObject) -> Arguments:
        project = m.project_arg(d)
        integration = m.in_project(d, "integrations", project)
        return (project, integration, d.draw(_names("group-1", "group-2"), label="group_ref")), {}

    def api_key(m: DifferentialMachine, d: st.DataObject) -> Arguments:
        return (d.draw(weighted((6, m._api_key()), (1, _names("amp_test_one"))), label="key"),), {}

    def by_installation(m: DifferentialMachine, d: st.DataObject) -> tuple[object, ...]:
        project = m.project_arg(d)
        installation = m.in_project(d, "installations", project)
        return (project, installation)

    def operations(m: DifferentialMachine, d: st.DataObject) -> Arguments:
        project, installation = by_installation(m, d)
        status = d.draw(enum_value(OperationStatus, nullable=True), label="status")
        return (project, installation), ({"status": status} if status is not None else {})

    def revisions(m: DifferentialMachine, d: st.DataObject) -> Arguments:
        project = m.project_arg(d)
        return (project, m.in_project(d, "integrations", project)), {}

    def read_state(m: DifferentialMachine, d: st.DataObject) -> Arguments:
        project, installation = by_installation(m, d)
        name = d.draw(_names("contact", "account", "Contact"), label="object_name")
        return (project, installation, name), {}

    return {
        "projects.get_by_name": project_by_name,
        "integrations.get_by_name": by_name(("read-accounts", "sync", "Sync")),
        "destinations.get_by_name": by_name(("webhook-1", "webhook-2")),
        "provider_apps.get_by_provider": by_name(("salesforce", "hubspot")),
        "installations.get_by_group_ref": group_ref,
        "api_keys.get_by_key": api_key,
        "operations.list_by_installation": operations,
        "revisions.list_by_integration": revisions,
        "read_states.get": read_state,
    }


LOOKUPS = _lookups()


TABLES_BY_MODEL = {spec.model: name for name, spec in TABLES.items()}


def key_of(entity: Any) -> Any:
    return getattr(entity, TABLES[TABLES_BY_MODEL[type(entity)]].primary_key)


def _kind(result: Outcome) -> str:
    return result.error[0].rsplit(".", 1)[1] if result.error else "ok"


Race = tuple[str, list["RaceCall"]]


def _races() -> dict[str, Callable[[AsyncDifferentialMachine, st.DataObject], Race]]:
    racers = st.integers(2, 4)

    def same_row(m: AsyncDifferentialMachine, d: st.DataObject) -> Race:
        table = d.draw(st.sampled_from(TABLE_NAMES), label="table")
        entity = new_row(d.draw, m, table)
        calls = [_call(table, "create", entity)] * d.draw(racers, label="racers")
        return f"{table}.create({entity!r}) at once", calls

    def same_key(m: AsyncDifferentialMachine, d: st.DataObject) -> Race:
        table = d.draw(st.sampled_from(UNIQUE_TABLES), label="table")
        first = valid_row(d.draw, m, table)
        ids = d.draw(st.lists(st.uuids(), min_size=1, max_size=3, unique=True), label="ids")
        rows = [first, *(dataclasses.replace(first, id=str(i)) for i in ids)]
        return f"{table}.create of {rows!r} at once", [_call(table, "create", r) for r in rows]

    def claims(m: AsyncDifferentialMachine, d: st.DataObject) -> Race:
        project = m.project_arg(d)
        op = m.in_project(d, "operations", project)
        moves = st.sampled_from([OperationStatus.RUNNING, OperationStatus.FAILED])
        target = d.draw(weighted((3, moves), (1, enum_value(OperationStatus))), label="target")
        call: RaceCall = lambda r: r.operations.transition(project, op, target)  # noqa: E731
        label = f"operations.transition({project!r}, {op!r}, {target!r}) at once"
        return label, [call] * d.draw(racers, label="racers")

    def cursor(m: AsyncDifferentialMachine, d: st.DataObject) -> Race:
        first = valid_row(d.draw, m, "read_states")
        counts = d.draw(st.lists(st.integers(0, 9), min_size=2, max_size=4), label="counts")
        ids = d.draw(st.lists(st.uuids(), min_size=len(counts), max_size=len(counts), unique=True))
        states = [
            dataclasses.replace(first, id=str(i), records_processed=n)
            for i, n in zip(ids, counts, strict=True)
        ]
        return f"read_states.upsert of {states!r} at once", [
            _call("read_states", "upsert", state) for state in states
        ]

    def delete_and_update(m: AsyncDifferentialMachine, d: st.DataObject) -> Race:
        table = d.draw(st.sampled_from(TABLE_NAMES), label="table")
        key = d.draw(any_id(m, table) if table != "api_keys" else m._api_key(), label="id")
        row = m._row(table, key)
        if row is None:
            return same_row(m, d)
        spec = TABLES[table]
        changed = dataclasses.replace(
            spec.to_model(row), **changed_fields(d.draw, m, table, row.get("project_id"))
        )
        args = (row[spec.scope], key) if spec.scope else (key,)
        calls: list[RaceCall] = [
            _call(table, "update", changed),
            lambda r: r.by_table()[table].delete(*args),
        ]
        if d.draw(st.booleans(), label="delete first?"):
            calls.reverse()
        return f"{table}.update({changed!r}) and .delete{args!r} at once", calls

    return {
        "same row": same_row,
        "same key": same_key,
        "claims": claims,
        "cursor": cursor,
        "delete and update": delete_and_update,
    }


def _call(table: str, method: str, entity: Any) -> RaceCall:
    return lambda r: getattr(r.by_table()[table], method)(entity)


UNIQUE_TABLES = tuple(
    name for name, spec in TABLES.items() if spec.unique and spec.primary_key == "id"
)
"""Tables with a unique key besides an ``id`` primary key: rows that differ by id collide."""


class ThreadedDifferentialMachine(DifferentialMachine):
    """The async repositories as the plugin gives them to an async test in postgres mode: the
    sync repositories on the test's connection, each call in a worker thread (``in_thread``),
    so async and sync code share one transaction."""

    def open_backends(self) -> tuple[Repositories, Repositories]:
        self.runner = asyncio.Runner()
        _, pg = super().open_backends()
        return (
            sync_view(memory.async_repositories(self.store, self.clock), self.runner),
            sync_view(aio.asyncify(pg, aio.in_thread), self.runner),
        )

    def teardown(self) -> None:
        super().teardown()
        self.runner.close()


RaceCall = Callable[[AsyncRepositories], Awaitable[Any]]
"""One call of a race, made of the async repositories it runs on."""


class AsyncDifferentialMachine(DifferentialMachine):
    """The same calls through the async repositories: the memory store's, and the async
    PostgreSQL engine's on one ``AsyncConnection`` (each awaited on the example's loop); and
    races: several calls on one row or one key at once (``asyncio.gather``)."""

    def open_backends(self) -> tuple[Repositories, Repositories]:
        self.runner = asyncio.Runner()
        self.aconn = self.runner.run(
            psycopg.AsyncConnection.connect(self.dsn, options=SERVER_DEFAULTS)
        )
        self.runner.run(aconfigure_connection(self.aconn))
        self.runner.run(self.aconn.execute("SELECT 1"))
        self.engine = AsyncPostgresEngine(AsyncSharedSource(self.aconn))
        pg = aio.asyncify(repository_classes.build(self.engine, self.clock))
        mem = memory.async_repositories(self.store, self.clock)
        self.racers = (mem, pg)
        return sync_view(mem, self.runner), sync_view(pg, self.runner)

    @rule(data=st.data())
    def race(self, data: st.DataObject) -> None:
        """Two to four calls on one row or key at once: each call gives the loop a turn on
        both backends, and the connection's calls are taken in turns in the order asked, so
        both apply them in the same order; each call's result, and the rows, must match."""
        kind = data.draw(st.sampled_from(sorted(RACES)), label="race")
        label, calls = RACES[kind](self, data)
        start = self.clock.mark()
        results = []
        for n, repos in enumerate(self.racers):
            if n:
                self.clock.rewind(start)
            results.append(self.runner.run(self._gathered(repos, calls)))
        for n, (mem, pg) in enumerate(zip(*results, strict=True)):
            require_same(f"{label}, call {n + 1} of {len(calls)}", mem, pg)
            value = mem.value
            if mem.error is None and dataclasses.is_dataclass(value):
                self.pool[TABLES_BY_MODEL[type(value)]].append(key_of(value))
        OUTCOMES[f"race {kind}: {sorted(Counter(_kind(r) for r in results[0]).items())}"] += 1
        self.require_same_tables(label)

    @staticmethod
    async def _gathered(repos: AsyncRepositories, calls: Sequence[RaceCall]) -> list[Outcome]:
        return list(await asyncio.gather(*(settled(call(repos)) for call in calls)))

    def pg_rows(self, spec: Any) -> list[dict[str, Any]]:
        return self.runner.run(aio.spawn(self.engine.select, spec, {}))

    def teardown(self) -> None:
        self.runner.run(self.aconn.rollback())
        self.runner.run(self.aconn.close())
        self.runner.close()


RACES = _races()


@pytest.mark.parametrize(
    "machine",
    [DifferentialMachine, AsyncDifferentialMachine, ThreadedDifferentialMachine],
    ids=["sync", "async", "async-in-thread"],
)
def test_memory_and_postgres_agree(
    differential_database: str, machine: type[DifferentialMachine]
) -> None:
    """Random call sequences give the same results and errors on both backends (sync, and
    through the async API: the async engine with races, and the plugin's worker threads)."""
    machine.dsn = differential_database
    OUTCOMES.clear()
    run_state_machine_as_test(machine, settings=SETTINGS)
    width = max(map(len, OUTCOMES))
    print("\n".join(f"{name:<{width}} {n:>6}" for name, n in sorted(OUTCOMES.items())))


def test_canonical_form_tells_apart_what_users_can() -> None:
    """The comparison is stricter than ``==`` exactly where a user could see a difference."""
    assert canonical({"a": 1e16}) != canonical({"a": 10**16})
    assert canonical({"a": 1, "b": 2}) != canonical({"b": 2, "a": 1})
    assert canonical(START) != canonical(START.astimezone(timezone(timedelta(hours=1))))
    assert canonical(Page([1], "t")) != canonical(Page([1], None))
    with pytest.raises(AssertionError, match="backends differ"):
        require_same("x", Outcome(value=1), Outcome(error=("E", "boom", "")))
