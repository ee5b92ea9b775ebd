"""``ampdb migrate rebase VERSION...``: a branch's file moved after main's, on a real database."""

from __future__ import annotations

import datetime as dt

import pytest

from pytest_ampdb.migrations import (
    HistoryNonLinearError,
    apply,
    rebase,
    validate_dir,
    write_sum,
)

from ._support import MakeDir, revisions, run_cli, tables

MAIN = {"1_a.sql": "CREATE TABLE a ();", "3_c.sql": "CREATE TABLE c ();"}


@pytest.mark.postgres
def test_rebase_moves_a_branch_file_after_mains_and_it_applies(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir(MAIN)
    apply(fresh_database, directory)  # main's files, deployed
    (directory / "2_b.sql").write_text("CREATE TABLE b ();")  # the branch's file, older version
    write_sum(directory)
    with pytest.raises(HistoryNonLinearError):
        apply(fresh_database, directory)
    common = ["--dir", str(directory), "--url", fresh_database]
    # Small integer versions: a timestamp would sort before "3", so the next number is taken.
    assert run_cli(capsys, "migrate", "rebase", *common, "2") == (0, "2_b.sql -> 4_b.sql\n", "")
    assert sorted(p.name for p in directory.glob("*.sql")) == ["1_a.sql", "3_c.sql", "4_b.sql"]
    validate_dir(directory)  # atlas.sum re-hashed
    assert [f.name for f in apply(fresh_database, directory).applied] == ["4_b.sql"]
    assert tables(fresh_database) == ["public.a", "public.b", "public.c"]


@pytest.mark.postgres
def test_rebase_refuses_a_file_the_database_already_ran(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir({**MAIN, "2_b.sql": "CREATE TABLE b ();"})
    apply(fresh_database, directory)
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    common = ["--dir", str(directory), "--url", fresh_database]
    assert run_cli(capsys, "migrate", "rebase", *common, "2") == (
        1,
        "",
        'ampdb: error: migration file "2_b.sql" was already applied to the database: '
        "rebasing it would run it there a second time\n",
    )
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before
    assert [r["version"] for r in revisions(fresh_database)] == ["1", "2", "3"]


@pytest.mark.parametrize(
    ("versions", "message"),
    [
        ([], "requires at least 1 arg(s), only received 0"),
        (["9"], 'migration with version "9" not found'),
    ],
)
def test_rebase_usage_errors(
    versions: list[str], message: str, make_dir: MakeDir, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir(MAIN)
    argv = ["migrate", "rebase", "--dir", str(directory), *versions]
    assert run_cli(capsys, *argv) == (2, "", f"ampdb: error: {message}\n")


def test_new_versions_come_after_every_file_even_one_dated_in_the_future(
    make_dir: MakeDir,
) -> None:
    directory = make_dir(
        {
            "20260101000000_x.sql": "SELECT 1;",
            "20260102000000_y.sql": "SELECT 2;",
            "20261231235959_main.sql": "SELECT 3;",
        }
    )
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    moved = rebase(directory, ["20260102000000", "20260101000000"], now=now)
    assert [(m.old, m.new) for m in moved] == [
        ("20260101000000_x.sql", "20270101000000_x.sql"),
        ("20260102000000_y.sql", "20270101000001_y.sql"),
    ]
    validate_dir(directory)
