"""Claim pending operations from many tasks at once: each operation runs exactly once.

A claim is the status move ``pending -> running``; the repository makes the check and the
write one atomic step, so of two tasks claiming one operation exactly one gets it and the other
is told ``None``.
"""

from __future__ import annotations

from pytest_ampdb import async_database
from pytest_ampdb.errors import InvalidTransitionError
from pytest_ampdb.models import Operation, OperationStatus


async def claim(project_id: str, operation_id: str) -> Operation | None:
    """The operation, now running and ours; ``None`` when another task claimed it first."""
    try:
        return await async_database.operations().transition(
            project_id, operation_id, OperationStatus.RUNNING
        )
    except InvalidTransitionError:
        return None


async def finish(project_id: str, operation_id: str, *, ok: bool, result: str) -> Operation:
    """Record how a claimed operation ended."""
    status = OperationStatus.COMPLETED if ok else OperationStatus.FAILED
    return await async_database.operations().transition(
        project_id, operation_id, status, result=result
    )
