"""Directories that look valid but are not: refused with one line naming the files at fault."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_ampdb.cli import main
from pytest_ampdb.migrations import DirectoryError, new_file, validate_dir

from ._support import MakeDir, revisions, run_cli, tables


@pytest.mark.postgres
@pytest.mark.parametrize("command", ["validate", "status", "apply"])
def test_two_files_with_one_version_are_refused(
    command: str, make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir(
        {"1_a.sql": "CREATE TABLE a (id int);", "2_b.sql": "CREATE TABLE b ();", "2_c.sql": ""}
    )
    url = [] if command == "validate" else ["--url", fresh_database]
    code, out, err = run_cli(capsys, "migrate", command, "--dir", str(directory), *url)
    assert (code, out, err) == (
        1,
        "",
        "ampdb: error: migration files 2_b.sql and 2_c.sql have the same version 2: rename one "
        f"of them and run 'ampdb migrate hash --dir {directory}' to re-hash the contents\n",
    )
    assert tables(fresh_database) == []


def test_a_dangling_symlink_named_like_a_migration_is_refused(
    make_dir: MakeDir, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir({"1_a.sql": "CREATE TABLE a (id int);"})
    os.symlink(directory / "gone.sql.orig", directory / "2_b.sql")
    sum_before = (directory / "atlas.sum").read_bytes()
    for command in ("validate", "hash"):
        code, out, err = run_cli(capsys, "migrate", command, "--dir", str(directory))
        assert (code, out) == (1, "")
        assert err == (
            f"ampdb: error: migration file 2_b.sql is a dangling symlink (to "
            f"{directory / 'gone.sql.orig'}): restore its target or remove the link\n"
        )
    assert (directory / "atlas.sum").read_bytes() == sum_before


def test_a_symlink_to_a_real_file_is_a_migration(make_dir: MakeDir, tmp_path: Path) -> None:
    directory = make_dir({"1_a.sql": "SELECT 1;"})
    target = tmp_path / "elsewhere.sql"
    target.write_text("SELECT 2;")
    os.symlink(target, directory / "2_b.sql")
    assert main(["migrate", "hash", "--dir", str(directory)]) == 0
    assert b"2_b.sql h1:" in (directory / "atlas.sum").read_bytes()


@pytest.mark.postgres
def test_status_reports_applied_revisions_the_directory_lacks(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {"1_a.sql": "CREATE TABLE a ();", "2_b.sql": "CREATE TABLE b ();"}
    full = make_dir({**files, "3_c.sql": "CREATE TABLE c ();"})
    assert main(["migrate", "apply", "--dir", str(full), "--url", fresh_database]) == 0
    capsys.readouterr()
    older = make_dir({"1_a.sql": files["1_a.sql"]})  # a checkout that lacks 2 and 3
    code, out, err = run_cli(
        capsys, "migrate", "status", "--dir", str(older), "--url", fresh_database
    )
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "Migration Status: MISSING",
        "  -- Current Version: 3",
        "  -- Next Version:    Already at latest version",
        "  -- Executed Files:  3",
        "  -- Pending Files:   0",
        "",
        '  ERROR: missing migration: revisions "2_b.sql", "3_c.sql" were applied to the '
        "database but the migration directory has no such file",
    ]
    assert [r["version"] for r in revisions(fresh_database)] == ["1", "2", "3"]


def test_validate_dir_refuses_one_version_twice_before_anything_runs(make_dir: MakeDir) -> None:
    # refresh-db and migrate new check with validate_dir before they drop or write anything.
    directory = make_dir({"1_a.sql": "SELECT 1;", "1_b.sql": "SELECT 2;"})
    with pytest.raises(DirectoryError, match=r"^migration files 1_a\.sql and 1_b\.sql have"):
        validate_dir(directory)
    with pytest.raises(DirectoryError, match="have the same version 1"):
        new_file(directory, "next")
    assert sorted(p.name for p in directory.iterdir()) == ["1_a.sql", "1_b.sql", "atlas.sum"]
