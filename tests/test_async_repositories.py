"""The async repositories: generated from the sync declarations, awaited, refusing misuse."""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pytest_ampdb import memory, migrations, postgres, seeds
from pytest_ampdb.errors import AmpdbError, InvalidTransitionError
from pytest_ampdb.models import OperationStatus
from pytest_ampdb.postgres.async_engine import AsyncPoolSource
from pytest_ampdb.repositories.aio import ASYNC_CLASSES, EventLoopError
from pytest_ampdb.seeds.postgres import load_into_postgres
from pytest_ampdb.types import AsyncRepositories, Repositories
from pytest_ampdb.types import async_repositories as async_protocols

ROOT = Path(__file__).resolve().parent.parent
SEEDS = seeds.read_seeds()


def test_the_async_protocols_file_is_generated_from_the_sync_protocols() -> None:
    script = ROOT / "scripts" / "async_protocols.py"
    command = [sys.executable, str(script), "--check"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("table", sorted(ASYNC_CLASSES))
def test_each_async_repository_has_the_async_protocols_methods(table: str) -> None:
    protocol = getattr(async_protocols, ASYNC_CLASSES[table].__name__)
    declared = {n for n in dir(protocol) if not n.startswith("_")}
    made = {n for n in vars(ASYNC_CLASSES[table]) if not n.startswith("_")}
    assert made == declared
    for name in declared:
        assert inspect.iscoroutinefunction(getattr(protocol, name))
        expected = inspect.signature(getattr(protocol, name))
        assert inspect.signature(getattr(ASYNC_CLASSES[table], name)) == expected


def _memory() -> tuple[Repositories, AsyncRepositories]:
    store = memory.MemoryStore()
    seeds.load_into_store(store, SEEDS)
    return memory.repositories(store), memory.async_repositories(store)


def test_an_async_repository_called_outside_an_event_loop_says_to_await_it() -> None:
    _, arepos = _memory()
    with pytest.raises(EventLoopError) as caught:
        arepos.api_keys.get_by_key(SEEDS.ids.api_key)
    message = str(caught.value)
    assert "\n" not in message
    assert "AsyncApiKeyRepository.get_by_key() was called outside a running event loop" in message
    assert "use the sync repositories" in message


def test_sync_and_async_repositories_over_one_store_see_the_same_rows() -> None:
    repos, arepos = _memory()

    async def scenario() -> None:
        key = await arepos.api_keys.get_by_key(SEEDS.ids.api_key)
        assert key == repos.api_keys.get_by_key(SEEDS.ids.api_key)
        await arepos.api_keys.delete(key.project_id, key.key)
        assert key.key not in [k.key for k in repos.api_keys.list(key.project_id).items]

    asyncio.run(scenario())


async def _claim_race(arepos: AsyncRepositories) -> list[object]:
    project = SEEDS.ids.project_id
    ops = await arepos.operations.list(project)
    pending = [o for o in ops.items if o.status is OperationStatus.PENDING]
    assert pending, "the seeds have a pending operation"
    claim = arepos.operations.transition(project, pending[0].id, OperationStatus.RUNNING)
    again = arepos.operations.transition(project, pending[0].id, OperationStatus.RUNNING)
    return list(await asyncio.gather(claim, again, return_exceptions=True))


def _one_winner(outcomes: list[object]) -> None:
    losers = [o for o in outcomes if isinstance(o, InvalidTransitionError)]
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    assert (len(winners), len(losers)) == (1, 1), outcomes


def test_gather_of_two_claims_in_memory_has_exactly_one_winner() -> None:
    _one_winner(asyncio.run(_claim_race(_memory()[1])))


@pytest.fixture
def seeded_database(fresh_database: str) -> str:
    migrations.apply(fresh_database)
    with psycopg.connect(fresh_database) as conn:
        postgres.configure_connection(conn)
        load_into_postgres(conn, SEEDS)
    return fresh_database


def test_async_connect_pool_has_the_seed_defaults_and_one_claim_wins(seeded_database: str) -> None:
    async def scenario() -> list[object]:
        pool = await postgres.async_connect(seeded_database, min_size=2)
        try:
            assert (pool.min_size, pool.max_size, pool.max_lifetime) == (2, 100, 60.0)
            return await _claim_race(postgres.async_repositories(pool))
        finally:
            await pool.close()

    _one_winner(asyncio.run(scenario()))


def test_a_sync_postgres_repository_inside_an_event_loop_says_to_use_the_async_one(
    seeded_database: str,
) -> None:
    with psycopg.connect(seeded_database) as conn:
        postgres.configure_connection(conn)
        repos = postgres.repositories(conn)

        async def scenario() -> None:
            repos.api_keys.get_by_key(SEEDS.ids.api_key)

        with pytest.raises(EventLoopError) as caught:
            asyncio.run(scenario())
        assert "\n" not in str(caught.value)
        assert "would block it: use the async repositories" in str(caught.value)
        assert repos.api_keys.get_by_key(SEEDS.ids.api_key).key == SEEDS.ids.api_key


def test_async_facade_injection_is_per_task() -> None:
    """Each task sees what was injected for it; a task never sees another task's mock."""
    from pytest_ampdb import async_database, mock

    def keys_of(project: str) -> object:
        async def get_by_key(key: str) -> object:
            return (project, key)

        return mock.AsyncApiKeyBuilder().with_get_by_key(get_by_key).build()

    async def serve(project: str, gate: asyncio.Event) -> object:
        with async_database.with_api_key_repository(keys_of(project)):  # type: ignore[arg-type]
            await gate.wait()  # both tasks are inside their blocks at once
            return await async_database.api_keys().get_by_key("k")

    async def scenario() -> list[object]:
        gate = asyncio.Event()
        tasks = [asyncio.create_task(serve(p, gate)) for p in ("p1", "p2")]
        await asyncio.sleep(0)
        gate.set()
        return list(await asyncio.gather(*tasks))

    assert asyncio.run(scenario()) == [("p1", "k"), ("p2", "k")]


def test_async_mocks_check_signatures_and_log_calls_like_the_sync_ones() -> None:
    from pytest_ampdb import mock
    from pytest_ampdb.mock import NotStubbedError

    with pytest.raises(TypeError, match=r"AsyncApiKeyBuilder.with_get_by_key: stub for "):
        mock.AsyncApiKeyBuilder().with_get_by_key(lambda: None)
    repo = mock.AsyncApiKeyBuilder().with_get_by_key(lambda key: f"sync stub {key}").build()
    bundle = mock.async_repositories(api_keys=repo)

    async def scenario() -> None:
        assert await bundle.api_keys.get_by_key("k1") == "sync stub k1"
        with pytest.raises(TypeError, match=r"AsyncApiKeyRepository.get_by_key"):
            await bundle.api_keys.get_by_key("k1", "extra")
        with pytest.raises(NotStubbedError, match="use AsyncProjectBuilder"):
            await bundle.projects.get_by_id("p")

    asyncio.run(scenario())
    assert [c.args for c in repo.calls_to("get_by_key")] == [("k1",)]
    assert type(mock.builder_for("api_keys", asynchronous=True)) is mock.AsyncApiKeyBuilder


def test_a_cancelled_call_raises_in_its_task_and_the_bridge_goes_on() -> None:
    from pytest_ampdb.repositories import aio

    def slow() -> object:
        return aio.await_only(asyncio.sleep(10, result="late"))

    def quick(value: object) -> object:
        return aio.await_only(asyncio.sleep(0, result=value))

    async def scenario() -> object:
        task = asyncio.create_task(aio.spawn(slow))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await aio.spawn(quick, "next call")

    assert asyncio.run(scenario()) == "next call"


def test_await_only_outside_the_bridge_is_refused() -> None:
    from pytest_ampdb.repositories import aio

    with pytest.raises(EventLoopError, match="needs a repository call driven by spawn"):
        aio.await_only(asyncio.sleep(0))


def test_a_pool_made_outside_the_loop_opens_in_the_first_task_that_uses_it(
    seeded_database: str,
) -> None:
    pool = postgres.async_pool(seeded_database, min_size=1)  # as async_database's default does
    arepos = postgres.async_repositories(pool)
    assert pool.closed

    async def scenario() -> list[str]:
        try:
            keys = await asyncio.gather(
                *(arepos.api_keys.get_by_key(SEEDS.ids.api_key) for _ in range(3))
            )
            return [k.project_id for k in keys]
        finally:
            await pool.close()

    assert asyncio.run(scenario()) == [SEEDS.ids.project_id] * 3


SERVICE = """
import asyncio
from pytest_ampdb import async_database

async def main():
    page = await async_database.organizations().list()
    print(len(page.items))

asyncio.run(main())
asyncio.run(main())  # a second loop: the default pool is made again for it
print("exited")
"""


@pytest.mark.postgres
def test_a_service_on_the_default_pool_exits_when_asyncio_run_returns(
    fresh_database: str,
) -> None:
    """``asyncio.run(main())`` over ``async_database``'s default (``AMPDB_DSN``: a pool opened
    by the first task) returns at once: the pool is closed when its loop ends. It hung: the
    pool was still opening its ten connections when ``asyncio.run`` cancelled them, and
    psycopg_pool retried each cancelled attempt, logging ``error connecting in 'ampdb': ``."""
    migrations.apply(fresh_database)
    env = {"AMPDB_DSN": fresh_database, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", SERVICE],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "0", "exited"]
    assert done.stderr == ""


def _run(tmp_path: Path, source: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """``source`` run as a service would run it, configured by ``environment`` alone (warnings
    shown), with the seeded API key as its argument; it must end well within 30 s."""
    script = tmp_path / "service.py"
    script.write_text(source)
    env = {k: v for k, v in os.environ.items() if k not in ("AMPDB_BACKEND", "AMPDB_DSN", "DB_DSN")}
    command = [sys.executable, "-W", "always", str(script), SEEDS.ids.api_key]
    done = subprocess.run(
        command, capture_output=True, text=True, env=env | environment, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    return done


FACADE_SCRIPT = """
import asyncio, sys
from pytest_ampdb import async_database

async def project_of(key):
    return (await async_database.api_keys().get_by_key(key)).project_id

print(asyncio.run(project_of(sys.argv[1])), flush=True)
print(asyncio.run(project_of(sys.argv[1])), flush=True)
"""


def test_the_async_facades_pool_serves_each_asyncio_run_and_lets_it_end(
    seeded_database: str, tmp_path: Path
) -> None:
    """``AMPDB_DSN`` outside tests: the async facade's default opens a pool in the event loop
    that first uses it. psycopg_pool's tasks survive the cancel ``asyncio.run`` ends with, so a
    pool left open kept that ``asyncio.run`` from returning, forever; and a pool serves only the
    loop it was opened in, so a second ``asyncio.run`` (a script, a CLI) needs its own."""
    done = _run(tmp_path, FACADE_SCRIPT, AMPDB_DSN=seeded_database)
    assert done.stdout.split() == [SEEDS.ids.project_id] * 2
    for trouble in ("Traceback", "Warning", "was destroyed", "never awaited", "Exception"):
        assert trouble not in done.stderr


INTERLEAVING_SCRIPT = """
import asyncio, sys
from pytest_ampdb import async_database

async def worker(name, seen):
    for _ in range(2):
        await async_database.api_keys().get_by_key(sys.argv[1])
        seen.append(name)

async def main():
    seen = []
    await asyncio.gather(worker("a", seen), worker("b", seen))
    print(" ".join(seen))

asyncio.run(main())
"""


def test_the_async_facades_memory_default_suspends_each_call(tmp_path: Path) -> None:
    """``AMPDB_BACKEND=memory`` outside tests: each call of the async facade's default gives
    the loop a turn, as ``memory.async_repositories`` and a round trip to a server do, so tasks
    interleave between calls (it ran each call to its end without one: a task's calls ran
    back to back, as they never do on PostgreSQL)."""
    done = _run(tmp_path, INTERLEAVING_SCRIPT, AMPDB_BACKEND="memory")
    assert done.stdout.split() == ["a", "b", "a", "b"]


def test_a_closed_pool_is_refused_alike_by_the_sync_and_async_repositories(
    seeded_database: str,
) -> None:
    """A pool the service closed (at shutdown) stays closed: the async repositories reopened
    one that ``async_pool`` had made, or refused it with another message than the sync ones."""
    pool = postgres.connect(seeded_database, min_size=1)
    repos = postgres.repositories(pool)
    pool.close()
    with pytest.raises(AmpdbError) as sync_error:
        repos.api_keys.get_by_key(SEEDS.ids.api_key)

    async def scenario(pool: Any) -> AmpdbError:
        arepos = postgres.async_repositories(pool)
        await arepos.api_keys.get_by_key(SEEDS.ids.api_key)
        await pool.close()
        with pytest.raises(AmpdbError) as caught:
            await arepos.api_keys.get_by_key(SEEDS.ids.api_key)
        assert pool.closed
        return caught.value

    async def opened() -> AmpdbError:
        return await scenario(await postgres.async_connect(seeded_database, min_size=1))

    for made in (
        asyncio.run(opened()),
        asyncio.run(scenario(postgres.async_pool(seeded_database, min_size=1))),
    ):
        assert (type(made), str(made)) == (type(sync_error.value), str(sync_error.value))


def test_a_cancelled_acreate_raises_once_its_rows_are_written() -> None:
    """A factory's ``acreate`` cancelled while it runs (a timeout) raises once its rows are all
    written, as an async repository call does: the thread it runs in cannot be stopped, and the
    caller raised at once while the thread went on writing the parent chain behind its back."""
    from pytest_ampdb import database
    from pytest_ampdb.factories import OperationFactory

    class SlowStore(memory.MemoryStore):
        def insert(self, spec: Any, row: Any) -> Any:
            time.sleep(0.02)  # a round trip's time: the cancel arrives mid-chain
            return super().insert(spec, row)

    store = SlowStore()

    async def scenario() -> dict[str, int]:
        task = asyncio.create_task(OperationFactory.acreate())
        await asyncio.sleep(0.03)  # the worker thread is writing the parent chain
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return store.counts()

    with database.use(memory.repositories(store)):
        at_the_cancel = asyncio.run(scenario())
    assert at_the_cancel["operations"] == 1
    assert at_the_cancel == store.counts()


def test_a_call_of_the_async_engine_cut_short_by_a_timeout_is_undone_and_the_pool_goes_on(
    seeded_database: str,
) -> None:
    """Production's async engine, a call waiting on the server (a row lock another session
    holds) when ``asyncio.wait_for`` gives up: the server cancels the statement, so it is
    undone whole, and the pool's connection serves the next call."""
    from pytest_ampdb.models import Destination, DestinationType

    project = SEEDS.ids.project_id

    def hook(name: str) -> Destination:
        return Destination(project_id=project, name=name, type=DestinationType.WEBHOOK)

    async def scenario() -> list[str]:
        pool = await postgres.async_connect(seeded_database, min_size=1, max_size=1)
        repos = postgres.async_repositories(pool)
        try:
            async with await psycopg.AsyncConnection.connect(seeded_database) as holder:
                await holder.execute(  # the same name, not committed: our insert waits on it
                    "INSERT INTO destinations (id, project_id, name, type, metadata, create_time)"
                    " VALUES (gen_random_uuid(), %s, 'held', 'webhook', '{}', now())",
                    (project,),
                )
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(repos.destinations.create(hook("held")), 0.5)
                await holder.rollback()
            await repos.destinations.create(hook("next"))  # the one connection goes on
            return sorted(d.name for d in (await repos.destinations.list(project)).items)
        finally:
            await pool.close()

    names = asyncio.run(scenario())
    assert "next" in names
    assert "held" not in names


def test_a_burst_of_concurrent_calls_leaves_few_greenlets_behind() -> None:
    """Each call waiting on its round trip holds a greenlet; after a burst of them only a few
    are kept for reuse (all were kept: the burst's size, for the life of the thread)."""
    import gc

    import greenlet

    from pytest_ampdb.repositories import aio
    from pytest_ampdb.repositories.bridge import IDLE_LIMIT

    def waits() -> int:
        result: int = aio.await_only(asyncio.sleep(0.001, result=1))
        return result

    async def burst() -> list[int]:
        return list(await asyncio.gather(*(aio.spawn(waits) for _ in range(500))))

    def alive() -> int:
        gc.collect()
        return sum(isinstance(g, greenlet.greenlet) and not g.dead for g in gc.get_objects())

    before = alive()
    assert sum(asyncio.run(burst())) == 500
    assert alive() - before <= IDLE_LIMIT


def test_a_call_while_its_loop_ends_gets_no_pool_of_its_own(seeded_database: str) -> None:
    """A task's ``finally`` calling a repository while ``asyncio.run`` ends (marking its work
    failed on cancel) met the pool closed by the loop's end, made a new one and left it open,
    with its connections, after ``asyncio.run`` returned. It is refused as a closed pool is,
    and a later ``asyncio.run`` gets a pool as before."""
    source = AsyncPoolSource(postgres.async_pool(seeded_database, min_size=2))
    repos = postgres.async_repositories(source)
    told: list[str] = []
    workers: list[asyncio.Future[None]] = []

    async def worker() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0.05)  # some other cleanup first
            try:
                await repos.api_keys.get_by_key(SEEDS.ids.api_key)
                told.append("served")
            except AmpdbError as exc:
                told.append(str(exc))

    async def main() -> None:
        await repos.api_keys.get_by_key(SEEDS.ids.api_key)
        workers.extend(asyncio.ensure_future(worker()) for _ in range(3))
        await asyncio.sleep(0.05)

    asyncio.run(main())
    assert told == ["PostgreSQL: the pool 'ampdb' is already closed"] * 3
    assert source.pool.closed  # no pool made again in the ending loop, left open

    async def again() -> str:
        return (await repos.api_keys.get_by_key(SEEDS.ids.api_key)).project_id

    assert asyncio.run(again()) == SEEDS.ids.project_id


def test_an_event_loop_in_another_thread_is_refused_the_pool_of_one_still_running(
    seeded_database: str,
) -> None:
    """psycopg's pool serves the loop that opened it; a second loop in another thread using the
    same repositories hung (or failed deep in asyncio). It gets one line saying what to do."""
    repos = postgres.async_repositories(postgres.async_pool(seeded_database, min_size=1))
    opened, done = threading.Event(), threading.Event()

    async def holding() -> None:
        await repos.api_keys.get_by_key(SEEDS.ids.api_key)
        opened.set()
        while not done.is_set():
            await asyncio.sleep(0.01)

    other = threading.Thread(target=asyncio.run, args=(holding(),))
    other.start()
    try:
        assert opened.wait(30)

        async def second() -> None:
            await repos.api_keys.get_by_key(SEEDS.ids.api_key)

        with pytest.raises(AmpdbError, match="serves the event loop that opened it"):
            asyncio.run(second())
    finally:
        done.set()
        other.join(30)

    async def after() -> str:  # the first loop ended: its pool closed, a new one for this one
        return (await repos.api_keys.get_by_key(SEEDS.ids.api_key)).project_id

    assert asyncio.run(after()) == SEEDS.ids.project_id


def _sessions(dsn: str) -> int:
    """The sessions on ``dsn``'s database other than the one asking."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_pools_connections_are_closed_when_its_loop_ends(seeded_database: str) -> None:
    """psycopg_pool's close gave up (cancelled) before closing its idle connections when
    ``asyncio.run`` had already cancelled the pool's workers: each ``asyncio.run`` of a service
    (a CLI command, a test's own loop) left ``min_size`` sessions open on the server until the
    process ended, and enough of them exhaust ``max_connections``."""
    repos = postgres.async_repositories(postgres.async_pool(seeded_database, min_size=3))

    async def call() -> str:
        return (await repos.api_keys.get_by_key(SEEDS.ids.api_key)).project_id

    before = _sessions(seeded_database)
    for _ in range(3):
        assert asyncio.run(call()) == SEEDS.ids.project_id
        deadline = time.monotonic() + 5  # a closed session's backend exits a moment later
        while _sessions(seeded_database) != before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _sessions(seeded_database) == before
