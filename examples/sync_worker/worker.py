"""Claim pending read operations, page each object forward, record where the read stopped.

- claiming is a status move ``pending -> running``; when two workers race for one operation,
  the repository lets exactly one win, and the loser skips it;
- every page advances the installation's read state (``read_states.upsert``), so a crash resumes
  from the last page rather than from the start;
- an authentication failure marks the connection ``bad_credentials``, the installation
  unhealthy, and the operation failed.

Reading an object's pages and advancing its read state is a read-modify-write, so operations of
one installation that run at the same time take turns per object (a lock per read state);
without it two threads would both add their count to the same starting value and lose one.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from pytest_ampdb import database
from pytest_ampdb.errors import InvalidTransitionError, NotFoundError
from pytest_ampdb.models import (
    ConnectionStatus,
    HealthStatus,
    Operation,
    OperationStatus,
    OperationType,
    ReadState,
)
from sync_worker.provider import AuthError, ProviderClient

Deliver = Callable[[str, list[dict[str, object]]], None]


@dataclass
class RunResult:
    """What one pass of the worker did."""

    completed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class SyncWorker:
    """Runs the pending read operations of one installation."""

    def __init__(self, provider: ProviderClient, deliver: Deliver, *, max_pages: int = 100) -> None:
        self.provider = provider
        self.deliver = deliver
        self.max_pages = max_pages
        self._read_locks: defaultdict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)
        self._locks_lock = threading.Lock()

    def run_installation(self, project_id: str, installation_id: str) -> RunResult:
        """Process every pending read operation of the installation, oldest first."""
        result = RunResult()
        pending = database.operations().list_by_installation(
            project_id, installation_id, status=OperationStatus.PENDING
        )
        for operation in pending:
            if operation.type is not OperationType.READ:
                continue
            self._run(operation, result)
        return result

    def run_concurrently(self, project_id: str, installation_id: str, workers: int) -> RunResult:
        """Several threads race over the same operations; each one is still run exactly once."""
        total = RunResult()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [
                pool.submit(self.run_installation, project_id, installation_id)
                for _ in range(workers)
            ]
            for future in futures:
                part = future.result()
                total.completed += part.completed
                total.failed += part.failed
                total.skipped += part.skipped
        return total

    def _run(self, operation: Operation, result: RunResult) -> None:
        operations = database.operations()
        try:
            operations.transition(operation.project_id, operation.id, OperationStatus.RUNNING)
        except InvalidTransitionError:
            result.skipped.append(operation.id)  # another worker claimed it
            return
        installation = database.installations().get_by_id(
            operation.project_id, operation.installation_id
        )
        objects = sorted(installation.config.get("read", {}).get("objects", {}))
        try:
            counts = [self._read_object(operation, installation.connection_id, o) for o in objects]
        except AuthError as exc:
            self._mark_bad_credentials(operation, installation.connection_id)
            operations.transition(
                operation.project_id,
                operation.id,
                OperationStatus.FAILED,
                result=f"authentication failed: {exc}",
            )
            result.failed.append(operation.id)
            return
        summary = ", ".join(f"[{o}] {n} records" for o, n in zip(objects, counts, strict=True))
        operations.transition(
            operation.project_id,
            operation.id,
            OperationStatus.COMPLETED,
            result=summary or "No objects configured",
        )
        self._set_installation(operation, HealthStatus.HEALTHY, OperationStatus.COMPLETED)
        result.completed.append(operation.id)

    def _read_object(self, operation: Operation, connection_id: str, object_name: str) -> int:
        with self._locks_lock:
            lock = self._read_locks[(operation.installation_id, object_name)]
        with lock:
            return self._read_pages(operation, connection_id, object_name)

    def _read_pages(self, operation: Operation, connection_id: str, object_name: str) -> int:
        read_states = database.read_states()
        try:
            state = read_states.get(operation.project_id, operation.installation_id, object_name)
        except NotFoundError:  # the first read of this object
            state = ReadState(
                project_id=operation.project_id,
                installation_id=operation.installation_id,
                object_name=object_name,
            )
        token, processed = state.next_page_token, 0
        for _ in range(self.max_pages):
            page = self.provider.fetch(connection_id, object_name, token)
            if page.records:
                self.deliver(object_name, page.records)
            processed += len(page.records)
            state = read_states.upsert(
                dataclasses.replace(
                    state,
                    next_page_token=page.next_page_token,
                    records_processed=state.records_processed + len(page.records),
                )
            )
            token = page.next_page_token
            if token is None:
                break
        return processed

    def _mark_bad_credentials(self, operation: Operation, connection_id: str) -> None:
        connections = database.connections()
        connection = connections.get_by_id(operation.project_id, connection_id)
        connections.update(dataclasses.replace(connection, status=ConnectionStatus.BAD_CREDENTIALS))
        self._set_installation(operation, HealthStatus.UNHEALTHY, OperationStatus.FAILED)

    @staticmethod
    def _set_installation(
        operation: Operation, health: HealthStatus, last: OperationStatus
    ) -> None:
        installations = database.installations()
        installation = installations.get_by_id(operation.project_id, operation.installation_id)
        installations.update(
            dataclasses.replace(installation, health_status=health, last_operation_status=last)
        )
