"""Issue 15: the last differences from Atlas, each reproduced on a real PostgreSQL 15."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_ampdb.migrations import (
    AppliedFileEditedError,
    DirectiveError,
    HistoryNonLinearError,
    MigrationError,
    MigrationFile,
    Revision,
    StatementError,
    apply,
    status,
    write_sum,
)
from pytest_ampdb.migrations.plan import compute_plan

from ._atlas_source import atlas_copy
from ._support import MakeDir, query, revisions, run_cli, tables

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


# -- 2. migrate set -----------------------------------------------------------------------------

THREE = {"1_a.sql": "CREATE TABLE a ();", "2_b.sql": "CREATE TABLE b ();", "3_c.sql": ""}


def test_set_without_a_version_on_a_database_without_revisions_is_refused(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir(THREE)
    common = ["--dir", str(directory), "--url", fresh_database]
    assert run_cli(capsys, "migrate", "set", *common) == (
        2,
        "",
        "ampdb: error: accepts 1 arg(s), received 0\n",
    )
    assert revisions(fresh_database) == []
    assert run_cli(capsys, "migrate", "set", *common, "1", "2") == (
        2,
        "",
        "ampdb: error: accepts 1 arg(s), received 2\n",
    )


def test_set_without_a_version_syncs_to_the_last_file_or_deletes_everything(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir(THREE)
    common = ["--url", fresh_database]
    assert main_ok(capsys, "migrate", "apply", "--dir", str(directory), *common, "1")
    code, out, err = run_cli(capsys, "migrate", "set", "--dir", str(directory), *common)
    assert (code, err) == (0, "")
    assert out == "Current version is 3 (2 set):\n\n  + 2 (b)\n  + 3 (c)\n\n"
    empty = make_dir({})
    code, out, err = run_cli(capsys, "migrate", "set", "--dir", str(empty), *common)
    assert (code, err) == (0, "")
    assert out == "All revisions deleted (3 in total):\n\n  - 1 (a)\n  - 2 (b)\n  - 3 (c)\n\n"
    assert revisions(fresh_database) == []


def main_ok(capsys: pytest.CaptureFixture[str], *argv: str) -> bool:
    code, _, err = run_cli(capsys, *argv)
    return (code, err) == (0, "")


# -- 3 and 5. apply's usage errors, in Atlas's words ------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["0"], "cannot apply '0' migration files"),
        (["--", "-2"], "cannot apply '-2' migration files"),
        (
            ["two"],
            'invalid amount argument "two" (invalid syntax). '
            "Omit the argument or pass a valid integer instead",
        ),
        (
            ["99999999999999999999"],
            'invalid amount argument "99999999999999999999" (value out of range). '
            "Omit the argument or pass a valid integer instead",
        ),
        (["1", "2"], "accepts at most 1 arg(s), received 2"),
        (["--tx-mode", "bogus"], 'unknown tx-mode "bogus"'),
        (["--exec-order", "sideways"], 'unknown execution order: "sideways"'),
    ],
)
def test_apply_usage_errors_in_atlas_words(
    extra: list[str],
    message: str,
    make_dir: MakeDir,
    fresh_database: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    directory = make_dir(THREE)
    argv = ["migrate", "apply", "--dir", str(directory), "--url", fresh_database, *extra]
    assert run_cli(capsys, *argv) == (2, "", f"ampdb: error: {message}\n")
    assert tables(fresh_database) == []
    assert revisions_table_absent(fresh_database)


def revisions_table_absent(url: str) -> bool:
    rows = query(url, "SELECT to_regclass('atlas_schema_revisions.atlas_schema_revisions')")
    return rows == [(None,)]


# -- 4. directives ------------------------------------------------------------------------------


def test_a_file_holding_only_a_directive_keeps_it(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir({"1_a.sql": "CREATE TABLE a ();", "2_b.sql": "-- atlas:txmode bogus\n"})
    code, out, err = run_cli(
        capsys, "migrate", "apply", "--dir", str(directory), "--url", fresh_database
    )
    assert (code, out) == (1, "")
    assert err == 'ampdb: error: unknown txmode "bogus" found in file directive "2_b.sql"\n'
    assert tables(fresh_database) == []
    directory = make_dir({"1_a.sql": "CREATE TABLE a ();", "2_b.sql": "-- atlas:txmode none\n"})
    with pytest.raises(DirectiveError, match=r'cannot set txmode directive to "none"'):
        apply(fresh_database, directory, tx_mode="all")


@pytest.mark.parametrize("separator", [" ", "\t", " \t  "])
def test_a_blank_line_of_spaces_or_tabs_still_ends_the_header(
    separator: str, make_dir: MakeDir, fresh_database: str
) -> None:
    directory = make_dir(
        {
            "1_t.sql": "CREATE TABLE t (a int);",
            "2_i.sql": f"-- atlas:txmode none\n{separator}\nCREATE INDEX CONCURRENTLY i ON t (a);",
        }
    )
    apply(fresh_database, directory)  # CONCURRENTLY fails inside a transaction
    assert query(fresh_database, "SELECT indexname FROM pg_indexes WHERE tablename = 't'") == [
        ("i",)
    ]


# -- 5. output as Atlas writes it ---------------------------------------------------------------


def test_a_missing_atlas_sum_is_reported_before_a_missing_url(
    make_dir: MakeDir, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AMPDB_DSN", raising=False)
    monkeypatch.delenv("DB_DSN", raising=False)
    directory = make_dir({"1_a.sql": "SELECT 1;"}, hashed=False)
    for command in ("status", "apply", "set"):
        assert run_cli(capsys, "migrate", command, "--dir", str(directory)) == (
            1,
            "You have a checksum error in your migration directory.\n"
            f"Please check your migration files and run 'ampdb migrate hash --dir {directory}' "
            "to re-hash the contents\n\n",
            "ampdb: error: checksum file not found\n",
        )


def test_failure_summary_singulars_and_plurals(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir(
        {
            "1_a.sql": "CREATE TABLE a ();",
            "2_b.sql": "CREATE TABLE b ();\nCREATE TABLE c (\n  id int\n);\nSELECT nope;",
        }
    )
    code, out, _ = run_cli(
        capsys,
        "migrate",
        "apply",
        "--dir",
        str(directory),
        "--url",
        fresh_database,
        "--tx-mode",
        "none",
    )
    assert code == 1
    lines = out.splitlines()
    assert lines[:8] == [
        "Migrating to version 2 (2 migrations in total):",
        "",
        "  -- migrating version 1",
        "    -> CREATE TABLE a ();",
        lines[4],
        "",
        "  -- migrating version 2",
        "    -> CREATE TABLE b ();",
    ]
    assert lines[8:12] == [
        "    -> CREATE TABLE c (",
        "         id int",
        "       );",
        "    -> SELECT nope;",
    ]
    assert lines[-2:] == [
        "  -- 1 migration ok, 1 with errors",
        "  -- 3 sql statements ok, 1 with errors",
    ]


def test_baseline_header_says_from_the_baseline(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    query(fresh_database, "CREATE TABLE a ()")
    directory = make_dir(THREE)
    argv = ["migrate", "apply", "--dir", str(directory), "--url", fresh_database]
    code, out, _ = run_cli(capsys, *argv, "--baseline", "1")
    assert code == 0
    assert out.splitlines()[0] == "Migrating to version 3 from 1 (2 migrations in total):"
    assert out.splitlines()[-2:] == ["  -- 2 migrations", "  -- 1 sql statement"]


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        ("new", ["a", "b"], "accepts at most 1 arg(s), received 2"),
        ("set", ["1", "2"], "accepts 1 arg(s), received 2"),
    ],
)
def test_wrong_number_of_arguments_in_cobra_s_words(
    command: str,
    args: list[str],
    message: str,
    make_dir: MakeDir,
    capsys: pytest.CaptureFixture[str],
) -> None:
    directory = make_dir(THREE)
    before = sorted(p.name for p in directory.iterdir())
    argv = ["migrate", command, "--dir", str(directory), *args]
    assert run_cli(capsys, *argv) == (2, "", f"ampdb: error: {message}\n")
    assert sorted(p.name for p in directory.iterdir()) == before


# -- 6. Atlas's cmd/atlas/internal/cmdapi/migrate_test.go, on ampdb ------------------------------


def test_hash_force_is_deprecated_not_refused(
    make_dir: MakeDir, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir({"1_a.sql": "SELECT 1;"}, hashed=False)
    assert run_cli(capsys, "migrate", "hash", "--dir", f"file://{directory}", "--force") == (
        0,
        "",
        "Flag --force has been deprecated, you can safely omit it.\n",
    )
    assert run_cli(capsys, "migrate", "validate", "--dir", str(directory)) == (0, "", "")


def test_lint_of_an_empty_directory_prints_nothing(
    make_dir: MakeDir, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir({}, hashed=False)  # no atlas.sum either: lint does not need one
    argv = ["migrate", "lint", "--dir", f"file://{directory}", "--latest", "1"]
    assert run_cli(capsys, *argv) == (0, "", "")


def test_validate_names_the_added_file_and_its_line(
    make_dir: MakeDir, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir({"1_initial.sql": "create table t1 (c1 int)"}, hashed=False)
    code, out, err = run_cli(capsys, "migrate", "validate", "--dir", f"file://{directory}")
    assert (code, err) == (1, "ampdb: error: checksum file not found\n")
    assert out.startswith("You have a checksum error")
    write_sum(directory)
    (directory / "2_second.sql").write_text("create table t2 (c2 int)")
    code, out, err = run_cli(capsys, "migrate", "validate", "--dir", f"file://{directory}")
    assert (code, err) == (1, "ampdb: error: checksum mismatch: L3: 2_second.sql was added\n")
    assert "\tL3: 2_second.sql was added\n" in out


@pytest.mark.postgres
@pytest.mark.atlas_source
def test_set_reports_as_atlas_s_on_its_own_directories(
    tmp_path: Path, fresh_database: str, other_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # cmdapi migrate_test.go TestMigrate_Set on its testdata/sqlite and baseline1 (SQLite's SQL:
    # set runs none of it; Atlas's first step, an apply, is a set to the last version here).
    sqlite = atlas_copy("cmd/atlas/internal/cmdapi/testdata/sqlite", tmp_path)
    baseline = atlas_copy("cmd/atlas/internal/cmdapi/testdata/baseline1", tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()

    def set_(directory: Path, url: str, *version: str) -> tuple[int, str, str]:
        return run_cli(
            capsys, "migrate", "set", "--dir", f"file://{directory}", "-u", url, *version
        )

    assert set_(sqlite, fresh_database, "20220318104615")[0] == 0
    assert set_(sqlite, fresh_database, "20220318104614") == (
        0,
        "Current version is 20220318104614 (1 removed):\n\n  - 20220318104615 (second)\n\n",
        "",
    )
    assert set_(sqlite, fresh_database, "20220318104615") == (
        0,
        "Current version is 20220318104615 (1 set):\n\n  + 20220318104615 (second)\n\n",
        "",
    )
    assert set_(baseline, fresh_database) == (
        0,
        "Current version is 1 (1 set, 2 removed):\n\n  + 1 (baseline)\n"
        "  - 20220318104614 (initial)\n  - 20220318104615 (second)\n\n",
        "",
    )
    assert set_(empty, fresh_database) == (
        0,
        "All revisions deleted (1 in total):\n\n  - 1 (baseline)\n\n",
        "",
    )
    assert set_(sqlite, other_database) == (2, "", "ampdb: error: accepts 1 arg(s), received 0\n")
    assert set_(sqlite, other_database, "20220318104614") == (
        0,
        "Current version is 20220318104614 (1 set):\n\n  + 20220318104614 (initial)\n\n",
        "",
    )


@pytest.mark.postgres
@pytest.mark.atlas_source
def test_baseline_as_atlas_s_on_its_own_directories(
    tmp_path: Path, fresh_database: str, other_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # cmdapi migrate_test.go TestMigrate_ApplyBaseline "FromFlags" on testdata/baseline1 and 2
    # (SQLite's SQL: what would run it is a dry run here; the headers are Atlas's).
    one = atlas_copy("cmd/atlas/internal/cmdapi/testdata/baseline1", tmp_path)
    two = atlas_copy("cmd/atlas/internal/cmdapi/testdata/baseline2", tmp_path)

    def apply_(directory: Path, url: str, *flags: str) -> str:
        argv = ["migrate", "apply", "--dir", f"file://{directory}", "--url", url, *flags]
        code, out, err = run_cli(capsys, *argv)
        assert (code, err) == (0, "")
        return out

    assert apply_(one, fresh_database, "--baseline", "1") == "No migration files to execute\n"
    assert apply_(one, fresh_database) == "No migration files to execute\n"
    # A second database (Atlas's test2.db and test3.db): dry runs write nothing.
    out = apply_(two, other_database, "--baseline", "1", "--dry-run")
    assert out.startswith("Migrating to version 20220318104615 from 1 (2 migrations in total):\n")
    out = apply_(two, other_database, "--dry-run")
    assert out.startswith("Migrating to version 20220318104615 (3 migrations in total):\n")


# -- 7. Atlas's sql/migrate/migrate_test.go TestExecutor_ExecOrderLinear, on the plan -------------

_NON_LINEAR = " added out of order. See: https://atlasgo.io/versioned/apply#non-linear-error"
_ONE_TWO_THREE = [Revision("1", ""), Revision("2", ""), Revision("3", "")]


@pytest.mark.parametrize(
    ("order", "names", "revs", "pending", "error"),
    [
        ("linear", [], _ONE_TWO_THREE, [], None),
        ("linear", ["1", "2", "3"], _ONE_TWO_THREE, [], None),
        ("linear", ["1", "2", "2.5", "3"], _ONE_TWO_THREE, [], "migration file 2.5.sql was"),
        (
            "linear",
            ["1", "2", "2.5", "2.6", "3"],
            _ONE_TWO_THREE,
            [],
            "migration files 2.5.sql, 2.6.sql were",
        ),
        # The first file ran as a checkpoint: 1.sql is neither pending nor skipped.
        ("linear", ["1", "2_checkpoint", "3"], _ONE_TWO_THREE[1:], [], None),
        (
            "linear",
            ["1", "2_checkpoint", "2.5", "3"],
            _ONE_TWO_THREE[1:],
            [],
            "migration file 2.5.sql was",
        ),
        ("linear-skip", [], _ONE_TWO_THREE, [], None),
        ("linear-skip", ["1", "2", "3"], _ONE_TWO_THREE, [], None),
        ("linear-skip", ["1", "2", "2.5", "3"], _ONE_TWO_THREE, [], None),
        ("linear-skip", ["1", "2", "2.5", "2.6", "3"], _ONE_TWO_THREE, [], None),
        ("non-linear", [], _ONE_TWO_THREE, [], None),
        ("non-linear", ["1", "2", "3"], _ONE_TWO_THREE, [], None),
        ("non-linear", ["1", "2", "2.5", "3"], _ONE_TWO_THREE, ["2.5"], None),
        (
            "non-linear",
            ["1", "2", "2.5", "2.6", "3", "4"],
            _ONE_TWO_THREE,
            ["2.5", "2.6", "4"],
            None,
        ),
    ],
)
def test_pending_files_under_each_execution_order_as_atlas(
    order: str, names: list[str], revs: list[Revision], pending: list[str], error: str | None
) -> None:
    files = [MigrationFile(f"{n}.sql", b"") for n in names]  # empty files, as Atlas's test
    if error is not None:
        with pytest.raises(HistoryNonLinearError) as info:
            compute_plan(files, revs, exec_order=order)
        assert str(info.value) == error + _NON_LINEAR
        return
    plan = compute_plan(files, revs, exec_order=order)
    assert [f.name.removesuffix(".sql") for f in plan.pending] == pending


# -- 8. Atlas's sql/migrate/migrate_test.go TestExecutor, on PostgreSQL ---------------------------


@pytest.mark.postgres
@pytest.mark.atlas_source
def test_executor_on_atlas_s_sub_directory(tmp_path: Path, fresh_database: str) -> None:
    """Its testdata/migrate/sub: the revisions Atlas records (hashes included), a file that fails
    on its second statement, resumed where it stopped, and refused once its applied part
    changed. Atlas fails the statement with a mock driver; here PostgreSQL does (the column
    exists already)."""
    directory = atlas_copy("sql/migrate/testdata/migrate/sub", tmp_path)
    apply(fresh_database, directory, count=2)
    rows = revisions(fresh_database)
    assert [
        (r["version"], r["description"], r["type"], r["applied"], r["total"]) for r in rows
    ] == [
        ("1.a", "sub.up", 2, 2, 2),
        ("2.10.x-20", "description", 2, 1, 1),
    ]
    assert [r["hash"] for r in rows] == [
        "nXyZR020M/mH7LxkoTkJr7BcQkipVg90imQ9I4595dw=",
        "wQB3Vh3PHVXQg9OD3Gn7TBxbZN3r1Qb7TtAE1g3q9mQ=",
    ]
    assert status(fresh_database, directory).pending == ["3_partly.sql"]

    query(fresh_database, "ALTER TABLE t_sub ADD c4 int")
    with pytest.raises(StatementError, match='column "c4" of relation "t_sub" already exists'):
        apply(fresh_database, directory, tx_mode="none")
    last = revisions(fresh_database)[-1]
    assert (last["version"], last["description"], last["applied"], last["total"]) == (
        "3",
        "partly",
        1,
        2,
    )
    assert last["error_stmt"] == "ALTER TABLE t_sub ADD c4 int;"
    assert 'column "c4" of relation "t_sub" already exists' in str(last["error"])

    # The applied part edited: refused, as Atlas's HistoryChangedError.
    kept = {n: (directory / n).read_bytes() for n in ("3_partly.sql", "atlas.sum")}
    (directory / "3_partly.sql").write_text(
        "-- add c3 column\nALTER TABLE t_sub ADD c3 bigint;\n-- add c4 column\n"
        "ALTER TABLE t_sub ADD c4 int;\n"
    )
    write_sum(directory)
    with pytest.raises(MigrationError, match=r'^history changed: statement 1 from file "3_partly'):
        apply(fresh_database, directory)
    for name, content in kept.items():
        (directory / name).write_bytes(content)

    # Resumed where it stopped: only the failed statement runs, the error is cleared.
    query(fresh_database, "ALTER TABLE t_sub DROP COLUMN c4")
    report = apply(fresh_database, directory)
    assert [f.statements for f in report.applied] == [["ALTER TABLE t_sub ADD c4 int;"]]
    last = revisions(fresh_database)[-1]
    assert (last["applied"], last["total"], last["error"], last["error_stmt"]) == (2, 2, "", "")
    assert last["partial_hashes"] is None
    assert apply(fresh_database, directory).pending == []
