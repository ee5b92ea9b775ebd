"""The plugin in postgres mode, driven through pytester against a real PostgreSQL 15.

Most runs use the session's local cluster as an existing server (``--ampdb-dsn``), which is
fast and lets the test inspect what a run leaves on the server; a few start their own local
cluster (``--ampdb-postgres=local``), as a user's run would.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from pytest_ampdb import migrations
from pytest_ampdb.harness.provisioning import LocalCluster
from pytest_ampdb.paths import migrations_dir

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.postgres  # every test here runs a real PostgreSQL 15


def ours(admin_dsn: str) -> list[str]:
    """The plugin's databases on the server."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'ampdb\\_%' ORDER BY 1"
        ).fetchall()
    return [str(r[0]) for r in rows]


@pytest.fixture
def server(pg_cluster: LocalCluster, pg_admin_dsn: str) -> str:
    """The cluster as a user's existing server; every plugin database is gone afterwards."""
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        for name in ours(pg_admin_dsn):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return pg_admin_dsn


def run(pytester: pytest.Pytester, server: str, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--ampdb=postgres", f"--ampdb-dsn={server}", "-p", "no:randomly", *args
    )


ISOLATION_SUITE = """
import psycopg, pytest
from pytest_ampdb.models import Organization, new_id

def test_a_writes(ampdb):
    ampdb.organizations.create(Organization(label="from a", default_team_id=new_id()))
    assert len(ampdb.organizations.list().items) == 2

def test_b_sees_only_the_seeds(ampdb):
    assert [o.label for o in ampdb.organizations.list().items] == ["Ampersand Local"]

def test_c_failed_write_does_not_poison_the_test(ampdb, ampdb_seed):
    from pytest_ampdb.errors import AlreadyExistsError
    project = ampdb.projects.get_by_id(ampdb_seed.project_id)
    with pytest.raises(AlreadyExistsError):
        ampdb.projects.create(project)
    assert ampdb.projects.get_by_name("ampersand-local").id == project.id

@pytest.mark.ampdb(seed=False)
def test_d_unseeded(ampdb):
    assert ampdb.projects.list().items == []

def test_e_after_unseeded(ampdb):
    assert len(ampdb.projects.list().items) == 1
"""


@pytest.mark.parametrize("isolation", ["transaction", "database", "truncate"])
def test_each_isolation_keeps_tests_apart_and_leaves_nothing(
    pytester: pytest.Pytester, server: str, isolation: str
) -> None:
    pytester.makepyfile(ISOLATION_SUITE)
    result = run(pytester, server, f"--ampdb-isolation={isolation}")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(
        [
            "ampdb: backend postgres: PostgreSQL 15.*, server at postgresql://postgres@*",
            f"ampdb: migrations at version *; template ampdb_tpl_* (built in *); isolation {isolation}",
        ]
    )
    assert ours(server) == []  # run databases and the template are dropped without --ampdb-reuse


def test_marker_chooses_isolation_per_test_and_ampdb_dsn_names_the_database(
    pytester: pytest.Pytester, server: str
) -> None:
    pytester.makepyfile(
        """
        import psycopg, pytest
        from pytest_ampdb.models import Organization, new_id

        @pytest.mark.ampdb(isolation="database")
        def test_own_database(ampdb, ampdb_dsn):
            ampdb.organizations.create(Organization(label="committed", default_team_id=new_id()))
            with psycopg.connect(ampdb_dsn) as other:  # another driver sees the committed row
                labels = [r[0] for r in other.execute("SELECT label FROM organizations ORDER BY 1")]
                name = other.execute("SELECT current_database()").fetchone()[0]
            assert labels == ["Ampersand Local", "committed"]
            assert name.startswith("ampdb_run_")

        def test_in_transaction(ampdb, ampdb_dsn):
            ampdb.organizations.create(Organization(label="uncommitted", default_team_id=new_id()))
            with psycopg.connect(ampdb_dsn) as other:  # not visible outside the test's transaction
                labels = [r[0] for r in other.execute("SELECT label FROM organizations")]
            assert labels == ["Ampersand Local"]
        """
    )
    run(pytester, server).assert_outcomes(passed=2)
    assert ours(server) == []


COMMITTING_DRIVER_SUITE = """
import psycopg
from pytest_ampdb.models import Organization, new_id

def test_a_commits_through_another_driver(ampdb, ampdb_dsn):
    ampdb.organizations.create(Organization(label="through ampdb", default_team_id=new_id()))
    with psycopg.connect(ampdb_dsn) as other:
        other.execute(
            "INSERT INTO organizations (id, label, default_team_id, create_time)"
            " VALUES (gen_random_uuid(), 'committed elsewhere', gen_random_uuid(), now())"
        )

def test_b_sees_only_the_seeds(ampdb):
    assert [o.label for o in ampdb.organizations.list().items] == ["Ampersand Local"]

def test_c_after_a_test_without_the_url(ampdb, ampdb_dsn):
    with psycopg.connect(ampdb_dsn) as other:
        assert other.execute("SELECT count(*) FROM organizations").fetchone() == (1,)
"""


@pytest.mark.parametrize("isolation", ["transaction", "database", "truncate"])
def test_rows_another_driver_commits_through_ampdb_dsn_never_reach_the_next_test(
    pytester: pytest.Pytester, server: str, isolation: str
) -> None:
    """Under ``transaction`` isolation only the test's own connection was rolled back: a row
    another connection committed through ``ampdb_dsn`` stayed for every later test (seen in
    postgres mode only, where memory mode skips the test that wrote it). A test that asked for
    the URL is now reset to the starting rows, as ``truncate`` resets every test."""
    pytester.makepyfile(COMMITTING_DRIVER_SUITE)
    run(pytester, server, f"--ampdb-isolation={isolation}").assert_outcomes(passed=3)
    assert ours(server) == []


def test_a_failed_test_in_database_mode_keeps_its_database(
    pytester: pytest.Pytester, server: str
) -> None:
    pytester.makepyfile(
        """
        from pytest_ampdb.models import Organization, new_id

        def test_fails(ampdb):
            ampdb.organizations.create(Organization(label="evidence", default_team_id=new_id()))
            assert False
        """
    )
    result = run(pytester, server, "--ampdb-isolation=database")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*pytest-ampdb: databases kept for failed tests*",
            "test_a_failed_test_in_database_mode_keeps_its_database.py::test_fails: "
            "psql 'postgresql://postgres@*/ampdb_run_*'",
        ]
    )
    kept = ours(server)
    assert len(kept) == 1
    assert kept[0].startswith("ampdb_run_")
    with psycopg.connect(server.replace("/postgres?", f"/{kept[0]}?")) as conn:
        labels = [r[0] for r in conn.execute("SELECT label FROM organizations ORDER BY 1")]
    assert labels == ["Ampersand Local", "evidence"]


def test_reuse_keeps_the_template_and_a_migration_change_rebuilds_it(
    pytester: pytest.Pytester, server: str
) -> None:
    directory = pytester.path / "migrations"
    shutil.copytree(migrations_dir(), directory)
    pytester.makepyfile("def test_x(ampdb): assert ampdb.projects.list().items")
    args = ("--ampdb-reuse", f"--ampdb-migrations={directory}")

    run(pytester, server, *args).stdout.fnmatch_lines(["*template ampdb_tpl_* (built in *)*"])
    first = ours(server)
    run(pytester, server, *args).stdout.fnmatch_lines(["*template ampdb_tpl_* (reused)*"])
    assert ours(server) == first

    (directory / "20990101000000_add_column.sql").write_text(
        "COMMENT ON TABLE organizations IS 'a data-only change of the directory';\n"
    )
    migrations.write_sum(directory)
    result = run(pytester, server, *args)
    result.stdout.fnmatch_lines(["*migrations at version 20990101000000; template * (built in *)*"])
    assert len(ours(server)) == 1
    assert ours(server) != first  # the old template was pruned
    run(pytester, server, f"--ampdb-migrations={directory}").assert_outcomes(passed=1)
    assert ours(server) == []  # without --ampdb-reuse the template goes at the end


def test_concurrent_starts_build_the_template_once(pytester: pytest.Pytester, server: str) -> None:
    pytester.makepyfile("def test_x(ampdb): assert ampdb.projects.list().items")
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        "--ampdb=postgres",
        f"--ampdb-dsn={server}",
        "--ampdb-reuse",
    ]
    procs = [
        subprocess.Popen(command, cwd=pytester.path, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    built = sum("(built in" in out for out in outputs)
    reused = sum("(reused)" in out for out in outputs)
    assert (built, reused) == (1, 1), outputs
    templates = [n for n in ours(server) if n.startswith("ampdb_tpl_")]
    assert len(templates) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--ampdb-dsn=postgresql://postgres:hunter2@127.0.0.1:1/postgres"],
            "ERROR: pytest-ampdb: cannot connect to postgresql://postgres:xxxxx@127.0.0.1:1/postgres: *",
        ),
        (
            ["--ampdb-postgres-version=14"],
            "ERROR: pytest-ampdb: server at * runs PostgreSQL 15.*, not 14; *",
        ),
        (
            ["--ampdb-isolation=nested"],
            "ERROR: pytest-ampdb: --ampdb-isolation='nested': expected one of *",
        ),
    ],
)
def test_a_bad_server_or_option_is_one_line(
    pytester: pytest.Pytester, server: str, args: list[str], message: str
) -> None:
    pytester.makepyfile("def test_x(ampdb): pass")
    result = pytester.runpytest_subprocess("--ampdb=postgres", f"--ampdb-dsn={server}", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "hunter2" not in result.stderr.str() + result.stdout.str()
    assert "Traceback" not in result.stderr.str()


def test_a_migration_the_declarations_do_not_know_stops_the_run(
    pytester: pytest.Pytester, server: str
) -> None:
    """The migrated template is compared with the declarations: one line names table and
    column, no test runs."""
    directory = pytester.path / "migrations"
    shutil.copytree(migrations_dir(), directory)
    (directory / "20990101000000_add_column.sql").write_text(
        "ALTER TABLE organizations ADD COLUMN note text NULL;\n"
    )
    migrations.write_sum(directory)
    pytester.makepyfile("def test_x(ampdb): pass")
    result = run(pytester, server, f"--ampdb-migrations={directory}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: pytest-ampdb: *: the migrations do not build the declared schema: table "
            "organizations column note: declared no such column, the migrations give text NULL; *"
        ]
    )
    assert "Traceback" not in result.stderr.str()


def test_the_header_names_schema_and_version(pytester: pytest.Pytester, server: str) -> None:
    pytester.makepyfile("def test_x(ampdb): pass")
    run(pytester, server).stdout.fnmatch_lines(
        [
            "ampdb: schema packaged (pytest_ampdb.models.tables), 12 tables; migrations packaged "
            "schema/migrations at version 20261130074952, checked against the template"
        ]
    )


def test_an_edited_migration_sum_stops_the_run(pytester: pytest.Pytester, server: str) -> None:
    directory = pytester.path / "migrations"
    shutil.copytree(migrations_dir(), directory)
    first = sorted(directory.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited by hand\n")
    pytester.makepyfile("def test_x(ampdb): pass")
    result = run(pytester, server, f"--ampdb-migrations={directory}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: pytest-ampdb: *{first.name} was edited*"])
    assert ours(server) == []


READY_HOOK = """
import pathlib, threading

def pytest_ampdb_database_ready(dsn):
    with open(pathlib.Path(__file__).parent / "ready.txt", "a") as out:
        out.write(threading.current_thread().name + " " + dsn + "\\n")
"""


def _gone(dsn: str) -> bool:
    try:
        psycopg.connect(dsn, connect_timeout=2).close()
    except psycopg.OperationalError:
        return True
    return False


def test_local_cluster_mode_runs_the_example_suite_and_leaves_no_cluster(
    pytester: pytest.Pytester, pg_cluster: LocalCluster
) -> None:
    pytester.makeconftest(READY_HOOK)
    result = pytester.runpytest_subprocess(
        "--ampdb=postgres",
        "--ampdb-postgres=local",
        "-p",
        "no:randomly",
        "-p",
        "conftest",
        str(ROOT / "examples"),
    )
    result.assert_outcomes(passed=17)
    result.stdout.fnmatch_lines(
        ["ampdb: backend postgres: PostgreSQL 15.*, local cluster * (throwaway) (started)"]
    )
    lines = [line.split(" ") for line in (pytester.path / "ready.txt").read_text().splitlines()]
    assert lines
    # The database is cloned in the background, but the hook runs where the tests run.
    assert {thread for thread, _ in lines} == {"MainThread"}
    assert all(_gone(dsn) for _, dsn in lines)  # the cluster is stopped


def test_the_example_suite_under_xdist_in_database_mode(
    pytester: pytest.Pytester, server: str
) -> None:
    result = run(
        pytester,
        server,
        "-n",
        "2",
        "--ampdb-isolation=database",
        "--rootdir",
        str(ROOT / "examples"),
        str(ROOT / "examples"),
    )
    result.assert_outcomes(passed=17)
    assert ours(server) == []


def test_ctrl_c_during_a_test_leaves_no_cluster_behind(pytester: pytest.Pytester) -> None:
    marker = pytester.path / "started"
    pytester.makepyfile(
        f"""
        import pathlib, time

        def test_slow(ampdb, ampdb_dsn):
            pathlib.Path({str(marker)!r}).write_text(ampdb_dsn)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            "--ampdb=postgres",
            "--ampdb-postgres=local",
        ],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the test never started"
    dsn = marker.read_text()
    assert not _gone(dsn)
    proc.send_signal(signal.SIGINT)
    output = proc.communicate(timeout=60)[0]
    assert "KeyboardInterrupt" in output
    assert _gone(dsn)
    socket_dir = Path(dsn.split("host=")[1].split("&")[0])
    assert not socket_dir.exists()
