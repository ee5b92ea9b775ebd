"""The async service's suite under pytest-asyncio, on whichever backend and isolation the run uses.

``ampdb_async`` is the test's repositories, awaited; the service reaches the same ones through
``async_database``. Sync and async see the same rows, and everything is undone after the test.
"""

from __future__ import annotations

import asyncio

import pytest
from async_service import Unauthorized, authenticate, claim, finish

from pytest_ampdb import async_database, mock
from pytest_ampdb.models import ApiKey, Operation, OperationStatus
from pytest_ampdb.types import AsyncRepositories

SEEDED_PENDING_READ = "019b7a40-0000-7000-8000-000000000002"

pytestmark = pytest.mark.asyncio


async def test_the_seeded_key_authenticates_to_its_project(ampdb_seed) -> None:
    principal = await authenticate(ampdb_seed.api_key)
    assert principal.project_id == ampdb_seed.project_id


@pytest.mark.parametrize("key", [None, "", "no-such-key"])
async def test_a_missing_or_unknown_key_is_unauthorized(key: str | None) -> None:
    with pytest.raises(Unauthorized):
        await authenticate(key)


async def test_a_key_created_by_the_test_authenticates(
    ampdb_async: AsyncRepositories, ampdb_seed
) -> None:
    made = await ampdb_async.api_keys.create(
        ApiKey(project_id=ampdb_seed.project_id, key="test-key-0001", label="made here", scopes=())
    )
    assert (await authenticate(made.key)).project_id == ampdb_seed.project_id
    await ampdb_async.api_keys.delete(made.project_id, made.key)
    with pytest.raises(Unauthorized):
        await authenticate(made.key)


async def test_two_tasks_claiming_one_operation_have_exactly_one_winner(
    ampdb_async: AsyncRepositories, ampdb_seed
) -> None:
    project = ampdb_seed.project_id
    outcomes = await asyncio.gather(
        claim(project, SEEDED_PENDING_READ), claim(project, SEEDED_PENDING_READ)
    )
    winners = [o for o in outcomes if o is not None]
    assert len(winners) == 1
    assert winners[0].status is OperationStatus.RUNNING
    done = await finish(project, SEEDED_PENDING_READ, ok=True, result="read 5 records")
    assert (await ampdb_async.operations.get_by_id(project, done.id)).status is (
        OperationStatus.COMPLETED
    )


async def test_claiming_many_operations_from_many_tasks_runs_each_once(
    operation_factory, ampdb_seed
) -> None:
    ops: list[Operation] = [
        await operation_factory.acreate(status=OperationStatus.PENDING) for _ in range(5)
    ]
    tasks = [claim(op.project_id, op.id) for op in ops for _ in range(3)]
    claimed = [o for o in await asyncio.gather(*tasks) if o is not None]
    assert sorted(o.id for o in claimed) == sorted(op.id for op in ops)


async def test_a_unit_test_injects_an_async_mock_for_this_task_only() -> None:
    async def get_by_key(key: str) -> ApiKey:
        return ApiKey(project_id="p-1", key=key, label="mocked", scopes=())

    keys = mock.AsyncApiKeyBuilder().with_get_by_key(get_by_key).build()
    with async_database.with_api_key_repository(keys):
        assert (await authenticate("anything")).project_id == "p-1"
    assert [c.args for c in keys.calls_to("get_by_key")] == [("anything",)]
