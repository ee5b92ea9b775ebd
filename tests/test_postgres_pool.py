"""``postgres.connect`` and the repositories over a real connection pool."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from pytest_ampdb import migrations, postgres
from pytest_ampdb.errors import InvalidTransitionError
from pytest_ampdb.models import Operation, OperationStatus, OperationType
from pytest_ampdb.seeds import read_seeds
from pytest_ampdb.seeds.postgres import load_into_postgres

SEEDED_INSTALLATION = "a0000007-0000-4000-8000-000000000001"
SEEDED_INTEGRATION = "a0000005-0000-4000-8000-000000000001"


@pytest.fixture
def pool(fresh_database: str) -> Iterator[ConnectionPool]:
    migrations.apply(fresh_database)
    with psycopg.connect(fresh_database) as conn:
        load_into_postgres(conn, read_seeds())
    pool = postgres.connect(fresh_database)
    try:
        yield pool
    finally:
        pool.close()


def test_connect_uses_the_seed_pool_defaults(pool: ConnectionPool) -> None:
    assert (pool.min_size, pool.max_size, pool.max_lifetime) == (10, 100, 60.0)
    pool.wait(timeout=10)
    assert pool.get_stats()["pool_size"] >= 10  # ten idle connections are kept open


def test_connect_options_override_the_defaults(fresh_database: str) -> None:
    with postgres.connect(fresh_database, min_size=1, max_size=3) as small:
        assert (small.min_size, small.max_size, small.max_lifetime) == (1, 3, 60.0)


def test_racing_moves_over_pooled_connections_have_one_winner_each(pool: ConnectionPool) -> None:
    repos = postgres.repositories(pool)
    project = read_seeds().ids.project_id
    operations = [
        repos.operations.create(
            Operation(
                project_id=project,
                integration_id=SEEDED_INTEGRATION,
                installation_id=SEEDED_INSTALLATION,
                type=OperationType.READ,
            )
        )
        for _ in range(10)
    ]
    outcomes: dict[tuple[str, str], list[str]] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def race(target: OperationStatus) -> None:
        barrier.wait()
        for op in operations:
            for step in (OperationStatus.RUNNING, target):
                try:
                    repos.operations.transition(project, op.id, step)
                    result = "won"
                except InvalidTransitionError:
                    result = "lost"
                with lock:
                    outcomes.setdefault((op.id, step), []).append(result)

    targets = [OperationStatus.COMPLETED, OperationStatus.FAILED] * 4
    threads = [threading.Thread(target=race, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for op in operations:
        assert outcomes[(op.id, OperationStatus.RUNNING)].count("won") == 1
        finals = outcomes.get((op.id, OperationStatus.COMPLETED), []) + outcomes.get(
            (op.id, OperationStatus.FAILED), []
        )
        assert finals.count("won") == 1
        stored = repos.operations.get_by_id(project, op.id)
        assert stored.status in {OperationStatus.COMPLETED, OperationStatus.FAILED}
