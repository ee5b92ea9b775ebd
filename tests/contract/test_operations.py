"""Operation status moves: pending -> running -> completed | failed, pending -> failed, no exits."""

from __future__ import annotations

import dataclasses
import itertools
import uuid

import pytest

from pytest_ampdb.errors import InvalidTransitionError, NotFoundError, ValidationError
from pytest_ampdb.models import OperationStatus
from pytest_ampdb.models.tables import OPERATION_MOVES
from pytest_ampdb.repositories import utc_now
from pytest_ampdb.types import Repositories

from .builders import Builder

S = OperationStatus
ALLOWED = {
    (S.PENDING, S.RUNNING),
    (S.PENDING, S.FAILED),
    (S.RUNNING, S.COMPLETED),
    (S.RUNNING, S.FAILED),
}
FORBIDDEN = sorted(set(itertools.product(S, S)) - ALLOWED)


def _pid(s: tuple[OperationStatus, OperationStatus]) -> str:
    return f"{s[0]}->{s[1]}"


@pytest.mark.parametrize(
    ("current", "target"), sorted(ALLOWED), ids=[_pid(m) for m in sorted(ALLOWED)]
)
def test_an_allowed_move_is_stored(
    build: Builder, repos: Repositories, current: OperationStatus, target: OperationStatus
) -> None:
    op = build.operation_in(current)
    assert op.status is current
    before = utc_now()
    moved = repos.operations.transition(op.project_id, op.id, target)
    assert moved.status is target
    assert before <= moved.update_time <= utc_now()
    assert moved.create_time == op.create_time
    assert repos.operations.get_by_id(op.project_id, op.id) == moved


@pytest.mark.parametrize(("current", "target"), FORBIDDEN, ids=[_pid(m) for m in FORBIDDEN])
def test_a_forbidden_move_is_an_invalid_transition(
    build: Builder, repos: Repositories, current: OperationStatus, target: OperationStatus
) -> None:
    op = build.operation_in(current)
    with pytest.raises(InvalidTransitionError) as caught:
        repos.operations.transition(op.project_id, op.id, target, result="should not be stored")
    error = caught.value
    assert (error.table, error.current, error.target) == ("operations", current, target)
    assert (type(error.current), type(error.target)) == (str, str)  # the text, as the type says
    assert error.key == f"project_id={op.project_id}, id={op.id}"  # as NotFoundError.key names it
    assert f"from {current} to {target}" in str(error)
    assert repos.operations.get_by_id(op.project_id, op.id) == op


def test_the_declared_moves_are_the_documented_ones() -> None:
    declared = {(current, target) for current, moves in OPERATION_MOVES.items() for target in moves}
    assert declared == ALLOWED


def test_the_result_is_stored_and_kept_by_later_moves(build: Builder, repos: Repositories) -> None:
    op = build.operation()
    running = repos.operations.transition(
        op.project_id, op.id, S.RUNNING, result="[contact] started"
    )
    assert running.result == "[contact] started"
    done = repos.operations.transition(op.project_id, op.id, S.COMPLETED)
    assert done.result == "[contact] started"
    failed_op = build.operation_in(S.RUNNING)
    failed = repos.operations.transition(
        failed_op.project_id,
        failed_op.id,
        S.FAILED,
        result="Batch write completed (0 succeeded, 2 failed)",
    )
    stored = repos.operations.get_by_id(failed_op.project_id, failed_op.id)
    assert stored.result == failed.result == "Batch write completed (0 succeeded, 2 failed)"


def test_statuses_may_be_given_as_plain_strings(build: Builder, repos: Repositories) -> None:
    op = build.operation()
    moved = repos.operations.transition(op.project_id, op.id, "running")  # type: ignore[arg-type]
    assert moved.status is S.RUNNING


def test_an_unknown_status_is_a_validation_error(build: Builder, repos: Repositories) -> None:
    op = build.operation()
    with pytest.raises(ValidationError) as caught:
        repos.operations.transition(op.project_id, op.id, "done")  # type: ignore[arg-type]
    assert (caught.value.table, caught.value.column) == ("operations", "status")


def test_transition_of_a_missing_operation_is_not_found(
    build: Builder, repos: Repositories
) -> None:
    op = build.operation()
    with pytest.raises(NotFoundError):
        repos.operations.transition(op.project_id, str(uuid.uuid4()), S.RUNNING)
    with pytest.raises(NotFoundError):
        repos.operations.transition(build.project().id, op.id, S.RUNNING)  # another project
    assert repos.operations.get_by_id(op.project_id, op.id).status is S.PENDING


@pytest.mark.parametrize(
    ("current", "target"), sorted(ALLOWED), ids=[_pid(m) for m in sorted(ALLOWED)]
)
def test_update_may_make_an_allowed_move(
    build: Builder, repos: Repositories, current: OperationStatus, target: OperationStatus
) -> None:
    op = build.operation_in(current)
    updated = repos.operations.update(dataclasses.replace(op, status=target, result="ok"))
    assert (updated.status, updated.result) == (target, "ok")


@pytest.mark.parametrize(
    ("current", "target"),
    [m for m in FORBIDDEN if m[0] != m[1]],
    ids=[_pid(m) for m in FORBIDDEN if m[0] != m[1]],
)
def test_update_cannot_make_a_forbidden_move(
    build: Builder, repos: Repositories, current: OperationStatus, target: OperationStatus
) -> None:
    op = build.operation_in(current)
    with pytest.raises(InvalidTransitionError) as caught:
        repos.operations.update(dataclasses.replace(op, status=target, result="nope"))
    assert (caught.value.current, caught.value.target) == (current, target)
    assert caught.value.key == f"project_id={op.project_id}, id={op.id}"
    assert repos.operations.get_by_id(op.project_id, op.id) == op


def test_update_that_keeps_the_status_is_not_a_move(build: Builder, repos: Repositories) -> None:
    op = build.operation_in(S.COMPLETED)
    updated = repos.operations.update(dataclasses.replace(op, metadata={"note": "archived"}))
    assert (updated.status, updated.metadata) == (S.COMPLETED, {"note": "archived"})


def test_list_by_installation_with_and_without_status(build: Builder, repos: Repositories) -> None:
    installation = build.installation()
    pid = installation.project_id
    mine = [
        build.operation_in(status, project_id=pid, installation_id=installation.id)
        for status in (S.PENDING, S.RUNNING, S.COMPLETED, S.RUNNING, S.FAILED)
    ]
    build.operation_in(S.RUNNING, project_id=pid)  # another installation of the same project

    assert repos.operations.list_by_installation(pid, installation.id) == mine
    for status in S:
        expected = [op for op in mine if op.status is status]
        assert (
            repos.operations.list_by_installation(pid, installation.id, status=status) == expected
        )
    assert repos.operations.list_by_installation(build.project().id, installation.id) == []
