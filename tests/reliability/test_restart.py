"""A server restarted for real in the middle of a child pytest run: ``pg_ctl restart -m fast``
of a server named by ``--ampdb-dsn`` and of the plugin's own local cluster, ``docker restart`` of
its own container, a server stopped for good, and the run's lease connection ended under it.

What a user relies on: the test the restart hit fails with one line, the later tests pass on the
run's own databases (found again after the restart), nothing is left behind, a server that does
not come back fails the run fast instead of hanging, and another run's sweep never drops the
databases of a run that is alive.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import psycopg
import pytest

from pytest_ampdb.harness.provisioning import LocalCluster
from pytest_ampdb.ownership import lease_key

from .conftest import PYTEST as PYTEST_ARGS
from .conftest import (
    Child,
    Figures,
    Run,
    clusters_of,
    containers_of,
    outcome_counts,
    plugin_databases,
    require_binaries,
    require_docker,
    run_pytest,
    stopwatch,
    summary_lines,
    wait_for,
    write,
)
from .test_faults import SMOKE, WAITING, _assert_fails_fast_naming

# The victim records its database's URL and waits while the parent restarts the server; the
# later tests record theirs (the run's own databases, found again) and need the database.
SUITE = (
    WAITING
    + """
def test_1_victim(ampdb, ampdb_dsn):
    ampdb.organizations.list()
    (HERE / "started").write_text(ampdb_dsn)
    _wait("go")
    ampdb.organizations.list()

def test_2_later(ampdb, ampdb_dsn):
    (HERE / "later").write_text(ampdb_dsn)
    assert ampdb.projects.list().items

def test_3_later(ampdb):
    ampdb.organizations.list()

def test_4_later(ampdb):
    ampdb.organizations.list()
"""
)


USERS = "ampdb_run_0000aa_gw0_1_1"
"""A user's database named like a run's, without the plugin's mark: never touched."""


def _pg_ctl(data_dir: Path, bindir: Path, *args: str) -> None:
    """``pg_ctl <args> -D data_dir``, as the data directory's owner (the cluster's user)."""
    owner = data_dir.stat()
    subprocess.run(
        [str(bindir / "pg_ctl"), *args, "-D", str(data_dir), "-w", "-t", "60"],
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,  # the new postmaster inherits it: no pipe left open
        stderr=subprocess.DEVNULL,
        user=owner.st_uid if os.getuid() == 0 else None,
        group=owner.st_gid if os.getuid() == 0 else None,
        timeout=90,
    )


def _restart_of(mode: str, child: Child, dsn_cluster: LocalCluster | None) -> Path | None:
    """Restart the server the child run uses, and return once it takes connections again
    (with the cluster's data directory)."""
    if mode == "container":
        (container,) = containers_of(child.pid)
        container.restart(timeout=10)
        return None
    if mode == "dsn":
        assert dsn_cluster is not None
        data_dir, bindir = dsn_cluster.data_dir, dsn_cluster.binaries.bindir
    else:
        (state,) = clusters_of(child.pid)
        data_dir, bindir = Path(state["data_dir"]), Path(state["bindir"])
    _pg_ctl(data_dir, bindir, "restart", "-m", "fast")
    return data_dir


def _servers_running_from(data_dir: Path) -> list[int]:
    """The processes whose command line names ``data_dir`` (a postmaster and its children)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if str(data_dir).encode() in cmdline.read_bytes().split(b"\0"):
                found.append(int(cmdline.parent.name))
    return found


def _run_through_restart(project: Path, mode: str, args: list[str]) -> tuple[Run, list[str]]:
    """The child run of ``SUITE`` with its server restarted during the victim; its result and
    (``dsn``) the databases named like the plugin's left on the server (``USERS`` among them)."""
    write(project / "test_suite.py", SUITE)
    with contextlib.ExitStack() as stack:
        cluster = None
        if mode == "dsn":
            cluster = stack.enter_context(LocalCluster.start(major=15))
            with psycopg.connect(cluster.dsn(), autocommit=True) as conn:  # not the plugin's
                conn.execute(f"CREATE DATABASE {USERS}")
            args = [*args, f"--ampdb-dsn={cluster.dsn()}"]
        elif mode == "local":
            args = [*args, "--ampdb-postgres=local"]
        else:
            args = [*args, "--ampdb-postgres=container"]
        child = Child([*PYTEST_ARGS, "-rfE", "--ampdb=postgres", *args], project)
        try:
            assert wait_for(project / "started", 120, child), child.wait(5).describe()
            data_dir = _restart_of(mode, child, cluster)
            (project / "go").write_text("x")
            result = child.wait(90)
        finally:
            child.kill()
        left = plugin_databases(cluster.dsn()) if cluster is not None else [USERS]
        assert clusters_of(child.pid) == []
        if mode == "local":  # the postmaster pg_ctl started in place of the run's is stopped
            assert data_dir is not None
            assert _servers_running_from(data_dir) == [], result.describe()
        if mode == "container":
            assert containers_of(child.pid) == []
    return result, left


@pytest.mark.parametrize(
    ("mode", "isolation"),
    [
        pytest.param("dsn", "transaction", marks=pytest.mark.postgres),
        pytest.param("dsn", "database", marks=pytest.mark.postgres),
        pytest.param("dsn", "truncate", marks=pytest.mark.postgres),
        pytest.param("local", "transaction", marks=pytest.mark.postgres),
        pytest.param("container", "transaction", marks=pytest.mark.docker),
    ],
)
def test_a_server_restarted_mid_test_fails_only_the_test_it_hit(
    project: Path, mode: str, isolation: str, figure: Figures
) -> None:
    require_docker() if mode == "container" else require_binaries()
    result, left = _run_through_restart(project, mode, [f"--ampdb-isolation={isolation}"])
    figure(f"server restarted mid-test ({mode}, {isolation}): the run", result.seconds)
    assert outcome_counts(result) == {"failed": 1, "passed": 3}, result.describe()
    (line,) = summary_lines(result)
    assert line.startswith("FAILED test_suite.py::test_1_victim - "), line
    assert "it takes new connections again, so later tests go on" in line, line
    assert "Traceback" not in result.output, result.describe()
    assert "cleaning up at the end of the run failed" not in result.output, result.describe()
    if isolation != "database":  # the process's own database, found again after the restart
        assert (project / "later").read_text() == (project / "started").read_text()
    # only what is kept on purpose: the failed victim's own database (database isolation)
    assert USERS in left, left
    assert len(left) == (2 if isolation == "database" else 1), left


@pytest.mark.postgres
def test_a_server_that_does_not_come_back_fails_the_run_fast(
    project: Path, figure: Figures
) -> None:
    """Stopped (not restarted) mid-test: waited for within the connect timeout (2 s here),
    then one line per test, and the run ends instead of hanging."""
    require_binaries()
    write(project / "test_suite.py", SUITE)
    with LocalCluster.start(major=15) as cluster:
        args = ["-rfE", "--ampdb=postgres", f"--ampdb-dsn={cluster.dsn()}", "--ampdb-timeout=2"]
        child = Child([*PYTEST_ARGS, *args], project)
        try:
            assert wait_for(project / "started", 60, child), child.wait(5).describe()
            _pg_ctl(cluster.data_dir, cluster.binaries.bindir, "stop", "-m", "fast")
            since = stopwatch()
            (project / "go").write_text("x")
            result = child.wait(60)
            elapsed = since()
        finally:
            child.kill()
    figure("server stopped mid-test, not back: time to fail 4 tests", elapsed)
    # as a killed server, once the connect timeout (2 s) waited for it to come back is over
    _assert_fails_fast_naming(result, ("it takes no new connections",), elapsed - 2)
    assert "Traceback" not in result.output, result.describe()


# The run's lease ends under it (its backend terminated) while no test of it touches the
# database; another run sweeps the server at that moment.
LEASE_SUITE = (
    WAITING
    + """
from psycopg.conninfo import conninfo_to_dict

def test_1_waits(ampdb, ampdb_dsn):
    ampdb.organizations.list()
    (HERE / "started").write_text(conninfo_to_dict(ampdb_dsn)["dbname"])
    _wait("go")
    assert ampdb.projects.list().items

def test_2_later(ampdb):
    assert ampdb.projects.list().items
"""
)


def _lease_holders(dsn: str, database: str) -> list[int]:
    """The backends that hold the lease of the run whose database is ``database``."""
    unsigned = lease_key(database.split("_")[2]) % 2**64
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 1",
            (unsigned >> 32, unsigned & 0xFFFFFFFF),
        ).fetchall()
    return [int(pid) for (pid,) in rows]


@pytest.mark.postgres
@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--ampdb-isolation=transaction"], id="one-process"),
        pytest.param(["-n", "2", "--ampdb-isolation=database"], id="xdist"),
    ],
)
def test_a_run_whose_lease_connection_ended_is_not_swept_by_another(
    project: Path, args: list[str], figure: Figures
) -> None:
    """The session holding the run's lease (under xdist the controller's) is terminated, and
    at once another run starts on the server and sweeps: the first run's databases survive
    (its lease was taken again as the connection closed, not when a test next met it)."""
    require_binaries()
    write(project / "test_suite.py", LEASE_SUITE)
    with LocalCluster.start(major=15) as cluster:
        dsn = cluster.dsn()
        child = Child(
            [*PYTEST_ARGS, "-rfE", "--ampdb=postgres", f"--ampdb-dsn={dsn}", *args], project
        )
        try:
            assert wait_for(project / "started", 60, child), child.wait(5).describe()
            victims = (project / "started").read_text()  # the waiting test's database
            holders = _lease_holders(dsn, victims)
            assert len(holders) == 1, holders  # one process holds the run's lease
            with psycopg.connect(dsn, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (holders[0],))
            write(project / "other" / "test_other.py", SMOKE)
            other = run_pytest(project / "other", "--ampdb=postgres", f"--ampdb-dsn={dsn}")
            survived = set(plugin_databases(dsn))
            held_again = _lease_holders(dsn, victims)
            (project / "go").write_text("x")
            result = child.wait(60)
        finally:
            child.kill()
        left = plugin_databases(dsn)
    where = " ".join(args)
    figure(f"lease connection ended, another run swept ({where}): the run", result.seconds)
    assert other.returncode == 0, other.describe()
    assert victims in survived, (victims, survived)
    assert len(held_again) == 1, held_again  # taken again, on a new connection
    assert held_again != holders, held_again
    assert outcome_counts(result) == {"passed": 2}, result.describe()
    assert left == [], left
