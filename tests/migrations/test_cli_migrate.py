"""``ampdb migrate ...``: exit codes, Atlas-shaped output, one-line errors, redacted passwords."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

import pytest_ampdb
from pytest_ampdb.cli.common import redact_text, redact_url
from pytest_ampdb.cli.migrate import go_duration, parse_duration
from pytest_ampdb.migrations import default_migrations_dir

from ._support import (
    MakeDir,
    ampdb_command,
    ampdb_env,
    conformance_copy,
    query,
    revisions,
    run_cli,
    tables,
)

SECRET = "s3cr3t-Pa55"


def test_hash_writes_atlas_sum(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = conformance_copy("1995parham-teaching__tinyurl", tmp_path)
    original = (directory / "atlas.sum").read_bytes()
    (directory / "atlas.sum").unlink()
    assert run_cli(capsys, "migrate", "hash", "--dir", f"file://{directory}") == (0, "", "")
    assert (directory / "atlas.sum").read_bytes() == original


def test_validate_ok_and_edited(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = conformance_copy("ariga__atlas", tmp_path)
    assert run_cli(capsys, "migrate", "validate", "--dir", str(directory)) == (0, "", "")
    with (directory / "1_initial.sql").open("a") as fh:
        fh.write("\n")
    code, out, err = run_cli(capsys, "migrate", "validate", "--dir", str(directory))
    assert code == 1
    # Atlas's block, on stdout as Atlas prints it, naming our own re-hash command.
    assert out == (
        "You have a checksum error in your migration directory.\n"
        "\n"
        "\tL2: 1_initial.sql was edited\n"
        "\n"
        f"Please check your migration files and run 'ampdb migrate hash --dir {directory}' "
        "to re-hash the contents\n"
        "\n"
    )
    assert err == "ampdb: error: checksum mismatch: L2: 1_initial.sql was edited\n"


def test_dir_url_with_a_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Atlas's dir URLs carry ?format= (cmd/atlas/internal/migrate/migrate.go DirURL, used so in
    # cmd/atlas/internal/cmdapi/migrate_test.go TestMigrate_New); "?format=atlas" was read as
    # part of the path ("does not exist"), another format must not be read as Atlas's.
    directory = conformance_copy("ariga__atlas", tmp_path)
    url = f"file://{directory}?format=atlas"
    assert run_cli(capsys, "migrate", "validate", "--dir", url) == (0, "", "")
    code, _, err = run_cli(
        capsys, "migrate", "validate", "--dir", f"file://{directory}?format=flyway"
    )
    assert code == 2
    assert err.splitlines()[-1] == (
        "ampdb migrate validate: error: argument --dir: unsupported migration directory format "
        "'flyway': ampdb reads Atlas's format only (format=atlas)"
    )


@pytest.mark.parametrize("url", ["mem://migrations", "atlas://app", "s3://bucket/migrations"])
def test_a_dir_url_of_another_kind_is_refused(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "migrate", "validate", "--dir", url)
    scheme = url.split(":", maxsplit=1)[0]
    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == (
        f'ampdb migrate validate: error: argument --dir: unsupported driver "{scheme}": ampdb '
        "reads local directories (a path or file://path)"
    )


def test_validate_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "migrate", "validate", "--dir", str(tmp_path / "nope"))
    assert code == 1
    assert err == f"ampdb: error: stat {tmp_path / 'nope'}: no such file or directory\n"  # Atlas


def test_default_dir_is_the_packaged_schema() -> None:
    repo = Path(pytest_ampdb.__file__).resolve().parent.parent
    expected = repo / "schema" / "migrations"
    installed = Path(pytest_ampdb.__file__).resolve().parent / "schema" / "migrations"
    assert default_migrations_dir() in (expected, installed)


@pytest.mark.parametrize(
    "argv",
    [
        ["migrate", "apply", "--tx-mode", "bogus", "--url", "postgres://x"],
        ["migrate", "apply", "--exec-order", "sideways", "--url", "postgres://x"],
        ["migrate", "apply", "--url", "postgres://x", "--", "-1"],
        ["migrate", "apply", "--url", "postgres://x", "--lock-timeout", "soon"],
        ["migrate", "frobnicate"],
        ["migrate"],
        [],
    ],
)
def test_bad_usage_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert "error:" in err
    assert "Traceback" not in err


def test_a_bad_lock_timeout_is_refused_in_go_s_words(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["migrate", "apply", "--url", "postgres://x", "--lock-timeout", "soon"]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert err.splitlines()[-1].endswith(
        'error: argument --lock-timeout: time: invalid duration "soon"'
    )


def test_url_is_required_for_database_commands(
    make_dir: MakeDir, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AMPDB_DSN", raising=False)
    monkeypatch.delenv("DB_DSN", raising=False)
    code, _, err = run_cli(capsys, "migrate", "status", "--dir", str(make_dir({})))
    assert code == 2
    assert err.splitlines()[-1].endswith(
        'error: required flag "url" not set: pass --url URL or set AMPDB_DSN'
    )


def test_unreachable_server_one_line_no_password(
    make_dir: MakeDir, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir({"1_a.sql": "SELECT 1;"})
    url = f"postgresql://admin:{SECRET}@127.0.0.1:1/db?connect_timeout=2"
    code, out, err = run_cli(capsys, "migrate", "apply", "--dir", str(directory), "--url", url)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("ampdb: error: cannot connect to the database:")
    assert SECRET not in err


def test_redaction_helpers() -> None:
    assert redact_url(f"postgres://u:{SECRET}@h:5432/db?sslmode=disable") == (
        "postgres://u:xxxxx@h:5432/db?sslmode=disable"
    )
    assert redact_url("postgres://u@h/db") == "postgres://u@h/db"
    assert SECRET not in redact_url(f"postgres://h/db?password={SECRET}&x=1")
    assert SECRET not in redact_url(f"host=h password={SECRET} dbname=d")
    assert SECRET not in redact_text(f"failed for postgresql://a:{SECRET}@h/d: boom")


def test_duration_and_format_helpers() -> None:
    assert parse_duration("10s") == 10
    assert parse_duration("1m30s") == 90
    assert parse_duration("250ms") == pytest.approx(0.25)
    assert parse_duration("2.5") == 2.5
    assert go_duration(0.0015) == "1.5ms"
    assert go_duration(90.5) == "1m30.5s"


@pytest.mark.postgres
def test_a_url_bound_to_a_schema_is_accepted_by_every_command(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Atlas's internal/integration/testdata/postgres/cli-migrate-apply.txtar runs its commands on
    # postgres://...?search_path=<schema>; --url refused that as unparseable (libpq knows no
    # search_path), though the engine binds the commands to the schema as Atlas does.
    query(fresh_database, "CREATE SCHEMA app")
    directory = make_dir({"1_a.sql": "CREATE TABLE a (id int);", "2_b.sql": "SELECT 1;"})
    common = ["--dir", str(directory), "--url", fresh_database + "&search_path=app"]
    assert run_cli(capsys, "migrate", "apply", *common, "1")[::2] == (0, "")
    assert tables(fresh_database) == ["app.a", "app.atlas_schema_revisions"]
    code, out, err = run_cli(capsys, "migrate", "status", *common)
    assert (code, err, out.splitlines()[0]) == (0, "", "Migration Status: PENDING")
    assert run_cli(capsys, "migrate", "set", *common, "2")[::2] == (0, "")
    assert [r["version"] for r in revisions(fresh_database, "app")] == ["1", "2"]


@pytest.mark.postgres
def test_apply_status_set_roundtrip(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir(
        {"1_a.sql": "CREATE TABLE a (id int);\nCREATE TABLE b (id int);", "2_c.sql": "SELECT 1;"}
    )
    common = ["--dir", str(directory), "--url", fresh_database]

    code, out, err = run_cli(capsys, "migrate", "status", *common)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "Migration Status: PENDING",
        "  -- Current Version: No migration applied yet",
        "  -- Next Version:    1",
        "  -- Executed Files:  0",
        "  -- Pending Files:   2",
    ]

    code, out, err = run_cli(capsys, "migrate", "apply", *common, "--dry-run")
    assert (code, err) == (0, "")
    assert "    -> CREATE TABLE a (id int);" in out
    assert tables(fresh_database) == []

    code, out, err = run_cli(capsys, "migrate", "apply", *common, "1")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[:5] == [
        "Migrating to version 1 (1 migrations in total):",
        "",
        "  -- migrating version 1",
        "    -> CREATE TABLE a (id int);",
        "    -> CREATE TABLE b (id int);",
    ]
    assert lines[5].startswith("  -- ok (")
    assert lines[-2:] == ["  -- 1 migration", "  -- 2 sql statements"]

    code, out, _ = run_cli(capsys, "migrate", "apply", *common)
    assert code == 0
    assert out.startswith("Migrating to version 2 from 1 (1 migrations in total):")
    code, out, _ = run_cli(capsys, "migrate", "apply", *common)
    assert (code, out) == (0, "No migration files to execute\n")

    code, out, _ = run_cli(capsys, "migrate", "status", *common)
    assert out.splitlines()[:2] == ["Migration Status: OK", "  -- Current Version: 2"]

    code, out, _ = run_cli(capsys, "migrate", "set", *common, "1")
    assert (code, out) == (0, "Current version is 1 (1 removed):\n\n  - 2 (c)\n\n")
    assert [r["version"] for r in revisions(fresh_database)] == ["1"]


@pytest.mark.postgres
def test_failed_apply_prints_log_and_one_error_line(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir({"1_a.sql": "CREATE TABLE a ();\nINSERT INTO nope VALUES (1);"})
    code, out, err = run_cli(
        capsys, "migrate", "apply", "--dir", str(directory), "--url", fresh_database
    )
    assert code == 1
    assert "    -> INSERT INTO nope VALUES (1);" in out
    assert out.splitlines()[-2:] == [
        "  -- 1 migration with errors",
        "  -- 1 sql statement ok, 1 with errors",
    ]
    assert err == (
        'ampdb: error: executing statement "INSERT INTO nope VALUES (1);" from version "1": '
        'ERROR: relation "nope" does not exist (SQLSTATE 42P01)\n'
    )


@pytest.mark.postgres
def test_validate_with_dev_url_replays_and_rolls_back(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    good = make_dir({"1_a.sql": "CREATE TABLE a (id int);", "2_b.sql": "INSERT INTO a VALUES (1);"})
    args = ["migrate", "validate", "--dir", str(good), "--dev-url", fresh_database]
    assert run_cli(capsys, *args) == (0, "", "")
    assert tables(fresh_database) == []
    bad = make_dir({"1_a.sql": "CREATE TABLE a (id int);", "2_b.sql": "INSERT INTO b VALUES (1);"})
    args = ["migrate", "validate", "--dir", str(bad), "--dev-url", fresh_database]
    code, _, err = run_cli(capsys, *args)
    assert code == 1
    assert err == (
        "ampdb: error: replaying the migration directory: 2_b.sql: executing statement "
        '"INSERT INTO b VALUES (1);" from version "2": '
        'ERROR: relation "b" does not exist (SQLSTATE 42P01)\n'
    )
    assert tables(fresh_database) == []


def test_new_creates_a_file_and_rehashes(
    make_dir: MakeDir, capsys: pytest.CaptureFixture[str]
) -> None:
    # As Atlas's (cmdapi migrate_test.go TestMigrate_New): silent; <UTC stamp>[_name].sql.
    for name, pattern in (["add_users"], r"\d{14}_add_users\.sql"), ([], r"\d{14}\.sql"):
        directory = make_dir({"1_a.sql": "SELECT 1;"})
        argv = ["migrate", "new", "--dir", f"file://{directory}", *name]
        assert run_cli(capsys, *argv) == (0, "", "")
        (created,) = directory.glob("2*.sql")
        assert re.fullmatch(pattern, created.name)
        assert created.read_bytes() == b""
        assert run_cli(capsys, "migrate", "validate", "--dir", str(directory))[0] == 0


@pytest.mark.postgres
def test_console_script_subprocess(make_dir: MakeDir, fresh_database: str) -> None:
    directory = make_dir({"1_a.sql": "CREATE TABLE a (id int);"})
    env = {**ampdb_env(), "AMPDB_DSN": fresh_database}
    done = subprocess.run(
        [*ampdb_command(), "migrate", "apply", "--dir", str(directory)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert "-- 1 migration\n" in done.stdout
    assert tables(fresh_database) == ["public.a"]

    (directory / "1_a.sql").write_text("changed")
    done = subprocess.run(
        [*ampdb_command(), "migrate", "apply", "--dir", str(directory)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == "ampdb: error: checksum mismatch: L2: 1_a.sql was edited"
    assert "Traceback" not in done.stderr

    done = subprocess.run(
        [*ampdb_command(), "migrate", "apply", "--tx-mode", "nope"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 2
