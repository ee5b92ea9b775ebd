"""Unit tests of the worker's decisions with mock builders: no store at all."""

from __future__ import annotations

from fakes import Outbox, ScriptedProvider
from sync_worker import SyncWorker

from pytest_ampdb import database, mock
from pytest_ampdb.errors import InvalidTransitionError
from pytest_ampdb.factories import InstallationFactory, OperationFactory
from pytest_ampdb.models import OperationStatus, OperationType


def test_an_operation_another_worker_claimed_is_skipped() -> None:
    installation = InstallationFactory.build()
    pending = OperationFactory.build(installation=installation, type=OperationType.READ)

    def already_claimed(
        project_id: str, id: str, status: OperationStatus, *, result: str | None = None
    ):
        raise InvalidTransitionError("operations", f"id={id}", "running", str(status))

    operations = (
        mock.OperationBuilder()
        .with_list_by_installation(lambda project_id, installation_id, *, status=None: [pending])
        .with_transition(already_claimed)
        .build()
    )
    provider = ScriptedProvider()
    with database.with_operation_repository(operations):
        result = SyncWorker(provider, Outbox()).run_installation(
            installation.project_id, installation.id
        )

    assert result.skipped == [pending.id]
    assert provider.calls == []  # nothing was read for an operation we do not own
    assert [c.method for c in operations.calls] == ["list_by_installation", "transition"]
    assert operations.calls[0].kwargs == {"status": OperationStatus.PENDING}


def test_nothing_pending_touches_nothing_else(ampdb_mock) -> None:
    operations = (
        ampdb_mock.OperationBuilder()
        .with_list_by_installation(lambda project_id, installation_id, *, status=None: [])
        .build()
    )
    # every other repository is an unstubbed mock: any use would raise NotStubbedError
    with database.use(ampdb_mock.repositories(operations=operations)):
        result = SyncWorker(ScriptedProvider(), Outbox()).run_installation("p", "i")
    assert (result.completed, result.failed, result.skipped) == ([], [], [])
