"""``MemoryStore`` specifics: snapshots, rows that cannot reach back into the store, counts, threads."""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from contract.builders import Builder, list_all

from pytest_ampdb import memory
from pytest_ampdb.errors import (
    AlreadyExistsError,
    ForeignKeyError,
    InvalidTransitionError,
    NotFoundError,
)
from pytest_ampdb.memory import MemoryStore, indexes
from pytest_ampdb.memory import store as memory_store
from pytest_ampdb.models import ApiKey, OperationStatus, new_id
from pytest_ampdb.models.tables import TABLES
from pytest_ampdb.repositories.entities import ApiKeyRepository
from pytest_ampdb.seeds import SeedSet, load_into_store, read_seeds
from pytest_ampdb.types import Repositories

THREADS = 8


@pytest.fixture(scope="module")
def packaged_seeds() -> SeedSet:
    return read_seeds()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def mem(store: MemoryStore) -> Repositories:
    return memory.repositories(store)


@pytest.fixture
def builder(mem: Repositories) -> Builder:
    return Builder(mem)


def _all_rows(store: MemoryStore) -> dict[str, list[dict[str, Any]]]:
    return {table: store.rows(table) for table in TABLES}


# -- counts -------------------------------------------------------------------------------------


def test_an_empty_store_counts_zero_rows_in_all_twelve_tables(store: MemoryStore) -> None:
    assert store.counts() == dict.fromkeys(TABLES, 0)


def test_counts_follow_seeds_creates_and_cascades(
    store: MemoryStore, builder: Builder, mem: Repositories, packaged_seeds: SeedSet
) -> None:
    loaded = load_into_store(store, packaged_seeds)
    seeded = {table: len(rows) for table, rows in packaged_seeds.rows.items()}
    assert store.counts() == seeded
    assert loaded == sum(seeded.values())
    assert {t: len(store.rows(t)) for t in TABLES} == seeded

    op = builder.operation()  # plus organization, project, integration, connection, installation
    grown = store.counts()
    for table in (
        "organizations",
        "projects",
        "integrations",
        "connections",
        "installations",
        "operations",
    ):
        assert grown[table] == seeded[table] + 1, table
    mem.projects.delete(op.project_id)
    assert store.counts() == {**seeded, "organizations": seeded["organizations"] + 1}


# -- snapshots ----------------------------------------------------------------------------------


def _scribble(mem: Repositories, builder: Builder, seed_ids: Any) -> None:
    """Create, update, move, upsert and delete (with cascades) all over the seeded data."""
    pid = seed_ids.project_id
    builder.operation_in(OperationStatus.COMPLETED, project_id=pid)
    for op in list_all(mem, "operations", {"project_id": pid}):
        if op.status is OperationStatus.PENDING:
            mem.operations.transition(pid, op.id, OperationStatus.FAILED, result="scribbled")
    destination = list_all(mem, "destinations", {"project_id": pid})[0]
    mem.destinations.update(dataclasses.replace(destination, name="scribbled"))
    integration = list_all(mem, "integrations", {"project_id": pid})[0]
    mem.integrations.delete(pid, integration.id)
    key = mem.api_keys.get_by_key(seed_ids.api_key)
    mem.api_keys.delete(pid, key.key)


def test_restore_returns_to_the_snapshot_every_time(
    store: MemoryStore, mem: Repositories, builder: Builder, packaged_seeds: SeedSet
) -> None:
    load_into_store(store, packaged_seeds)
    snapshot = store.snapshot()
    before = _all_rows(store)

    _scribble(mem, builder, packaged_seeds.ids)
    assert _all_rows(store) != before
    store.restore(snapshot)
    assert _all_rows(store) == before

    builder.destination(project_id=packaged_seeds.ids.project_id)
    mem.projects.delete(packaged_seeds.ids.project_id)
    assert store.counts()["destinations"] == 0
    store.restore(snapshot)  # the snapshot is still intact after the first restore
    assert _all_rows(store) == before


def test_a_restore_after_more_changes_than_remembered_rebuilds_the_snapshot(
    store: MemoryStore, mem: Repositories, builder: Builder, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = builder.destination()
    snapshot = store.snapshot()
    before = _all_rows(store)
    monkeypatch.setattr(memory_store, "JOURNAL_LIMIT", 3)  # past it the changes are forgotten
    for _ in range(5):
        builder.destination(project_id=kept.project_id)
    mem.destinations.delete(kept.project_id, kept.id)
    store.restore(snapshot)
    assert _all_rows(store) == before
    assert mem.destinations.get_by_name(kept.project_id, kept.name) == kept


def test_a_snapshot_restores_into_another_store(
    store: MemoryStore, builder: Builder, packaged_seeds: SeedSet
) -> None:
    load_into_store(store, packaged_seeds)
    builder.read_state(project_id=packaged_seeds.ids.project_id)
    snapshot = store.snapshot()
    other = MemoryStore()
    other.restore(snapshot)
    assert _all_rows(other) == _all_rows(store)
    Builder(memory.repositories(other)).destination(project_id=packaged_seeds.ids.project_id)
    assert other.counts()["destinations"] == store.counts()["destinations"] + 1


def test_keys_and_references_follow_a_restore(
    store: MemoryStore, mem: Repositories, builder: Builder
) -> None:
    kept = builder.destination()
    pid = kept.project_id
    snapshot = store.snapshot()

    later = builder.destination(project_id=pid)
    mem.destinations.delete(pid, kept.id)
    builder.destination(project_id=pid, name=kept.name)  # the name was free before the restore
    mem.projects.delete(pid)
    store.restore(snapshot)

    assert mem.destinations.get_by_name(pid, kept.name) == kept
    with pytest.raises(AlreadyExistsError):
        builder.destination(project_id=pid, name=kept.name)
    assert builder.destination(project_id=pid, name=later.name).name == later.name
    assert builder.connection(project_id=pid).project_id == pid  # the project is back
    organization_id = mem.projects.get_by_id(pid).organization_id
    with pytest.raises(ForeignKeyError):
        mem.organizations.delete(organization_id)


def _pages(mem: Repositories, pid: str, provider: str) -> list[str]:
    """Every connection id of ``provider``, two at a time."""
    ids: list[str] = []
    token: str | None = None
    for _ in range(5_000):  # a token leading back to an earlier page would page for ever
        page = mem.connections.list(pid, provider=provider, page_size=2, page_token=token)
        ids += [c.id for c in page.items]
        if page.next_page_token is None:
            return ids
        token = page.next_page_token
    raise AssertionError(f"paging {provider} never ends")


def test_filtered_pages_follow_updates_deletes_and_restores(
    store: MemoryStore, mem: Repositories, builder: Builder
) -> None:
    pid = builder.project().id
    made = [builder.connection(project_id=pid, provider=("a", "b")[i % 2]) for i in range(7)]
    snapshot = store.snapshot()
    a_ids = [c.id for c in made if c.provider == "a"]
    assert _pages(mem, pid, "a") == a_ids

    moved = made[1]  # b -> a: leaves one index range for another, keeping its list position
    mem.connections.update(dataclasses.replace(moved, provider="a"))
    mem.connections.delete(pid, made[0].id)
    assert _pages(mem, pid, "a") == [c.id for c in made[1:] if c.provider == "a" or c is moved]
    assert moved.id not in _pages(mem, pid, "b")

    store.restore(snapshot)
    assert _pages(mem, pid, "a") == a_ids
    assert _pages(mem, pid, "b") == [c.id for c in made if c.provider == "b"]
    mem.projects.delete(pid)  # the cascade finds every connection through the project index
    assert store.counts()["connections"] == 0
    store.restore(snapshot)
    assert len(list_all(mem, "connections", {"project_id": pid})) == 7


def _index_sizes(store: MemoryStore, table: str) -> list[tuple[int, int]]:
    """Per list-order index of ``table``: (entries held, live rows in it)."""
    return [(o.held(), len(o.live)) for o in store._tables[table].ordered]


def test_pages_skip_deleted_and_moved_rows_and_the_index_stays_bounded(
    store: MemoryStore, mem: Repositories, builder: Builder
) -> None:
    pid = builder.project().id
    made = [builder.connection(project_id=pid, provider=("a", "b")[i % 2]) for i in range(200)]
    for connection in made[:150]:  # far more removals than the floor before a compaction
        mem.connections.delete(pid, connection.id)
    kept = made[150:]
    for _ in range(3):  # every kept row moves a → b → a ...: each move leaves an old entry
        kept = [
            mem.connections.update(
                dataclasses.replace(c, provider="b" if c.provider == "a" else "a")
            )
            for c in kept
        ]
    assert _pages(mem, pid, "a") == [c.id for c in kept if c.provider == "a"]
    assert _pages(mem, pid, "b") == [c.id for c in kept if c.provider == "b"]
    assert [c.id for c in list_all(mem, "connections", {"project_id": pid})] == [c.id for c in kept]
    for held, live in _index_sizes(store, "connections"):
        assert held <= 2 * live + indexes.COMPACT_FLOOR + 1  # removed entries are reclaimed


def test_restore_after_deletes_and_reinserts_lists_each_row_once(
    store: MemoryStore, mem: Repositories, builder: Builder
) -> None:
    pid = builder.project().id
    made = [builder.connection(project_id=pid, provider="a") for _ in range(60)]
    snapshot = store.snapshot()
    for round_ in range(3):  # delete everything, put the same rows back, restore: same ids again
        for connection in made:
            mem.connections.delete(pid, connection.id)
        assert _pages(mem, pid, "a") == []
        for connection in made[: 20 * (round_ + 1)]:
            mem.connections.create(connection)
        assert _pages(mem, pid, "a") == [c.id for c in made[: 20 * (round_ + 1)]]
        store.restore(snapshot)
        assert _pages(mem, pid, "a") == [c.id for c in made]
        mem.connections.delete(pid, made[0].id)
        mem.connections.create(made[0])
        assert _pages(mem, pid, "a") == [c.id for c in made]


def test_pages_across_a_large_index_after_deletes_are_exact(
    store: MemoryStore, mem: Repositories, builder: Builder
) -> None:
    pid = builder.project().id
    made = [
        builder.connection(project_id=pid, provider=("a", "b")[i % 3 == 0]) for i in range(2600)
    ]
    for connection in made[5:2600:4]:  # holes everywhere, fewer than the rows kept
        mem.connections.delete(pid, connection.id)
    gone = {c.id for c in made[5:2600:4]}
    kept = [c for c in made if c.id not in gone]
    for provider in ("a", "b"):
        ids: list[str] = []
        token: str | None = None
        while True:  # 7 at a time: pages start and end inside and across the index's sublists
            page = mem.connections.list(pid, provider=provider, page_size=7, page_token=token)
            ids += [c.id for c in page.items]
            token = page.next_page_token
            if token is None:
                break
        assert ids == [c.id for c in kept if c.provider == provider]
    assert [c.id for c in list_all(mem, "connections", {"project_id": pid})] == [c.id for c in kept]


def test_a_model_read_again_follows_updates_restores_and_deletes(
    store: MemoryStore, mem: Repositories, builder: Builder
) -> None:
    made = builder.connection()
    pid = made.project_id
    assert mem.connections.get_by_id(pid, made.id) == made
    snapshot = store.snapshot()
    renamed = mem.connections.update(dataclasses.replace(made, group_name="Renamed"))
    assert mem.connections.get_by_id(pid, made.id) == renamed
    assert mem.connections.list(pid).items[-1].group_name == "Renamed"
    store.restore(snapshot)
    assert mem.connections.get_by_id(pid, made.id) == made
    mem.connections.delete(pid, made.id)
    with pytest.raises(NotFoundError):
        mem.connections.get_by_id(pid, made.id)
    recreated = mem.connections.create(dataclasses.replace(made, group_name="Again"))
    assert mem.connections.get_by_id(pid, made.id) == recreated


def test_repositories_of_different_models_over_one_store_get_their_own_classes(
    store: MemoryStore, mem: Repositories, builder: Builder
) -> None:
    key = builder.api_key()
    assert type(mem.api_keys.get_by_key(key.key)) is ApiKey

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True, repr=False)
    class LabelledKey(ApiKey):
        pass

    spec = dataclasses.replace(TABLES["api_keys"], model=LabelledKey)

    class LabelledKeys(ApiKeyRepository):
        pass

    LabelledKeys.spec = spec
    got = LabelledKeys(store).get_by_key(key.key)
    assert type(got) is LabelledKey
    assert type(mem.api_keys.get_by_key(key.key)) is ApiKey


def test_cascades_follow_each_referrer_as_rows_come_go_and_move(
    store: MemoryStore, mem: Repositories, builder: Builder
) -> None:
    first, second = builder.installation(), None
    pid = first.project_id
    second = builder.installation(project_id=pid, integration_id=first.integration_id)
    ops = [builder.operation(project_id=pid, installation_id=first.id) for _ in range(3)]
    snapshot = store.snapshot()
    mem.operations.delete(pid, ops[0].id)  # three referrers, then two, then one
    mem.operations.delete(pid, ops[1].id)
    mem.operations.update(dataclasses.replace(ops[2], installation_id=second.id))
    moved = builder.operation(project_id=pid, installation_id=first.id)
    mem.installations.delete(pid, first.id)
    assert [o.id for o in mem.operations.list(pid).items] == [ops[2].id]
    with pytest.raises(NotFoundError):
        mem.operations.get_by_id(pid, moved.id)
    mem.installations.delete(pid, second.id)
    assert mem.operations.list(pid).items == []
    store.restore(snapshot)
    mem.integrations.delete(pid, first.integration_id)  # every referrer is back, and goes
    assert store.counts()["operations"] == store.counts()["installations"] == 0


# -- rows handed out ----------------------------------------------------------------------------


CONFIG = {"provider": "salesforce", "read": {"objects": {"contact": {"fields": ["email", "name"]}}}}


def _poke(document: Any) -> None:
    """Change a JSON document in place at every level a caller could reach."""
    document["read"]["objects"]["contact"]["fields"].append("phone")
    document["read"]["objects"]["lead"] = {}
    document["provider"] = "hubspot"


def _config(mem: Repositories, pid: str, iid: str) -> Any:
    return mem.installations.get_by_id(pid, iid).config


def test_models_handed_out_share_nothing_with_the_store(
    mem: Repositories, builder: Builder
) -> None:
    given = {
        "provider": "salesforce",
        "read": {"objects": {"contact": {"fields": ["email", "name"]}}},
    }
    created = builder.installation(config=given)
    pid, iid = created.project_id, created.id
    _poke(given)  # the caller's own document, after the create
    assert _config(mem, pid, iid) == CONFIG
    _poke(created.config)
    assert _config(mem, pid, iid) == CONFIG
    _poke(mem.installations.get_by_id(pid, iid).config)
    assert _config(mem, pid, iid) == CONFIG
    _poke(mem.installations.list(pid).items[0].config)
    assert _config(mem, pid, iid) == CONFIG
    _poke(mem.installations.get_by_group_ref(pid, created.integration_id, created.group_ref).config)
    assert _config(mem, pid, iid) == CONFIG
    updated = mem.installations.update(dataclasses.replace(created, config=CONFIG))
    _poke(updated.config)
    assert _config(mem, pid, iid) == CONFIG


def test_operations_handed_out_by_transition_share_nothing(
    mem: Repositories, builder: Builder
) -> None:
    op = builder.operation(metadata={"objects": ["contact"]})
    moved = mem.operations.transition(op.project_id, op.id, OperationStatus.RUNNING)
    assert moved.metadata is not None
    moved.metadata["objects"].append("lead")
    listed = mem.operations.list_by_installation(op.project_id, op.installation_id)
    assert listed[0].metadata == {"objects": ["contact"]}
    assert listed[0].metadata is not None
    listed[0].metadata["objects"].clear()
    assert mem.operations.get_by_id(op.project_id, op.id).metadata == {"objects": ["contact"]}


def test_rows_from_the_store_itself_share_nothing(store: MemoryStore, builder: Builder) -> None:
    revision = builder.revision(content={"read": {"objects": [{"objectName": "account"}]}})
    snapshot = store.snapshot()
    rows = store.rows("revisions")
    rows[0]["content"]["read"]["objects"].append({"objectName": "lead"})
    rows[0]["spec_version"] = "9.9.9"
    selected = store.select(TABLES["revisions"], {"id": revision.id})
    selected[0]["content"]["read"] = None
    assert store.rows("revisions")[0]["content"] == revision.content
    assert store.rows("revisions")[0]["spec_version"] == revision.spec_version
    store.restore(snapshot)
    assert store.rows("revisions")[0]["content"] == revision.content


# -- threads ------------------------------------------------------------------------------------


@pytest.fixture
def busy_switching() -> Iterator[None]:
    """Let the interpreter switch threads every microsecond, so races actually interleave."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def _run_together(work: Callable[[int], None]) -> None:
    """Run ``work(i)`` in ``THREADS`` threads started at once; re-raise the first failure."""
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            work(i)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]


@pytest.mark.usefixtures("busy_switching")
def test_concurrent_creates_lose_nothing(
    store: MemoryStore, mem: Repositories, builder: Builder
) -> None:
    installation = builder.installation()
    pid = installation.project_id
    per_thread = 50
    made: dict[int, list[str]] = {}

    def work(i: int) -> None:
        local = Builder(mem)
        ids = []
        for n in range(per_thread):
            ids.append(local.destination(project_id=pid, name=f"t{i}-d{n}").id)
            if n % 5 == 0:
                local.operation(project_id=pid, installation_id=installation.id)
        made[i] = ids

    _run_together(work)
    expected = {d for ids in made.values() for d in ids}
    assert len(expected) == THREADS * per_thread
    assert store.counts()["destinations"] == THREADS * per_thread
    assert store.counts()["operations"] == THREADS * per_thread // 5
    listed = list_all(mem, "destinations", {"project_id": pid}, page_size=37)
    assert Counter(d.id for d in listed) == Counter(expected)
    for i in range(THREADS):
        assert mem.destinations.get_by_name(pid, f"t{i}-d{per_thread - 1}").id == made[i][-1]


@pytest.mark.usefixtures("busy_switching")
def test_racing_status_moves_have_exactly_one_winner(mem: Repositories, builder: Builder) -> None:
    installation = builder.installation()
    pid = installation.project_id
    ops = [builder.operation(project_id=pid, installation_id=installation.id) for _ in range(50)]
    barrier = threading.Barrier(THREADS)
    outcomes: dict[tuple[str, str], list[tuple[int, str]]] = {}
    lock = threading.Lock()

    def attempt(i: int, op_id: str, step: str, target: OperationStatus) -> None:
        barrier.wait(timeout=10)  # every thread tries the same move at the same moment
        try:
            mem.operations.transition(pid, op_id, target)
            outcome = f"won {target}"
        except InvalidTransitionError as exc:
            outcome = f"refused {exc.current}->{exc.target}"
        with lock:
            outcomes.setdefault((op_id, step), []).append((i, outcome))

    def work(i: int) -> None:
        finish = OperationStatus.COMPLETED if i % 2 == 0 else OperationStatus.FAILED
        for op in ops:
            attempt(i, op.id, "start", OperationStatus.RUNNING)
            attempt(i, op.id, "finish", finish)

    _run_together(work)

    for op in ops:
        started = [o for _, o in outcomes[(op.id, "start")]]
        assert len(started) == THREADS
        assert started.count("won running") == 1
        assert all(o.startswith("refused running->running") for o in started if o != "won running")
        finished = outcomes[(op.id, "finish")]
        winners = [(i, o) for i, o in finished if o.startswith("won")]
        assert len(finished) == THREADS
        assert len(winners) == 1
        final = mem.operations.get_by_id(pid, op.id).status
        assert winners[0][1] == f"won {final}"
        losers = [o for _, o in finished if not o.startswith("won")]
        assert all(o.startswith(f"refused {final}->") for o in losers)


@pytest.mark.usefixtures("busy_switching")
def test_racing_upserts_keep_one_row_per_object(mem: Repositories, builder: Builder) -> None:
    state = builder.new("read_states", object_name="contact")

    def work(i: int) -> None:
        for n in range(25):
            fresh = dataclasses.replace(state, id=new_id(), records_processed=i * 100 + n)
            mem.read_states.upsert(fresh)

    _run_together(work)
    rows = mem.read_states.list(state.project_id).items
    assert len(rows) == 1
    assert rows[0].records_processed % 100 == 24  # some thread's last write


@pytest.mark.usefixtures("busy_switching")
def test_racing_creates_of_one_unique_key_have_exactly_one_winner(
    store: MemoryStore, mem: Repositories, builder: Builder
) -> None:
    pid = builder.project().id
    names = [f"webhook-{n}" for n in range(50)]
    barrier = threading.Barrier(THREADS)
    won: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    lock = threading.Lock()

    def work(i: int) -> None:
        local = Builder(mem)
        for name in names:
            barrier.wait(timeout=10)
            try:
                local.destination(project_id=pid, name=name)
                tally = won
            except AlreadyExistsError:
                tally = refused
            with lock:
                tally[name] += 1

    _run_together(work)
    assert won == Counter(dict.fromkeys(names, 1))
    assert refused == Counter(dict.fromkeys(names, THREADS - 1))
    assert store.counts()["destinations"] == len(names)


@pytest.mark.parametrize("count", [100, indexes.SMALL_GROUP + 40])
def test_a_group_small_or_past_a_small_list_keeps_exact_pages_through_moves_and_restores(
    store: MemoryStore, mem: Repositories, builder: Builder, count: int
) -> None:
    pid = builder.project().id
    start = datetime(2026, 1, 1, tzinfo=UTC)
    times = [start + timedelta(seconds=(i * 7919) % count) for i in range(count)]  # any order
    made = [builder.connection(project_id=pid, provider="a", create_time=t) for t in times]
    listed = sorted(made, key=lambda c: (c.create_time, c.id))
    assert _pages(mem, pid, "a") == [c.id for c in listed]
    snapshot = store.snapshot()
    moved = {c.id for c in listed[::3]}
    for connection in listed[::3]:  # out of group a, then some back in
        mem.connections.update(dataclasses.replace(connection, provider="b"))
    for connection in listed[1::5]:
        mem.connections.delete(pid, connection.id)
    gone = {c.id for c in listed[1::5]}
    back = [c for c in listed[::3] if c.id not in gone][:20]
    for connection in back:
        mem.connections.update(dataclasses.replace(connection, provider="a"))
    returned = {c.id for c in back}
    expected = [
        c.id for c in listed if c.id not in gone and (c.id not in moved or c.id in returned)
    ]
    assert _pages(mem, pid, "a") == expected
    store.restore(snapshot)
    assert _pages(mem, pid, "a") == [c.id for c in listed]
    assert _pages(mem, pid, "b") == []
    doomed = [c for i, c in enumerate(made) if i % 3]  # most of the group: it is compacted
    for connection in doomed:
        mem.connections.delete(pid, connection.id)
    assert _pages(mem, pid, "a") == [c.id for c in listed if c not in doomed]
    for connection in doomed:  # back, in no particular list order
        mem.connections.create(connection)
    assert _pages(mem, pid, "a") == [c.id for c in listed]


def test_empty_documents_handed_out_are_each_callers_own(
    mem: Repositories, builder: Builder
) -> None:
    op = builder.operation(metadata={})
    first = mem.operations.get_by_id(op.project_id, op.id)
    assert first.metadata == {}
    assert first.metadata is not None
    first.metadata["objects"] = ["lead"]
    listed = mem.operations.list(op.project_id).items
    assert [o.metadata for o in listed if o.id == op.id] == [{}]
    assert mem.operations.get_by_id(op.project_id, op.id).metadata == {}
