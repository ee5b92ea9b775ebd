"""An async test's writes never reach the next test: direct, through the async facade (code
under test), through a factory, under pytest-asyncio and anyio, in every backend and isolation.

Also: in PostgreSQL the async repositories run on the test's own connection, so sync code sees
the async writes before the test ends (one transaction in ``transaction`` isolation).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_ampdb.harness.provisioning import LocalCluster

pytest_plugins = ["pytester"]

ASYNC_SUITE = """
import asyncio
from pathlib import Path

import pytest
from pytest_ampdb import async_database
from pytest_ampdb.models import Organization, new_id
from pytest_ampdb.repositories.aio import EventLoopError

def org(label):
    return Organization(label=label, default_team_id=new_id())

async def register(label):  # the code under test: it reaches the repositories by the facade
    return await async_database.organizations().create(org(label))

async def labels(repos):
    return sorted(o.label for o in (await repos.organizations.list()).items)

@pytest.mark.asyncio
async def test_a_writes(ampdb_async, ampdb, organization_factory):
    await ampdb_async.organizations.create(org("direct"))
    await asyncio.create_task(register("through the facade"))
    await organization_factory.acreate(label="by a factory")
    expected = ["Ampersand Local", "by a factory", "direct", "through the facade"]
    assert await labels(ampdb_async) == expected
    seen_by_sync = await asyncio.to_thread(ampdb.organizations.list)
    assert sorted(o.label for o in seen_by_sync.items) == expected

@pytest.mark.asyncio
async def test_b_sees_only_the_seeds(ampdb_async):
    assert await labels(ampdb_async) == ["Ampersand Local"]
    assert await labels(async_database.repositories()) == ["Ampersand Local"]

@pytest.fixture
def anyio_backend():
    return "asyncio"

@pytest.mark.anyio
async def test_c_anyio_writes(ampdb_async):
    await register("under anyio")
    assert "under anyio" in await labels(ampdb_async)

@pytest.mark.anyio
async def test_d_anyio_sees_only_the_seeds(ampdb_async):
    assert await labels(ampdb_async) == ["Ampersand Local"]

def test_e_sync_sees_only_the_seeds(ampdb):
    assert [o.label for o in ampdb.organizations.list().items] == ["Ampersand Local"]
"""

BLOCKING_SUITE = """
from pathlib import Path

import pytest

@pytest.mark.asyncio
async def test_sync_call_in_the_loop(ampdb):
    ampdb.organizations.list()
"""


ROUND_TRIP_SUITE = """
import asyncio

import pytest
from pytest_ampdb.models import Organization, new_id

def org(label):
    return Organization(label=label, default_team_id=new_id())

@pytest.mark.asyncio
async def test_a_call_cancelled_after_it_started_is_cancelled_with_its_write_done(ampdb_async):
    task = asyncio.create_task(ampdb_async.organizations.create(org("cancelled")))
    await asyncio.sleep(0)  # the call has started
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    labels = [o.label for o in (await ampdb_async.organizations.list()).items]
    assert "cancelled" in labels

@pytest.mark.asyncio
async def test_a_call_cancelled_before_it_started_writes_nothing(ampdb_async):
    task = asyncio.create_task(ampdb_async.organizations.create(org("never")))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    labels = [o.label for o in (await ampdb_async.organizations.list()).items]
    assert "never" not in labels

@pytest.mark.asyncio
async def test_two_tasks_interleave_between_their_calls(ampdb_async):
    seen = []

    async def reader(name):
        await ampdb_async.organizations.list()
        seen.append(name)
        await ampdb_async.organizations.list()
        seen.append(name)

    await asyncio.gather(reader("a"), reader("b"))
    assert seen == ["a", "b", "a", "b"]
"""


@pytest.mark.parametrize(
    "backend", ["memory", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_an_async_call_suspends_its_task_once_in_both_modes(
    pytester: pytest.Pytester, backend: str, request: pytest.FixtureRequest
) -> None:
    """Memory never blocks, but each async call still gives the loop a turn (as a round trip
    does, and as the worker thread of postgres mode does): tasks interleave alike, and a cancel
    after the call started is raised with the write done in both modes."""
    pytester.makepyfile(ROUND_TRIP_SUITE)
    server = (
        [f"--ampdb-dsn={request.getfixturevalue('pg_admin_dsn')}"] if backend == "postgres" else []
    )
    result = pytester.runpytest_subprocess(f"--ampdb={backend}", *server, "-p", "no:randomly")
    result.assert_outcomes(passed=3)


def test_async_writes_never_reach_the_next_test_in_memory(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(ASYNC_SUITE)
    result = pytester.runpytest_subprocess("--ampdb=memory", "-p", "no:randomly")
    result.assert_outcomes(passed=5)


@pytest.mark.postgres
@pytest.mark.parametrize("isolation", ["transaction", "database", "truncate"])
def test_async_writes_never_reach_the_next_test_in_postgres(
    pytester: pytest.Pytester, pg_cluster: LocalCluster, pg_admin_dsn: str, isolation: str
) -> None:
    pytester.makepyfile(ASYNC_SUITE)
    result = pytester.runpytest_subprocess(
        "--ampdb=postgres",
        f"--ampdb-dsn={pg_admin_dsn}",
        f"--ampdb-isolation={isolation}",
        "-p",
        "no:randomly",
    )
    result.assert_outcomes(passed=5)


@pytest.mark.postgres
def test_a_sync_repository_called_in_an_async_test_says_to_await_the_async_one(
    pytester: pytest.Pytester, pg_cluster: LocalCluster, pg_admin_dsn: str
) -> None:
    pytester.makepyfile(BLOCKING_SUITE)
    result = pytester.runpytest_subprocess(
        "--ampdb=postgres", f"--ampdb-dsn={pg_admin_dsn}", "-p", "no:randomly"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*EventLoopError: a sync PostgreSQL repository was called inside a running event loop*"]
    )


def test_a_sync_repository_called_in_an_async_test_fails_in_memory_too(
    pytester: pytest.Pytester,
) -> None:
    """The same test fails in both modes (memory never blocks, but the suite must not pass in
    memory and fail only in CI's postgres run); the async repositories still work there."""
    pytester.makepyfile(BLOCKING_SUITE)
    result = pytester.runpytest_subprocess("--ampdb=memory", "-p", "no:randomly")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*EventLoopError: a sync repository was called inside a running event loop, which"
            " --ampdb=postgres refuses*use the async repositories*"
        ]
    )


@pytest.mark.postgres
@pytest.mark.parametrize("isolation", ["transaction", "database"])
def test_the_async_example_suite_passes_on_postgres(
    pytester: pytest.Pytester, pg_cluster: LocalCluster, pg_admin_dsn: str, isolation: str
) -> None:
    suite = Path(__file__).resolve().parents[1] / "examples" / "tests" / "test_async_service.py"
    result = pytester.runpytest_subprocess(
        str(suite),
        "--ampdb=postgres",
        f"--ampdb-dsn={pg_admin_dsn}",
        f"--ampdb-isolation={isolation}",
        "-p",
        "no:randomly",
    )
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines([f"ampdb: migrations at version *; isolation {isolation}"])


FACADE_FIRST_SUITE = """
import pytest
from pytest_ampdb import async_database

@pytest.mark.asyncio
async def test_the_first_test_reaches_the_database_through_the_facade(ampdb_seed):
    key = await async_database.api_keys().get_by_key(ampdb_seed.api_key)
    assert key.project_id == ampdb_seed.project_id
"""


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--ampdb=memory"], id="memory"),
        *(
            pytest.param(
                ["--ampdb=postgres", f"--ampdb-isolation={i}"], marks=pytest.mark.postgres, id=i
            )
            for i in ("transaction", "database", "truncate")
        ),
    ],
)
def test_an_async_test_may_open_its_database_through_the_async_facade(
    pytester: pytest.Pytester, request: pytest.FixtureRequest, args: list[str]
) -> None:
    """The test's database is opened lazily, by whatever reaches it first: here
    ``async_database``'s default, inside the running loop. Opening it is the harness's work (a
    clone, a snapshot of the starting rows), not a sync repository call of the test's: it was
    refused as one (``EventLoopError``) under ``truncate`` isolation."""
    pytester.makepyfile(FACADE_FIRST_SUITE)
    server = (
        [f"--ampdb-dsn={request.getfixturevalue('pg_admin_dsn')}"]
        if "--ampdb=postgres" in args
        else []
    )
    result = pytester.runpytest_subprocess(*args, *server, "-p", "no:randomly")
    result.assert_outcomes(passed=1)
