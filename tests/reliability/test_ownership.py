"""Ownership: the plugin and the ``ampdb`` command drop, rename and migrate only databases that
carry pytest-ampdb's own mark. A user's database named exactly like one of ours (the template,
its ``_build``, a run database, a ``pr-<branch>`` preview) stays byte for byte as it was (same
oid, comment, tables and rows) through every plugin mode and every command, with one line saying
it was left alone. And whether a run is alive is proven by the lease it holds on the server, not
by its pid: a run in another PID namespace leaves two live runs' databases alone.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pytest_ampdb.harness import template as tpl
from pytest_ampdb.harness.provisioning import LocalCluster
from pytest_ampdb.ownership import birth_oid
from pytest_ampdb.paths import migrations_dir
from pytest_ampdb.preview.naming import database_name
from pytest_ampdb.seeds import read_seeds
from pytest_ampdb.urls import with_dbname

from .conftest import (
    PYTEST,
    Child,
    Figures,
    Run,
    drop_databases,
    fingerprint,
    outcome_counts,
    plugin_databases,
    require_binaries,
    run_ampdb,
    run_pytest,
    user_database,
    wait_for,
    write,
)

pytestmark = pytest.mark.postgres

SUITE = """
import pytest
from psycopg import sql
from pytest_ampdb.models import Organization, new_id

@pytest.mark.parametrize("n", range(3))
def test_writes(ampdb, n):
    ampdb.organizations.create(Organization(label=f"x{n}", default_team_id=new_id()))
    assert len(ampdb.organizations.list().items) == 2
"""
SUITE_TESTS = 3

MODES: list[tuple[str, list[str]]] = [
    ("transaction", []),
    ("database", ["--ampdb-isolation=database"]),
    ("truncate", ["--ampdb-isolation=truncate"]),
    ("--ampdb-reuse", ["--ampdb-reuse"]),
    ("--ampdb-recreate", ["--ampdb-recreate"]),
    ("-n 2 database", ["-n", "2", "--ampdb-isolation=database"]),
]


def _dead_pid() -> int:
    """A pid no process of this namespace has."""
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid += 1


DEAD = _dead_pid()
OLD_HOST_TAG = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]
"""How run database names told the host before leases: the old sweep matched this tag."""
BRANCH = "feature/look-alike"

RUN_LOOKALIKES: dict[str, str | None] = {
    # exactly the shape the old sweep dropped when the pid was dead on this host
    f"ampdb_run_0a0b0c_{OLD_HOST_TAG}_main_{DEAD}_1": None,
    # today's shape, with a comment of the user's own
    f"ampdb_run_0a0b0c_gw0_{DEAD}_1": "restored from staging",
}
PREVIEW_LOOKALIKE = database_name(BRANCH)


def _template_name() -> str:
    """The template a run of ``SUITE`` (packaged migrations and seeds, no hooks) builds."""
    seeds = read_seeds()
    return tpl.TEMPLATE_PREFIX + tpl.fingerprint(migrations_dir(), seeds.files.values())[:16]


def _one_error(result: Run, prefix: str) -> str:
    """The run's only error line (``prefix``...), after checking there is no traceback."""
    assert not result.timed_out, result.describe()
    assert result.returncode not in (0, None), result.describe()
    assert "INTERNALERROR" not in result.output, result.describe()
    assert "Traceback" not in result.output, result.describe()
    lines = result.error_lines(prefix)
    assert len(lines) == 1, result.describe()
    return lines[0]


# ------------------------------------------------------------------------------ template names


@pytest.mark.parametrize("suffix", ["", "_build"], ids=["template", "build"])
def test_a_user_database_named_like_the_template_stops_the_run_in_one_line(
    project: Path, server: str, suffix: str, figure: Figures
) -> None:
    name = _template_name() + suffix
    user_database(server, name, "restored from a dump" if suffix == "" else None)
    try:
        before = fingerprint(server, [name])
        write(project / "test_suite.py", SUITE)
        for mode, args in MODES:
            result = run_pytest(
                project, "--ampdb=postgres", f"--ampdb-dsn={server}", *args, timeout=120
            )
            what = "the template's name" if suffix == "" else "the template's _build name"
            figure(f"user database under {what} ({mode}): time to the error", result.seconds)
            line = _one_error(result, "ERROR: pytest-ampdb:")
            assert f"'{name}'" in line, line
            assert "left untouched" in line, line
            assert "rename or drop it" in line, line
            assert fingerprint(server, [name]) == before, mode
            assert plugin_databases(server) == [name], mode  # no _build, no run database left
    finally:
        drop_databases(server, name)


# ------------------------------------------------------------------------------ run databases


def _age_database(server: str, name: str, days: float) -> None:
    """Make the database look created ``days`` ago (its PG_VERSION file, on the cluster's disk)."""
    with psycopg.connect(server, autocommit=True) as conn:
        row = conn.execute(
            "SELECT current_setting('data_directory'), oid FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
    assert row is not None
    stamp = time.time() - days * 86400
    os.utime(Path(str(row[0])) / "base" / str(row[1]) / "PG_VERSION", (stamp, stamp))


def _born_ours(server: str, name: str) -> None:
    """What a process killed between our CREATE DATABASE and its COMMENT leaves: a database
    born with our OID for its name, and no mark."""
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OID {}").format(
                sql.Identifier(name), sql.Literal(birth_oid(name))
            )
        )


@pytest.fixture
def own_server() -> Iterator[str]:
    """A server of the test's own (a fresh local cluster), as a user's existing server.

    This test failed twice in CI's whole run on the shared session cluster ("refused to build
    the test databases: the connection is closed") and never alone or in a partial run. That
    line is what a connection the server closed during the build gave (our own timeout said
    "stopped answering"); what closed it on the shared cluster is not known, and a run now
    names the server's reason (test_hangs). Until it is, this test runs where no earlier test
    left anything."""
    require_binaries()
    with LocalCluster.start(major=15) as started:
        yield started.dsn("postgres")


def test_what_a_kill_before_the_mark_leaves_is_ours_and_rebuilt(
    project: Path, own_server: str, figure: Figures
) -> None:
    server = own_server
    build = _template_name() + "_build"
    preview = database_name("feature/killed")
    _born_ours(server, build)
    _born_ours(server, preview)
    try:
        write(project / "test_suite.py", SUITE)
        result = run_pytest(project, "--ampdb=postgres", f"--ampdb-dsn={server}", timeout=120)
        figure("run after a build killed before its mark", result.seconds)
        assert result.returncode == 0, result.describe()
        assert plugin_databases(server) == []  # the leftover _build dropped, the template too

        created = run_ampdb(
            project, "preview", "create", "--branch", "feature/killed", "--server", server
        )
        figure("ampdb preview create after a create killed before its mark", created.seconds)
        assert created.returncode == 0, created.describe()
        with psycopg.connect(server, autocommit=True) as conn:
            row = conn.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                (preview,),
            ).fetchone()
        assert row is not None
        assert str(row[0]).startswith("ampdb-preview:")  # rebuilt and marked
    finally:
        drop_databases(server, build, preview)


@pytest.fixture
def look_alikes(server: str) -> Iterator[list[str]]:
    """User databases named like run databases and like the preview of ``BRANCH``."""
    names = [*RUN_LOOKALIKES, PREVIEW_LOOKALIKE]
    for name, comment in RUN_LOOKALIKES.items():
        user_database(server, name, comment)
    user_database(server, PREVIEW_LOOKALIKE, None)
    yield names
    drop_databases(server, *names)


def test_every_mode_leaves_look_alikes_of_run_and_preview_databases_alone(
    project: Path, server: str, look_alikes: list[str], figure: Figures
) -> None:
    # ours by the mark: a run that died (its lease is free), and two of an older version
    # (marked, no lease): one two days old, swept by age, and a fresh one, kept; and one born
    # with our OID whose run was killed before the COMMENT that marks it
    dead = f"ampdb_run_dead00_main_{DEAD}_1"
    born = f"ampdb_run_dead01_main_{DEAD}_1"
    _born_ours(server, born)
    old, young = f"ampdb_run_01d01d_main_{DEAD}_1", f"ampdb_run_01d01d_main_{DEAD}_2"
    user_database(server, dead, f"pytest-ampdb run lease=dead00 pid={DEAD} host=elsewhere")
    user_database(server, old, f"pytest-ampdb run pid={DEAD} host={socket.gethostname()}")
    user_database(server, young, f"pytest-ampdb run pid={DEAD} host={socket.gethostname()}")
    _age_database(server, old, days=2)
    watched = [*look_alikes, young]
    before = fingerprint(server, watched)
    assert len(before) == len(watched)
    write(project / "test_suite.py", SUITE)
    left_alone = (
        f"ampdb: left alone {len(RUN_LOOKALIKES)} databases named like a run's but without "
        f"pytest-ampdb's mark (not ours): {', '.join(sorted(RUN_LOOKALIKES))}"
    )
    for mode, args in MODES:
        result = run_pytest(
            project, "--ampdb=postgres", f"--ampdb-dsn={server}", "-rfE", *args, timeout=150
        )
        figure(f"run beside look-alikes of run and preview databases ({mode})", result.seconds)
        assert not result.timed_out, result.describe()
        assert result.returncode == 0, result.describe()
        assert outcome_counts(result).get("passed") == SUITE_TESTS, result.describe()
        assert left_alone in result.stdout.splitlines(), result.describe()
        assert f"template {_template_name()} " in result.stdout  # the name the first test uses
        assert fingerprint(server, watched) == before, mode
        left = set(plugin_databases(server))
        assert dead not in left  # swept: marked, and no run holds its lease
        assert born not in left  # swept: born ours, and no run holds its lease
        assert old not in left  # swept by age: marked by an older version, two days old
        run_databases = {n for n in left if n.startswith(tpl.RUN_PREFIX)}
        assert run_databases == {*RUN_LOOKALIKES, young}, mode


def test_preview_mode_refuses_a_look_alike_and_leaves_it_alone(
    project: Path, server: str, look_alikes: list[str], figure: Figures
) -> None:
    before = fingerprint(server, look_alikes)
    write(project / "test_suite.py", SUITE)
    preview = ["--ampdb=postgres", "--ampdb-postgres=preview", f"--ampdb-dsn={server}"]
    for isolation in ("transaction", "database"):
        result = run_pytest(
            project,
            *preview,
            f"--ampdb-branch={BRANCH}",
            f"--ampdb-isolation={isolation}",
            timeout=120,
        )
        figure(f"preview mode on a look-alike {PREVIEW_LOOKALIKE} ({isolation})", result.seconds)
        line = _one_error(result, "ERROR: pytest-ampdb:")
        assert f"'{PREVIEW_LOOKALIKE}'" in line, line
        assert "not marked as an ampdb preview" in line, line
        assert fingerprint(server, look_alikes) == before

    other = database_name("feature/other")
    try:  # another branch's preview is made beside it, and every isolation works
        for isolation in ("transaction", "database", "truncate"):
            result = run_pytest(
                project,
                *preview,
                "--ampdb-branch=feature/other",
                f"--ampdb-isolation={isolation}",
                "--ampdb-recreate",
                timeout=150,
            )
            figure(
                f"preview mode beside look-alikes ({isolation}, --ampdb-recreate)", result.seconds
            )
            assert result.returncode == 0, result.describe()
            assert outcome_counts(result).get("passed") == SUITE_TESTS, result.describe()
            assert fingerprint(server, look_alikes) == before, isolation
    finally:
        drop_databases(server, other)


def test_commands_refuse_look_alikes_and_leave_them_alone(
    project: Path, server: str, look_alikes: list[str], figure: Figures
) -> None:
    template = _template_name()
    user_database(server, template, None)
    user_database(server, template + "_build", None)
    watched = [*look_alikes, template, template + "_build"]
    try:
        before = fingerprint(server, watched)
        preview = ["--branch", BRANCH, "--server", server]
        refusals: list[tuple[str, str, list[str]]] = [
            ("preview create", PREVIEW_LOOKALIKE, ["preview", "create", *preview]),
            (
                "preview create --recreate --force",
                PREVIEW_LOOKALIKE,
                ["preview", "create", "--recreate", "--force", *preview],
            ),
            ("preview migrate", PREVIEW_LOOKALIKE, ["preview", "migrate", *preview]),
            ("preview drop", PREVIEW_LOOKALIKE, ["preview", "drop", *preview]),
            ("preview drop --force", PREVIEW_LOOKALIKE, ["preview", "drop", "--force", *preview]),
            *(
                ("refresh-db", name, ["refresh-db", "--url", with_dbname(server, name)])
                for name in watched
            ),
        ]
        for command, target, args in refusals:
            result = run_ampdb(project, *args)
            figure(f"ampdb {command} of look-alike {target}: time to refuse", result.seconds)
            line = _one_error(result, "ampdb: error:")
            assert f"'{target}'" in line, line
            assert fingerprint(server, watched) == before, command

        pruned = run_ampdb(
            project, "preview", "prune", "--older-than", "0s", "--force", "--server", server
        )
        figure("ampdb preview prune beside look-alikes", pruned.seconds)
        assert pruned.returncode == 0, pruned.describe()
        assert PREVIEW_LOOKALIKE not in pruned.stdout, pruned.describe()
        assert fingerprint(server, watched) == before
    finally:
        drop_databases(server, template, template + "_build")


# ------------------------------------------------------------------------------ PID namespaces

LIVE_SUITE = """
import os, pathlib, time
import psycopg, pytest
from pytest_ampdb.models import Organization, new_id

HERE = pathlib.Path(__file__).parent
RUN = os.environ["RUN_TAG"]

@pytest.mark.ampdb(isolation="database")
def test_0_pause(ampdb, ampdb_dsn):
    if not os.environ.get("PAUSE"):
        return
    (HERE / f"ready-{RUN}").write_text(ampdb_dsn)
    deadline = time.monotonic() + 120
    while not (HERE / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (HERE / "go").exists(), "never told to go on"
    with psycopg.connect(ampdb_dsn) as conn:  # the database it had before the pause
        assert conn.execute("SELECT count(*) FROM organizations").fetchone() == (1,)

@pytest.mark.parametrize("n", range(3))
@pytest.mark.ampdb(isolation="database")
def test_own_database(ampdb, n):
    ampdb.organizations.create(Organization(label=f"{RUN}{n}", default_team_id=new_id()))
    assert len(ampdb.organizations.list().items) == 2

@pytest.mark.parametrize("n", range(3))
def test_in_transaction(ampdb, n):
    ampdb.organizations.create(Organization(label=f"{RUN}{n}", default_team_id=new_id()))
    assert len(ampdb.organizations.list().items) == 2
"""
LIVE_TESTS = 7


def _run_databases(server: str) -> dict[str, int]:
    """Every run database on the server, by name, with its oid."""
    with psycopg.connect(server, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname, oid FROM pg_database WHERE datname LIKE 'ampdb\\_run\\_%'"
        ).fetchall()
    return {str(name): int(oid) for name, oid in rows}


def test_a_run_in_another_pid_namespace_leaves_live_runs_alone(
    project: Path, server: str, figure: Figures
) -> None:
    """Two live runs pause inside a test, holding their databases; a third run starts in a PID
    namespace of its own (where every pid of theirs looks dead) and sweeps; all three green."""
    write(project / "test_suite.py", LIVE_SUITE)
    args = [*PYTEST, "-rfE", "--ampdb=postgres", f"--ampdb-dsn={server}"]
    live = [Child(args, project, env={"RUN_TAG": tag, "PAUSE": "1"}) for tag in ("a", "b")]
    try:
        for tag, child in zip(("a", "b"), live, strict=True):
            assert wait_for(project / f"ready-{tag}", 120, child), child.wait(5).describe()
        held = _run_databases(server)
        assert len(held) >= 4, held  # each live run: its transaction database and its clones

        started = time.monotonic()
        # its DSN names another database: advisory locks live per database, a lease must not
        user_database(server, "sweeper_home", None)
        elsewhere = [
            *PYTEST,
            "-rfE",
            "--ampdb=postgres",
            f"--ampdb-dsn={with_dbname(server, 'sweeper_home')}",
        ]
        isolated = Child(
            ["unshare", "--pid", "--fork", "--mount-proc", *elsewhere],
            project,
            env={"RUN_TAG": "c"},
        )
        third = isolated.wait(150)
        figure("a run in another PID namespace beside two live runs", time.monotonic() - started)
        assert third.returncode == 0, third.describe()
        assert outcome_counts(third).get("passed") == LIVE_TESTS, third.describe()
        assert "ampdb: backend postgres" in third.stdout
        still = _run_databases(server)
        assert {n: still.get(n) for n in held} == held  # none dropped, none re-created

        (project / "go").touch()
        results = [child.wait(150) for child in live]
    finally:
        for child in live:
            child.kill()
        drop_databases(server, "sweeper_home")
    for result in results:
        assert result.returncode == 0, result.describe()
        assert outcome_counts(result).get("passed") == LIVE_TESTS, result.describe()
    assert plugin_databases(server) == []
