"""Concurrent writers: what PostgreSQL decides under a real race, the memory store decides too.

One claim of an operation wins, one row per unique key, one cursor per installation and object,
no child outlives a parent deleted while it is being created. PostgreSQL runs here as a service
runs it: a pool, each call its own transaction on its own connection (the contract suite's other
PostgreSQL backends share one connection, which would take the threads one at a time).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pytest_ampdb import memory, postgres
from pytest_ampdb.errors import (
    AlreadyExistsError,
    AmpdbError,
    ForeignKeyError,
    InvalidTransitionError,
    NotFoundError,
)
from pytest_ampdb.models import OperationStatus, ReadState
from pytest_ampdb.models.tables import OPERATION_MOVES
from pytest_ampdb.types import Repositories

from .builders import Builder

RACERS = 12


@pytest.fixture(params=["memory", pytest.param("postgres_pool", marks=pytest.mark.postgres)])
def racing(request: pytest.FixtureRequest) -> Iterator[Repositories]:
    """The memory store, or PostgreSQL repositories over a pool of ``RACERS`` connections on a
    migrated database of this module's own (each test makes a project of its own in it)."""
    if request.param == "memory":
        yield memory.repositories(memory.MemoryStore())
        return
    dsn: str = request.getfixturevalue("migrated_dsn")
    pool = postgres.connect(dsn, min_size=RACERS, max_size=RACERS)
    try:
        pool.wait()
        yield postgres.repositories(pool)
    finally:
        pool.close()


def _race(call: Callable[[int], Any]) -> list[Any]:
    """``call(0)`` ... ``call(RACERS - 1)`` in as many threads, let go at the same moment; each
    result is what the call returned or the ``AmpdbError`` it raised."""
    start = threading.Barrier(RACERS)
    results: list[Any] = [None] * RACERS

    def run(n: int) -> None:
        start.wait()
        try:
            results[n] = call(n)
        except AmpdbError as exc:
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _errors(results: list[Any]) -> list[AmpdbError]:
    return [r for r in results if isinstance(r, AmpdbError)]


def test_one_of_many_concurrent_claims_of_an_operation_wins(racing: Repositories) -> None:
    op = Builder(racing).operation()
    results = _race(
        lambda _: racing.operations.transition(op.project_id, op.id, OperationStatus.RUNNING)
    )
    errors = _errors(results)
    assert len(errors) == RACERS - 1
    refused = [e for e in errors if isinstance(e, InvalidTransitionError)]
    assert refused == errors
    assert {(e.current, e.target) for e in refused} == {("running", "running")}
    assert racing.operations.get_by_id(op.project_id, op.id).status is OperationStatus.RUNNING


def test_one_of_many_concurrent_creates_of_a_unique_key_wins(racing: Repositories) -> None:
    build = Builder(racing)
    project = build.project()
    rows = [build.new("destinations", project_id=project.id, name="hook") for _ in range(RACERS)]
    results = _race(lambda n: racing.destinations.create(rows[n]))
    errors = _errors(results)
    assert len(errors) == RACERS - 1
    refused = [e for e in errors if isinstance(e, AlreadyExistsError)]
    assert refused == errors
    assert {e.columns for e in refused} == {("project_id", "name")}
    (stored,) = racing.destinations.list(project.id).items
    assert stored in results


def test_concurrent_upserts_of_one_cursor_keep_one_row(racing: Repositories) -> None:
    installation = Builder(racing).installation()
    results = _race(
        lambda n: racing.read_states.upsert(
            ReadState(
                project_id=installation.project_id,
                installation_id=installation.id,
                object_name="contact",
                records_processed=n,
            )
        )
    )
    assert _errors(results) == []
    (stored,) = racing.read_states.list(installation.project_id).items
    assert {r.id for r in results} == {stored.id}
    assert stored.records_processed in range(RACERS)


def test_a_parent_deleted_while_children_are_created_leaves_no_orphan(
    racing: Repositories,
) -> None:
    build = Builder(racing)
    installation = build.installation()
    pid = installation.project_id
    children = [
        build.new(
            "operations",
            project_id=pid,
            integration_id=installation.integration_id,
            installation_id=installation.id,
        )
        for _ in range(RACERS)
    ]

    def create_or_delete(n: int) -> object:
        if n == RACERS // 2:
            racing.installations.delete(pid, installation.id)
            return "deleted"
        return racing.operations.create(children[n])

    results = _race(create_or_delete)
    assert "deleted" in results
    assert all(isinstance(e, ForeignKeyError) for e in _errors(results)), results
    assert racing.operations.list_by_installation(pid, installation.id) == []
    with pytest.raises(NotFoundError):
        racing.installations.get_by_id(pid, installation.id)


def test_a_refused_move_names_the_status_it_was_refused_from(racing: Repositories) -> None:
    """Claims and completions of one pending operation at once: a move is refused for the
    status the operation held when it was refused, so the error never names a move the rules
    allow (PostgreSQL read the status again after the refusal, by which time another caller
    had moved it: 'cannot move from running to completed')."""
    build = Builder(racing)
    targets = [OperationStatus.RUNNING, OperationStatus.COMPLETED] * (RACERS // 2)
    for _ in range(10):
        op = build.operation()
        results = _race(
            lambda n, op=op: racing.operations.transition(op.project_id, op.id, targets[n])
        )
        for error in _errors(results):
            assert isinstance(error, InvalidTransitionError), error
            assert error.target not in OPERATION_MOVES[error.current], error
            assert str(error).endswith(f"cannot move from {error.current} to {error.target}")


def test_a_refused_status_change_by_update_names_the_status_it_was_refused_from(
    racing: Repositories,
) -> None:
    """``update`` of an operation's status (not ``transition``), racing: refused for the
    status held when it was refused, as ``transition`` is (PostgreSQL's move trigger refused
    it, and the status was then read again, already moved on by another caller)."""
    build = Builder(racing)
    targets = [OperationStatus.RUNNING, OperationStatus.COMPLETED] * (RACERS // 2)
    for _ in range(10):
        op = build.operation()
        results = _race(
            lambda n, op=op: racing.operations.update(dataclasses.replace(op, status=targets[n]))
        )
        for error in _errors(results):
            assert isinstance(error, InvalidTransitionError), error
            assert error.target not in OPERATION_MOVES[error.current], error
            assert error.current != error.target, error
