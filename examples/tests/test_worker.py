"""The sync worker's suite: fixtures, factories and the seeded data, in any backend."""

from __future__ import annotations

import pytest
from fakes import Outbox, ScriptedProvider
from sync_worker import SyncWorker

from pytest_ampdb.errors import InvalidTransitionError, NotFoundError
from pytest_ampdb.models import ConnectionStatus, HealthStatus, OperationStatus, OperationType
from pytest_ampdb.types import Repositories

SEEDED_INSTALLATION = "a0000007-0000-4000-8000-000000000001"  # Acme Corp, reads `contact`
SEEDED_PENDING_READ = "019b7a40-0000-7000-8000-000000000002"


def contacts(count: int, start: int = 0) -> list[dict[str, object]]:
    return [
        {"id": f"003{n:06d}", "email": f"person{n}@acme.example"}
        for n in range(start, start + count)
    ]


def test_runs_the_seeded_pending_read_and_pages_forward(ampdb: Repositories, ampdb_seed) -> None:
    provider = ScriptedProvider(pages={"contact": [contacts(2), contacts(2, 2), contacts(1, 4)]})
    outbox = Outbox()
    before = ampdb.read_states.get(ampdb_seed.project_id, SEEDED_INSTALLATION, "contact")

    result = SyncWorker(provider, outbox).run_installation(
        ampdb_seed.project_id, SEEDED_INSTALLATION
    )

    assert result.completed == [SEEDED_PENDING_READ]
    operation = ampdb.operations.get_by_id(ampdb_seed.project_id, SEEDED_PENDING_READ)
    assert operation.status is OperationStatus.COMPLETED
    assert operation.result == "[contact] 5 records"
    assert len(outbox.delivered) == 5
    after = ampdb.read_states.get(ampdb_seed.project_id, SEEDED_INSTALLATION, "contact")
    assert after.id == before.id
    assert after.records_processed == before.records_processed + 5
    assert after.next_page_token is None
    assert after.update_time > before.update_time


def test_resumes_from_the_saved_page_token(ampdb: Repositories, ampdb_seed) -> None:
    provider = ScriptedProvider(pages={"contact": [contacts(1)]})
    SyncWorker(provider, Outbox()).run_installation(ampdb_seed.project_id, SEEDED_INSTALLATION)
    assert provider.calls[0][2] == "Q9JT+2qfys28V4ODN+UayA=="  # the seeded read state's token


def test_first_read_of_an_object_creates_its_read_state(
    ampdb: Repositories, installation_factory, operation_factory
) -> None:
    installation = installation_factory.create(object_name="account")
    operation = operation_factory.create(installation=installation, type=OperationType.READ)
    provider = ScriptedProvider(pages={"account": [contacts(3), contacts(4, 3)]})

    SyncWorker(provider, Outbox()).run_installation(installation.project_id, installation.id)

    state = ampdb.read_states.get(installation.project_id, installation.id, "account")
    assert state.records_processed == 7
    assert (
        ampdb.operations.get_by_id(operation.project_id, operation.id).status
        is OperationStatus.COMPLETED
    )


def test_auth_failure_marks_the_connection_bad_credentials(
    ampdb: Repositories, installation_factory, operation_factory
) -> None:
    installation = installation_factory.create()
    operation = operation_factory.create(installation=installation, type=OperationType.READ)
    provider = ScriptedProvider(fail_with="invalid_grant")

    result = SyncWorker(provider, Outbox()).run_installation(
        installation.project_id, installation.id
    )

    assert result.failed == [operation.id]
    project_id = installation.project_id
    assert (
        ampdb.connections.get_by_id(project_id, installation.connection_id).status
        is ConnectionStatus.BAD_CREDENTIALS
    )
    stored = ampdb.installations.get_by_id(project_id, installation.id)
    assert stored.health_status is HealthStatus.UNHEALTHY
    assert stored.last_operation_status is OperationStatus.FAILED
    failed = ampdb.operations.get_by_id(project_id, operation.id)
    assert failed.status is OperationStatus.FAILED
    assert failed.result == "authentication failed: invalid_grant"
    with pytest.raises(InvalidTransitionError):
        ampdb.operations.transition(project_id, operation.id, OperationStatus.RUNNING)


def test_skips_writes_and_operations_of_other_installations(
    ampdb: Repositories, installation_factory, operation_factory
) -> None:
    installation = installation_factory.create()
    write = operation_factory.create(installation=installation, type=OperationType.WRITE)
    other = operation_factory.create(project_id=installation.project_id, type=OperationType.READ)

    result = SyncWorker(ScriptedProvider(), Outbox()).run_installation(
        installation.project_id, installation.id
    )

    assert result.completed == []
    for op in (write, other):
        assert ampdb.operations.get_by_id(op.project_id, op.id).status is OperationStatus.PENDING


def test_racing_workers_run_each_operation_exactly_once(
    ampdb: Repositories, installation_factory, operation_factory
) -> None:
    installation = installation_factory.create(object_name="contact")
    operations = [
        operation_factory.create(installation=installation, type=OperationType.READ)
        for _ in range(12)
    ]
    provider = ScriptedProvider(pages={"contact": [contacts(1)]})
    outbox = Outbox()

    result = SyncWorker(provider, outbox).run_concurrently(
        installation.project_id, installation.id, workers=4
    )

    assert sorted(result.completed) == sorted(op.id for op in operations)
    assert len(outbox.delivered) == 12  # one record per operation: none ran twice
    state = ampdb.read_states.get(installation.project_id, installation.id, "contact")
    assert state.records_processed == 12


def test_a_read_state_from_another_installation_is_not_found(
    ampdb: Repositories, ampdb_seed, read_state
) -> None:
    with pytest.raises(NotFoundError):
        ampdb.read_states.get(
            ampdb_seed.project_id, read_state.installation_id, read_state.object_name
        )
