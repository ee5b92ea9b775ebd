"""The dev-database replay of ``migrate lint``, ``migrate validate --dev-url`` and ``migrate diff``:
files committed one by one in a scratch database, as ``migrate apply`` commits them.

Real PostgreSQL 15: a history whose file uses an enum value an earlier file added replays; the
database the user named keeps its oid, comment and catalog; no scratch database is left, after
an error, Ctrl-C or a kill (then ``ampdb clean`` removes it); a role that may not create a
database gets the single rolled-back transaction and says so in one line.
"""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pytest_ampdb.harness.provisioning import LocalCluster
from pytest_ampdb.migrations.devdb import FALLBACK_NOTE
from pytest_ampdb.ownership import lease_key, lock_held
from pytest_ampdb.urls import with_dbname
from pytest_ampdb.waiting import wait_until

from ._support import (
    CONFORMANCE_FOLDERS,
    MakeDir,
    ampdb_command,
    ampdb_env,
    conformance_dir,
    run_cli,
)

pytestmark = pytest.mark.postgres

ENUM_HISTORY = {
    "1_people.sql": "CREATE TYPE mood AS ENUM ('sad');\nCREATE TABLE people (id int, mood mood);",
    "2_happy.sql": "ALTER TYPE mood ADD VALUE 'happy';",
    "3_use.sql": "ALTER TABLE people ALTER COLUMN mood SET DEFAULT 'happy';\n"
    "INSERT INTO people (id) VALUES (1);\nUPDATE people SET mood = 'happy';",
}
UNSAFE = (  # validate: Atlas's "replaying the migration directory: " in front
    'ampdb: error: replaying the migration directory: 3_use.sql: executing statement "ALTER TABLE people ALTER COLUMN mood SET '
    'DEFAULT \'happy\';" from version "3": ERROR: unsafe use of new value "happy" of enum type '
    "mood (SQLSTATE 55P04)\n"
)
REPLAYING = "ampdb: error: replaying the migration directory: "
SCRATCH = "ampdb\\_run\\_%\\_dev\\_%"


def databases(admin: str) -> dict[str, tuple[int, str | None]]:
    """Every database of the server: its oid and comment."""
    with psycopg.connect(admin, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname, oid, shobj_description(oid, 'pg_database') FROM pg_database"
        ).fetchall()
    return {str(n): (int(o), c) for n, o, c in rows}


def scratch_databases(admin: str) -> list[tuple[str, str]]:
    """The dev replay's scratch databases on the server: name and mark."""
    with psycopg.connect(admin, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database"
            " WHERE datname LIKE %s",
            (SCRATCH,),
        ).fetchall()
    return [(str(n), str(m)) for n, m in rows]


def catalog(dsn: str) -> list[tuple[Any, ...]]:
    """Every object of the database outside the system schemas, with its kind, and its rows'
    count for a table."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            "SELECT n.nspname, c.relname, c.relkind, c.relfilenode FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
            " UNION ALL SELECT n.nspname, t.typname, 'T', 0 FROM pg_type t"
            " JOIN pg_namespace n ON n.oid = t.typnamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
            " UNION ALL SELECT n.nspname, p.proname, 'F', 0 FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " UNION ALL SELECT nspname, '', 'S', 0 FROM pg_namespace"
            " ORDER BY 1, 2, 3"
        ).fetchall()


@pytest.fixture
def named(pg_cluster: LocalCluster, pg_admin_dsn: str) -> Iterator[str]:
    """The dev database a user names: clean as Atlas wants it, with a comment and a function
    of its own (neither makes it unclean), so any change to it shows."""
    name = f"dev_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS 'mine'").format(sql.Identifier(name)))
    dsn = pg_cluster.dsn(name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE FUNCTION kept() RETURNS int LANGUAGE sql AS 'SELECT 1'")
    yield dsn
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def unchanged(named: str, pg_admin_dsn: str) -> Iterator[None]:
    """After the test, the named database has its oid, comment and catalog, and the server
    has the databases it had (no scratch database left)."""
    before = databases(pg_admin_dsn), catalog(named)
    yield
    assert (databases(pg_admin_dsn), catalog(named)) == before
    assert scratch_databases(pg_admin_dsn) == []


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("latest", ["1", "2", "3"])
def test_a_file_using_an_enum_value_an_earlier_file_added_lints_clean(
    latest: str, named: str, make_dir: MakeDir, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir(ENUM_HISTORY)
    argv = ["migrate", "lint", "--dir", str(directory), "--dev-url", named, "--latest", latest]
    code, out, err = run_cli(capsys, *argv)
    assert (code, err) == (0, "")
    assert out.count("-- no diagnostics found") == int(latest), out
    assert "Error" not in out


@pytest.mark.usefixtures("unchanged")
def test_a_file_using_an_enum_value_an_earlier_file_added_validates(
    named: str, make_dir: MakeDir, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir(ENUM_HISTORY)
    argv = ["migrate", "validate", "--dir", str(directory), "--dev-url", named]
    assert run_cli(capsys, *argv) == (0, "", "")


def test_the_throwaway_cluster_replays_it_too(
    make_dir: MakeDir, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir(ENUM_HISTORY)
    code, out, err = run_cli(capsys, "migrate", "lint", "--dir", str(directory), "--latest", "1")
    assert (code, err) == (0, "")
    assert out.count("-- no diagnostics found") == 1


@pytest.mark.usefixtures("unchanged")
def test_files_run_in_their_transaction_modes_as_apply_runs_them(
    named: str, make_dir: MakeDir, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ``txmode none`` file's ``CREATE INDEX CONCURRENTLY`` runs as written (the dropped index
    is one it built: no error); in a ``file``-mode file it fails as ``migrate apply`` fails."""
    ok = make_dir(
        {
            "1_t.sql": "CREATE TABLE t (id int);",
            "2_i.sql": "-- atlas:txmode none\n\nCREATE INDEX CONCURRENTLY t_id ON t (id);",
            "3_d.sql": "-- atlas:txmode none\n\nDROP INDEX CONCURRENTLY t_id;",
        }
    )
    code, out, err = run_cli(
        capsys, "migrate", "lint", "--dir", str(ok), "--dev-url", named, "--latest", "1"
    )
    assert (code, err) == (0, "")
    assert "-- no diagnostics found" in out
    bad = make_dir(
        {
            "1_t.sql": "CREATE TABLE t (id int);",
            "2_i.sql": "CREATE INDEX CONCURRENTLY t_id ON t (id);",
        }
    )
    argv = ["migrate", "validate", "--dir", str(bad), "--dev-url", named]
    assert run_cli(capsys, *argv) == (
        1,
        "",
        f'{REPLAYING}2_i.sql: executing statement "CREATE INDEX CONCURRENTLY t_id ON t (id);" '
        'from version "2": ERROR: CREATE INDEX CONCURRENTLY cannot run inside a transaction block '
        "(SQLSTATE 25001)\n",
    )


@pytest.mark.usefixtures("unchanged")
def test_a_failing_file_is_named_with_its_statement_and_the_scratch_database_is_dropped(
    named: str, make_dir: MakeDir, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir(
        {
            "1_a.sql": "CREATE TABLE a (id int);",
            "2_b.sql": "CREATE TABLE b (id int);\nDROP TABLE nope;",
        }
    )
    line = (
        'ampdb: error: 2_b.sql: executing statement "DROP TABLE nope;" from version "2": '
        'ERROR: table "nope" does not exist (SQLSTATE 42P01)\n'
    )
    validate = ["migrate", "validate", "--dir", str(directory), "--dev-url", named]
    assert run_cli(capsys, *validate) == (1, "", line.replace("ampdb: error: ", REPLAYING))
    lint = ["migrate", "lint", "--dir", str(directory), "--dev-url", named, "--latest", "1"]
    code, out, err = run_cli(capsys, *lint)
    assert (code, err) == (1, "")
    assert out.splitlines()[2] == (
        '  Error: executing statement: DROP TABLE nope;: ERROR: table "nope" does not exist '
        "(SQLSTATE 42P01)"
    )
    directory = make_dir({"1_a.sql": "DROP TABLE nope;", "2_b.sql": "SELECT 1;"})
    lint = ["migrate", "lint", "--dir", str(directory), "--dev-url", named, "--latest", "1"]
    assert run_cli(capsys, *lint) == (1, "", line.replace("2_b", "1_a").replace('"2"', '"1"'))


@pytest.fixture
def limited(pg_cluster: LocalCluster, pg_admin_dsn: str) -> Iterator[str]:
    """A dev database owned by a role without CREATEDB (its URL, as that role)."""
    role = f"r_{uuid.uuid4().hex[:12]}"
    name = f"dev_{role}"
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOCREATEDB").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(role)
            )
        )
    yield pg_cluster.dsn(name).replace("postgresql://postgres@", f"postgresql://{role}@", 1)
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_a_role_without_createdb_falls_back_to_one_rolled_back_transaction(
    limited: str, pg_admin_dsn: str, make_dir: MakeDir, capsys: pytest.CaptureFixture[str]
) -> None:
    before = databases(pg_admin_dsn), catalog(limited)
    note = f"ampdb: note: {FALLBACK_NOTE}\n"
    plain = make_dir({"1_a.sql": "CREATE TABLE a (id int);", "2_b.sql": "DROP TABLE a;"})
    code, out, err = run_cli(
        capsys, "migrate", "lint", "--dir", str(plain), "--dev-url", limited, "--latest", "1"
    )
    assert (code, err) == (1, note)
    assert "DS102" in out
    assert run_cli(capsys, "migrate", "validate", "--dir", str(plain), "--dev-url", limited) == (
        0,
        "",
        note,
    )
    enum = make_dir(ENUM_HISTORY)
    assert run_cli(capsys, "migrate", "validate", "--dir", str(enum), "--dev-url", limited) == (
        1,
        "",
        note + UNSAFE,
    )
    assert (databases(pg_admin_dsn), catalog(limited)) == before


def _sleeping_replay(directory: Path, named: str, admin: str) -> subprocess.Popen[str]:
    """``ampdb migrate validate`` stuck in a file's ``pg_sleep``, its scratch database made."""
    proc = subprocess.Popen(
        [*ampdb_command(), "migrate", "validate", "--dir", str(directory), "--dev-url", named],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ampdb_env(),
    )

    def sleeping() -> bool | None:
        with psycopg.connect(admin, autocommit=True) as conn:
            row = conn.execute(
                "SELECT 1 FROM pg_stat_activity WHERE datname LIKE %s AND query LIKE %s",
                (SCRATCH, "%pg_sleep%"),
            ).fetchone()
        return True if row else None

    if wait_until(sleeping, timeout=30, interval=0.05) is None:
        proc.kill()
        pytest.fail(f"the replay never reached its pg_sleep: {proc.communicate()}")
    return proc


@pytest.mark.usefixtures("unchanged")
def test_ctrl_c_during_the_replay_drops_the_scratch_database(
    named: str, pg_admin_dsn: str, make_dir: MakeDir
) -> None:
    directory = make_dir({"1_a.sql": "CREATE TABLE a (id int);", "2_s.sql": "SELECT pg_sleep(60);"})
    proc = _sleeping_replay(directory, named, pg_admin_dsn)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 10
    assert (proc.returncode, out, err) == (130, "", "ampdb: error: interrupted\n")


def test_a_killed_replay_leaves_a_marked_database_that_ampdb_clean_removes(
    named: str, pg_cluster: LocalCluster, pg_admin_dsn: str, make_dir: MakeDir, tmp_path: Path
) -> None:
    before = databases(pg_admin_dsn), catalog(named)
    directory = make_dir({"1_a.sql": "CREATE TABLE a (id int);", "2_s.sql": "SELECT pg_sleep(60);"})
    proc = _sleeping_replay(directory, named, pg_admin_dsn)
    proc.kill()
    proc.communicate(timeout=30)
    ((left, mark),) = scratch_databases(pg_admin_dsn)
    run = left.split("_")[2]
    assert mark.startswith(f"pytest-ampdb run lease={run} pid={proc.pid} ")
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:  # the server saw it go
        free = wait_until(lambda: None if lock_held(conn, lease_key(run)) else True, timeout=10)
    assert free, "the killed command's lease is still held"
    server = with_dbname(pg_admin_dsn, "postgres")
    done = subprocess.run(
        [*ampdb_command(), "clean", "--what", "databases", "--url", server],
        capture_output=True, text=True, env=ampdb_env(), cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"removed dead run's database {left} " in done.stdout
    assert scratch_databases(pg_admin_dsn) == []
    assert (databases(pg_admin_dsn), catalog(named)) == before


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("folder", CONFORMANCE_FOLDERS)
def test_conformance_folders_lint_and_validate_as_before(
    folder: str, named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Atlas's own directories, read where they lie: the PostgreSQL ones validate and lint
    without a finding; the MySQL one fails on its first statement, naming its file."""
    directory = conformance_dir(folder)
    count = str(len(list(directory.glob("*.sql"))))
    validate = run_cli(capsys, "migrate", "validate", "--dir", str(directory), "--dev-url", named)
    lint = run_cli(
        capsys, "migrate", "lint", "--dir", str(directory), "--dev-url", named, "--latest", count
    )
    if folder != "AnuchitO__atlasgo-db-migration":
        assert validate == (0, "", "")
        assert (lint[0], lint[2]) == (0, "")
        assert lint[1].count("-- no diagnostics found") == int(count)
        return
    first = "20230730113032_create_blog_posts.sql"
    assert validate[:2] == (1, "")
    assert validate[2].startswith(f'{REPLAYING}{first}: executing statement "CREATE TABLE `users`')
    assert validate[2].endswith('ERROR: syntax error at or near "`" (SQLSTATE 42601)\n')
    assert (lint[0], lint[2]) == (1, "")
    assert "\n  Error: executing statement: CREATE TABLE `users`" in lint[1]
