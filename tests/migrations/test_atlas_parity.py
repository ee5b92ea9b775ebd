"""Issue 15: the last differences from Atlas, each reproduced on a real PostgreSQL 15."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_ampdb.migrations import AppliedFileEditedError, apply, status, write_sum

from ._support import MakeDir, revisions, run_cli, tables

pytestmark = pytest.mark.postgres


def _non_linear_history(make_dir: MakeDir, url: str) -> Path:
    """1 and 3 applied, then 2 added (older version), re-hashed and run with non-linear."""
    directory = make_dir({"1_a.sql": "CREATE TABLE a ();", "3_c.sql": "CREATE TABLE c ();"})
    apply(url, directory)
    (directory / "2_b.sql").write_text("CREATE TABLE b ();")
    write_sum(directory)
    report = apply(url, directory, exec_order="non-linear")
    assert [f.name for f in report.applied] == ["2_b.sql"]
    return directory


@pytest.mark.parametrize("exec_order", ["linear", "linear-skip", "non-linear"])
def test_later_applies_carry_on_after_a_non_linear_apply(
    exec_order: str, make_dir: MakeDir, fresh_database: str
) -> None:
    directory = _non_linear_history(make_dir, fresh_database)
    assert apply(fresh_database, directory, exec_order=exec_order).message == (
        "No migration files to execute"
    )
    (directory / "4_d.sql").write_text("CREATE TABLE d ();")
    write_sum(directory)
    report = apply(fresh_database, directory, exec_order=exec_order)
    assert [f.name for f in report.applied] == ["4_d.sql"]
    assert apply(fresh_database, directory, exec_order=exec_order).pending == []
    assert status(fresh_database, directory).state == "OK"
    assert tables(fresh_database) == ["public.a", "public.b", "public.c", "public.d"]


def test_an_edit_is_still_caught_after_a_non_linear_apply(
    make_dir: MakeDir, fresh_database: str
) -> None:
    directory = _non_linear_history(make_dir, fresh_database)
    (directory / "3_c.sql").write_text("CREATE TABLE c ();\nCREATE TABLE z ();")
    (directory / "4_d.sql").write_text("CREATE TABLE d ();")
    write_sum(directory)
    with pytest.raises(AppliedFileEditedError, match=r'^migration file "3_c\.sql" was edited'):
        apply(fresh_database, directory)
    assert [r["version"] for r in revisions(fresh_database)] == ["1", "2", "3"]


def test_a_file_skipped_for_good_does_not_make_later_ones_look_edited(
    make_dir: MakeDir, fresh_database: str
) -> None:
    directory = make_dir({"1_a.sql": "CREATE TABLE a ();", "3_c.sql": "CREATE TABLE c ();"})
    apply(fresh_database, directory)
    (directory / "2_b.sql").write_text("CREATE TABLE b ();")
    (directory / "4_d.sql").write_text("CREATE TABLE d ();")
    write_sum(directory)
    assert [f.name for f in apply(fresh_database, directory, exec_order="linear-skip").applied] == [
        "4_d.sql"
    ]
    (directory / "5_e.sql").write_text("CREATE TABLE e ();")
    write_sum(directory)
    applied = apply(fresh_database, directory, exec_order="linear-skip").applied
    assert [f.name for f in applied] == ["5_e.sql"]


def test_cli_non_linear_then_nothing_to_execute(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = _non_linear_history(make_dir, fresh_database)
    code, out, err = run_cli(
        capsys, "migrate", "apply", "--dir", str(directory), "--url", fresh_database
    )
    assert (code, out, err) == (0, "No migration files to execute\n", "")
