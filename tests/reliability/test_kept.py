"""What the plugin keeps can be found and removed (``ampdb clean``), and two checkouts reusing one
server keep each other's templates.

Each case runs real pytest runs and real ``ampdb`` commands in child processes against a real
server (the session's local cluster as a user's server, a kept local cluster, a kept container),
then checks what is left on the server and on disk, and that nothing without the plugin's mark
(a user's database named like ours) or of another checkout was touched.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pytest_ampdb.harness import kept as kept_module
from pytest_ampdb.harness.provisioning.server import project_key

from .conftest import (
    PYTEST,
    Child,
    Figures,
    Run,
    plugin_databases,
    require_binaries,
    require_docker,
    run_ampdb,
    run_pytest,
    wait_for,
    write,
)

pytestmark = pytest.mark.postgres

PASSING = "def test_ok(ampdb):\n    assert ampdb.projects.list().items\n"
SEED_HOOK = """
def pytest_ampdb_seed(repos):
    pass  # a checkout whose seed hook makes its template differ from the other's
"""


def _header(result: Run, start: str) -> str:
    return next((line for line in result.stdout.splitlines() if line.startswith(start)), "")


def _template_of(result: Run) -> str:
    line = _header(result, "ampdb: migrations at version")
    assert " template ampdb_tpl_" in line, result.describe()
    return line.split(" template ", 1)[1].split(" ", 1)[0]


def _ok(result: Run) -> Run:
    assert not result.timed_out, result.describe()
    assert result.returncode == 0, result.describe()
    return result


def _user_database(admin_dsn: str, name: str) -> None:
    """A user's database that merely has one of the plugin's names, with a row in it."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(_with_db(admin_dsn, name), autocommit=True) as conn:
        conn.execute("CREATE TABLE mine (v text)")
        conn.execute("INSERT INTO mine VALUES ('precious')")


def _rows_of(admin_dsn: str, name: str) -> list[str]:
    with psycopg.connect(_with_db(admin_dsn, name), autocommit=True) as conn:
        return [str(r[0]) for r in conn.execute("SELECT v FROM mine").fetchall()]


def _with_db(admin_dsn: str, name: str) -> str:
    from pytest_ampdb.urls import with_dbname

    return with_dbname(admin_dsn, name)


@pytest.fixture
def two(tmp_path: Path) -> tuple[Path, Path]:
    """Two checkouts of a project; the second's seed hook gives it a template of its own."""
    first, second = tmp_path / "checkout-a", tmp_path / "checkout-b"
    for root in (first, second):
        write(root / "test_suite.py", PASSING)
    write(second / "conftest.py", SEED_HOOK)
    return first, second


def test_two_checkouts_reusing_one_server_keep_each_others_template(
    two: tuple[Path, Path], server: str, tmp_path: Path, figure: Figures
) -> None:
    first, second = two
    args = ["--ampdb=postgres", f"--ampdb-dsn={server}", "--ampdb-reuse"]
    a1 = _ok(run_pytest(first, *args))
    b1 = _ok(run_pytest(second, *args))
    a2 = _ok(run_pytest(first, *args))
    b2 = _ok(run_pytest(second, *args))
    tpl_a, tpl_b = _template_of(a1), _template_of(b1)
    assert tpl_a != tpl_b
    # each second run found its checkout's template: the other checkout's run did not prune it
    assert _template_of(a2) == tpl_a
    assert f"template {tpl_a} (reused)" in _header(a2, "ampdb: migrations"), a2.describe()
    assert f"template {tpl_b} (reused)" in _header(b2, "ampdb: migrations"), b2.describe()
    figure("second --ampdb-reuse run of checkout A after B's run", a2.seconds, "template reused")
    # a run without --ampdb-reuse of a third checkout with A's content uses A's template and
    # leaves it (a checkout keeps it), where before it dropped it at exit
    third = tmp_path / "checkout-c"
    write(third / "test_suite.py", PASSING)
    c1 = _ok(run_pytest(third, "--ampdb=postgres", f"--ampdb-dsn={server}"))
    assert f"template {tpl_a} (reused)" in _header(c1, "ampdb: migrations"), c1.describe()
    assert sorted(plugin_databases(server)) == sorted([tpl_a, tpl_b])

    _user_database(server, "ampdb_tpl_0000000000000000")  # named like ours, not ours
    listed = _ok(run_ampdb(first, "clean", "--list", "--url", server))
    assert f"would remove template {tpl_a} " in listed.stdout, listed.describe()
    assert tpl_b not in listed.stdout
    assert "left database ampdb_tpl_0000000000000000" in listed.stdout
    assert sorted(plugin_databases(server)) == sorted([tpl_a, tpl_b, "ampdb_tpl_0000000000000000"])
    cleaned = _ok(run_ampdb(first, "clean", "--what", "templates", "--url", server))
    figure("ampdb clean of one checkout's template on a shared server", cleaned.seconds)
    assert f"removed template {tpl_a} " in cleaned.stdout, cleaned.describe()
    assert sorted(plugin_databases(server)) == sorted([tpl_b, "ampdb_tpl_0000000000000000"])
    assert _rows_of(server, "ampdb_tpl_0000000000000000") == ["precious"]
    # the second checkout's own clean removes its template; the look-alike stays
    _ok(run_ampdb(second, "clean", "--what", "templates", "--url", server))
    assert plugin_databases(server) == ["ampdb_tpl_0000000000000000"]


FAILING = """
import pytest

@pytest.mark.ampdb(isolation="database")
def test_fails(ampdb):
    assert ampdb.projects.list().items
    raise AssertionError("keep my database")

@pytest.mark.ampdb(isolation="database")
def test_passes(ampdb):
    assert ampdb.projects.list().items
"""


def _kept_databases(admin_dsn: str) -> list[str]:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        return sorted(k.name for k in kept_module.on_server(conn, None) if k.kind == "database")


def test_a_failed_tests_kept_database_is_found_and_swept_by_clean(
    two: tuple[Path, Path], server: str, figure: Figures
) -> None:
    first, second = two
    for root in (first, second):
        write(root / "test_suite.py", FAILING)
    args = ["--ampdb=postgres", f"--ampdb-dsn={server}", "-rfE"]
    a = run_pytest(first, *args)
    b = run_pytest(second, *args)
    for result in (a, b):
        assert result.returncode == 1, result.describe()
        assert "pytest-ampdb: databases kept for failed tests" in result.stdout
        assert "remove them with: cd " in result.stdout, result.describe()
        assert "ampdb clean --what databases --url " in result.stdout
    kept_names = _kept_databases(server)
    assert len(kept_names) == 2, kept_names
    kept_a = next(n for n in kept_names if n in a.stdout)
    kept_b = next(n for n in kept_names if n in b.stdout)
    _user_database(server, "ampdb_run_ffffff_main_1_1")  # named like a run's, not ours

    listed = _ok(run_ampdb(first, "clean", "--list", "--url", server))
    assert f"would remove kept database {kept_a} (for a failed test" in listed.stdout
    assert kept_b not in listed.stdout
    assert "left database ampdb_run_ffffff_main_1_1" in listed.stdout
    assert _kept_databases(server) == kept_names  # a listing removes nothing
    started = time.monotonic()
    cleaned = _ok(run_ampdb(first, "clean", "--what", "databases", "--url", server))
    figure("ampdb clean of a failed test's kept database", time.monotonic() - started)
    assert f"removed kept database {kept_a} " in cleaned.stdout, cleaned.describe()
    assert _kept_databases(server) == [kept_b]  # the other checkout's stays
    assert _rows_of(server, "ampdb_run_ffffff_main_1_1") == ["precious"]
    _ok(run_ampdb(second, "clean", "--what", "databases", "--url", server))
    assert _kept_databases(server) == []
    assert _rows_of(server, "ampdb_run_ffffff_main_1_1") == ["precious"]


@pytest.fixture
def kept_local(project: Path) -> Iterator[Path]:
    yield project
    from pytest_ampdb.harness.provisioning.local import discard_kept

    discard_kept(project)


def _kept_clusters(project: Path) -> list[Path]:
    from pytest_ampdb.harness.provisioning.local import kept_clusters

    return [c.root for c in kept_clusters(frozenset({project_key(project)}))]


WAITS = """
import os, pathlib, time

def test_waits(ampdb):
    pathlib.Path("started").touch()
    deadline = time.monotonic() + 60
    while not pathlib.Path("go").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
"""


def test_a_kept_local_cluster_is_listed_left_while_in_use_and_removed_and_recreate_leaves_none(
    kept_local: Path, figure: Figures
) -> None:
    require_binaries()
    project = kept_local
    write(project / "test_suite.py", PASSING)
    local = ["--ampdb=postgres", "--ampdb-postgres=local"]
    _ok(run_pytest(project, *local, "--ampdb-reuse"))
    (root,) = _kept_clusters(project)
    listed = _ok(run_ampdb(project, "clean", "--list"))
    assert f"would remove kept local cluster {root} (running, pid " in listed.stdout
    assert root.exists()
    # --ampdb-recreate without --ampdb-reuse: the kept cluster goes and nothing is left of it
    before = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    recreated = _ok(run_pytest(project, *local, "--ampdb-recreate"))
    assert "(throwaway)" in _header(recreated, "ampdb: backend"), recreated.describe()
    assert _kept_clusters(project) == [], "recreate left the kept cluster's directory"
    figure(
        "--ampdb-recreate after --ampdb-reuse", recreated.seconds, f"{before / 1e6:.0f} MB freed"
    )

    # in use by a run: clean leaves it, and the run passes
    _ok(run_pytest(project, *local, "--ampdb-reuse"))
    write(project / "test_suite.py", WAITS)
    child = Child([*PYTEST, *local, "--ampdb-reuse"], project)
    try:
        assert wait_for(project / "started", 60, child)
        busy = _ok(run_ampdb(project, "clean", "--what", "clusters"))
        assert "left kept local cluster" in busy.stdout, busy.describe()
        assert "in use (" in busy.stdout
        (project / "go").touch()
        _ok(child.wait(60))
    finally:
        child.kill()
    (root,) = _kept_clusters(project)
    state = (root / "data" / "postmaster.pid").read_text().split("\n", 1)[0]
    cleaned = _ok(run_ampdb(project, "clean", "--what", "clusters"))
    figure("ampdb clean of a kept local cluster", cleaned.seconds)
    assert f"removed kept local cluster {root} " in cleaned.stdout, cleaned.describe()
    assert not root.exists()
    from pytest_ampdb.harness.provisioning.local import pid_alive

    assert not pid_alive(int(state))
    assert str(root) not in _ok(run_ampdb(project, "clean", "--list")).stdout


@pytest.mark.docker
def test_a_kept_container_is_listed_for_its_checkout_only_and_removed(
    kept_local: Path, tmp_path: Path, figure: Figures
) -> None:
    require_docker()
    project = kept_local
    write(project / "test_suite.py", PASSING)
    _ok(run_pytest(project, "--ampdb=postgres", "--ampdb-postgres=container", "--ampdb-reuse"))
    from pytest_ampdb.harness.provisioning.container import reuse_name

    name = reuse_name(project)
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert name not in _ok(run_ampdb(other, "clean", "--list")).stdout  # not that checkout's
    listed = _ok(run_ampdb(project, "clean", "--list", "--what", "containers"))
    assert f"would remove kept container {name} (" in listed.stdout, listed.describe()
    from pytest_ampdb.harness.provisioning.container import reuse_lock

    assert reuse_lock(name).exists()  # the run started the kept container under it
    cleaned = _ok(run_ampdb(project, "clean", "--what", "containers"))
    figure("ampdb clean of a kept container", cleaned.seconds)
    assert f"removed kept container {name} (" in cleaned.stdout
    assert not reuse_lock(name).exists()  # nothing of the checkout is left in the temp folder
    from pytest_ampdb.harness.provisioning.container import left_containers

    assert [c.name for c in left_containers(frozenset({project_key(project)}))] == []


@pytest.mark.docker
@pytest.mark.parametrize("flag", ["--ampdb-reuse", "--ampdb-recreate"])
def test_a_users_container_under_the_kept_name_is_left_alone(
    project: Path, flag: str, figure: Figures
) -> None:
    """A container the plugin did not create (no label of ours) under the very name of the
    checkout's kept container: it was removed, with its volumes, because its (missing) config
    label differed. Now the run stops with one line and the container is as it was."""
    require_docker()
    from pytest_ampdb.harness.provisioning.container import _docker_client, reuse_name

    client = _docker_client(30)
    theirs = client.containers.create("postgres:15", "true", name=reuse_name(project))
    try:
        write(project / "test_suite.py", PASSING)
        result = run_pytest(project, "--ampdb=postgres", "--ampdb-postgres=container", flag)
        figure(f"user container under the kept name ({flag}): time to the error", result.seconds)
        assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.describe()
        (line,) = result.error_lines("ERROR: pytest-ampdb:")
        assert "that pytest-ampdb did not create" in line, line
        assert client.containers.get(theirs.id).name == reuse_name(project)
    finally:
        theirs.remove(force=True)
        client.close()
