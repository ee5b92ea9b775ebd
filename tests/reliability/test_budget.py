"""The plugin's own connections fit a small server, and a server too small is said once.

A real cluster with ``max_connections = 5`` (three of them reserved for superusers): ``-n 2``
under ``database`` isolation, twenty tests. As a superuser the run fits (the plugin clones fewer
databases ahead) and every test passes. As a role limited to the two unreserved slots it cannot
fit: the run says so once at start (how many it needs, how many there are), and each test that
finds no slot fails with one line saying the server is full ("remaining connection slots are
reserved" counts as busy), never as a lost server failing the tests after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_ampdb.harness.provisioning import LocalCluster

from .conftest import (
    Figures,
    Run,
    outcome_counts,
    run_pytest,
    scram_cluster,
    summary_lines,
    write,
)

SUITE = """
import pytest

@pytest.mark.parametrize("i", range(20))
def test_each_in_a_database_of_its_own(ampdb, i):
    assert ampdb.projects.list().items
"""


@pytest.fixture(scope="module")
def small_cluster() -> Iterator[LocalCluster]:
    with scram_cluster(
        "CREATE ROLE builder LOGIN CREATEDB PASSWORD 'pw'", max_connections="5"
    ) as cluster:
        yield cluster


def _run(project: Path, dsn: str) -> tuple[Run, list[str]]:
    write(project / "test_suite.py", SUITE)
    result = run_pytest(
        project,
        "-rfE",
        "-n",
        "2",
        "--ampdb=postgres",
        f"--ampdb-dsn={dsn}",
        "--ampdb-isolation=database",
        timeout=240,
    )
    header = [line for line in result.stdout.splitlines() if line.startswith("ampdb: WARNING")]
    return result, header


@pytest.mark.postgres
def test_a_run_fits_five_connections(
    project: Path, small_cluster: LocalCluster, figure: Figures
) -> None:
    result, warnings = _run(project, small_cluster.dsn())  # superuser, over the Unix socket
    figure("max_connections=5, -n 2, database isolation: 20 tests", result.seconds)
    assert not result.timed_out, result.describe()
    assert outcome_counts(result) == {"passed": 20}, result.describe()
    assert warnings == [], warnings


@pytest.mark.postgres
def test_a_server_too_small_is_said_once_and_full_is_busy_not_lost(
    project: Path, small_cluster: LocalCluster, figure: Figures
) -> None:
    dsn = f"postgresql://builder:pw@127.0.0.1:{small_cluster.port}/postgres"
    result, warnings = _run(project, dsn)
    figure("2 slots for the role, -n 2, database isolation: 20 tests, run's end", result.seconds)
    assert not result.timed_out, result.describe()
    assert len(warnings) == 1, result.describe()
    assert "this run needs up to" in warnings[0], warnings[0]
    assert "free (max_connections 5 - superuser_reserved_connections 3" in warnings[0]
    for line in summary_lines(result):
        assert "stopped answering" not in line, line
        assert "remaining connection slots are reserved" in line or "too many clients" in line
