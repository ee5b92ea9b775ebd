"""What a run cannot work with is one line, never an INTERNALERROR.

A role without CREATEDB and a role whose sessions are read-only (real roles on a real server that
checks passwords), a DSN libpq cannot parse (URL and key=value), and ``--ampdb-random-seed`` out
of range under ``-n 2``: each stops the run with exactly one ``ERROR: pytest-ampdb:`` line saying
what is wrong and what to do, no traceback, and the server's databases as they were.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from pytest_ampdb.harness.provisioning import LocalCluster

from .conftest import Figures, run_pytest, scram_cluster, write

SMOKE = "def test_smoke(ampdb):\n    assert ampdb.projects.list().items\n"


@dataclass(frozen=True)
class Refusal:
    id: str
    args: tuple[str, ...]
    """Arguments of the run; ``{port}`` is the server's port."""
    expect: str
    """A pattern the one error line must match."""


REFUSALS = [
    Refusal(
        "role without CREATEDB",
        ("--ampdb-dsn=postgresql://plain:pw@127.0.0.1:{port}/postgres",),
        r"server at postgresql://plain:xxxxx@127\.0\.0\.1:\d+/postgres refused .*permission "
        r"denied to create database; the role needs CREATEDB",
    ),
    Refusal(
        "read-only role",
        ("--ampdb-dsn=postgresql://reader:pw@127.0.0.1:{port}/postgres",),
        r"refused .*read-only transaction; the role's sessions are read-only "
        r"\(default_transaction_read_only",
    ),
    Refusal(
        "DSN libpq cannot parse (URL)",
        ("--ampdb-dsn=postgresql://plain:p%zz@127.0.0.1:{port}/postgres",),
        r"--ampdb-dsn cannot be parsed as a postgresql:// URL or a key=value string; ",
    ),
    Refusal(
        "DSN libpq cannot parse (key=value)",
        ("--ampdb-dsn=host=127.0.0.1 port={port} user=plain password=p w",),
        r"--ampdb-dsn cannot be parsed as a postgresql:// URL or a key=value string; ",
    ),
    Refusal(
        "DSN with a misspelt parameter (URL)",
        ("--ampdb-dsn=postgresql://plain:pw@127.0.0.1:{port}/postgres?sslmod=require",),
        r"--ampdb-dsn names a connection parameter libpq does not know; did you mean "
        r"'sslmode'\?$",
    ),
    Refusal(
        "DSN with a misspelt parameter (key=value)",
        ("--ampdb-dsn=host=127.0.0.1 port={port} user=plain password=pw dbnam=x",),
        r"--ampdb-dsn names a connection parameter libpq does not know; did you mean "
        r"'dbname'\?$",
    ),
    Refusal(  # libpq takes the password's tail after an unencoded & for a parameter
        "DSN whose password holds an unencoded &",
        ("--ampdb-dsn=postgresql://plain@127.0.0.1:{port}/postgres?password=pw&dor=3",),
        r"--ampdb-dsn names a connection parameter libpq does not know \(or holds an "
        r"unencoded & or space in a password: percent-encode it, & as %26, space as %20\)$",
    ),
    Refusal(
        "--ampdb-random-seed below range, -n 2",
        ("-n", "2", "--ampdb-random-seed=-99999999999999999999"),
        r"--ampdb-random-seed='-99999999999999999999': expected an integer from 0 to 4294967295",
    ),
    Refusal(
        "--ampdb-random-seed above range, -n 2",
        ("-n", "2", "--ampdb-random-seed=4294967296"),
        r"--ampdb-random-seed='4294967296': expected an integer from 0 to 4294967295",
    ),
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with scram_cluster(
        "CREATE ROLE plain LOGIN PASSWORD 'pw'",
        "CREATE ROLE reader LOGIN CREATEDB PASSWORD 'pw'",
        "ALTER ROLE reader SET default_transaction_read_only = on",
    ) as started:
        yield started


def _databases(cluster: LocalCluster) -> list[str]:
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database ORDER BY 1").fetchall()
    return [str(row[0]) for row in rows]


@pytest.mark.postgres
@pytest.mark.parametrize("case", REFUSALS, ids=[r.id for r in REFUSALS])
def test_a_run_that_cannot_work_is_one_line(
    case: Refusal, cluster: LocalCluster, project: Path, figure: Figures
) -> None:
    write(project / "test_suite.py", SMOKE)
    before = _databases(cluster)
    args = [arg.format(port=cluster.port) for arg in case.args]
    result = run_pytest(project, "--ampdb=postgres", *args, timeout=90)
    figure(f"{case.id}: time to the error", result.seconds)
    assert not result.timed_out, result.describe()
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.describe()
    assert "INTERNALERROR" not in result.output, result.describe()
    assert "Traceback" not in result.output, result.describe()
    (line,) = result.error_lines("ERROR: pytest-ampdb:")
    assert re.search(case.expect, line), line
    assert "pw" not in line.replace("password", ""), line
    assert "dor" not in line, line
    assert _databases(cluster) == before
