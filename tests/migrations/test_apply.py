"""``apply``, ``status`` and ``set`` against a real PostgreSQL 15, with Atlas's semantics."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from pytest_ampdb.migrations import (
    AppliedFileEditedError,
    HistoryChangedError,
    HistoryNonLinearError,
    LockTimeoutError,
    MissingMigrationError,
    NotCleanError,
    StatementError,
    UsageError,
    apply,
    set_revision,
    status,
    write_sum,
)
from pytest_ampdb.migrations.revisions import LOCK_KEY

from ._support import MakeDir, query, revisions, tables

pytestmark = pytest.mark.postgres

FAILING = {
    "1_first.sql": "CREATE TABLE first (id int);\n",
    "2_second.sql": (
        "CREATE TABLE a (id int);\n"
        "CREATE TABLE b (id int);\n"
        "INSERT INTO missing VALUES (1);\n"
        "CREATE TABLE c (id int);\n"
    ),
}


def test_revisions_table_has_atlas_columns(fresh_database: str, make_dir: MakeDir) -> None:
    apply(fresh_database, make_dir({"1_a.sql": "CREATE TABLE a (id int);"}))
    cols = query(
        fresh_database,
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = 'atlas_schema_revisions' AND table_name = 'atlas_schema_revisions' "
        "ORDER BY ordinal_position",
    )
    assert cols == [
        ("version", "character varying", "NO"),
        ("description", "character varying", "NO"),
        ("type", "bigint", "NO"),
        ("applied", "bigint", "NO"),
        ("total", "bigint", "NO"),
        ("executed_at", "timestamp with time zone", "NO"),
        ("execution_time", "bigint", "NO"),
        ("error", "text", "YES"),
        ("error_stmt", "text", "YES"),
        ("hash", "character varying", "NO"),
        ("partial_hashes", "jsonb", "YES"),
        ("operator_version", "character varying", "NO"),
    ]
    (row,) = revisions(fresh_database)
    assert (row["version"], row["description"], row["type"]) == ("1", "a", 2)
    assert (row["applied"], row["total"], row["error"], row["partial_hashes"]) == (1, 1, "", None)
    assert isinstance(row["execution_time"], int)
    assert row["execution_time"] >= 0


def test_dollar_quoted_functions_apply_and_run(fresh_database: str, make_dir: MakeDir) -> None:
    directory = make_dir(
        {
            "1_fn.sql": (
                "CREATE FUNCTION add_one(x int) RETURNS int LANGUAGE plpgsql AS $$\n"
                "BEGIN\n  RETURN x + 1; -- a ; inside\nEND;\n$$;\n"
                "CREATE FUNCTION greet() RETURNS text LANGUAGE sql\n"
                "AS $body$ SELECT 'hi;$$' $body$;\n"
                "DO $$ BEGIN PERFORM add_one(1); END $$;\n"
            )
        }
    )
    report = apply(fresh_database, directory)
    assert [len(f.statements) for f in report.applied] == [3]
    assert query(fresh_database, "SELECT add_one(41), greet()") == [(42, "hi;$$")]


def test_begin_atomic_function(fresh_database: str, make_dir: MakeDir) -> None:
    directory = make_dir(
        {
            "1_t.sql": "CREATE TABLE t (v int);\nINSERT INTO t VALUES (1);\n",
            "2_atomic.sql": (
                "CREATE FUNCTION bump() RETURNS int LANGUAGE SQL\nBEGIN ATOMIC\n"
                "  UPDATE t SET v = v + 1;\n  SELECT v FROM t;\nEND;\n"
                "SELECT bump();\n"
            ),
        }
    )
    report = apply(fresh_database, directory)
    assert [len(f.statements) for f in report.applied] == [2, 2]
    assert query(fresh_database, "SELECT v FROM t") == [(2,)]
    assert [(r["applied"], r["total"]) for r in revisions(fresh_database)] == [(2, 2), (2, 2)]


def test_txmode_none_runs_create_index_concurrently(fresh_database: str, make_dir: MakeDir) -> None:
    directory = make_dir(
        {
            "1_t.sql": "CREATE TABLE t (a int);\n",
            "2_idx.sql": "-- atlas:txmode none\n\nCREATE INDEX CONCURRENTLY t_a ON t (a);\n",
        }
    )
    apply(fresh_database, directory)
    assert query(fresh_database, "SELECT indexname FROM pg_indexes WHERE tablename = 't'") == [
        ("t_a",)
    ]


def test_txmode_directive_right_above_the_statement_is_ignored(
    fresh_database: str, make_dir: MakeDir
) -> None:
    directory = make_dir(
        {
            "1_t.sql": "CREATE TABLE t (a int);\n",
            "2_idx.sql": "-- atlas:txmode none\nCREATE INDEX CONCURRENTLY t_a ON t (a);\n",
        }
    )
    with pytest.raises(StatementError) as info:
        apply(fresh_database, directory)
    assert "cannot run inside a transaction block" in str(info.value)
    assert [r["version"] for r in revisions(fresh_database)] == ["1"]


def test_failure_under_file_mode_leaves_no_trace_of_the_file(
    fresh_database: str, make_dir: MakeDir
) -> None:
    directory = make_dir(FAILING)
    with pytest.raises(StatementError) as info:
        apply(fresh_database, directory, tx_mode="file")
    assert str(info.value) == (
        'executing statement "INSERT INTO missing VALUES (1);" from version "2": '
        'ERROR: relation "missing" does not exist (SQLSTATE 42P01)'
    )
    assert info.value.report.applied[-1].statements == [
        "CREATE TABLE a (id int);",
        "CREATE TABLE b (id int);",
    ]
    assert tables(fresh_database) == ["public.first"]
    assert [r["version"] for r in revisions(fresh_database)] == ["1"]


def test_failure_under_all_mode_leaves_nothing(fresh_database: str, make_dir: MakeDir) -> None:
    with pytest.raises(StatementError):
        apply(fresh_database, make_dir(FAILING), tx_mode="all")
    assert tables(fresh_database) == []
    assert revisions(fresh_database) == []


def test_failure_under_none_mode_leaves_a_partial_row(
    fresh_database: str, make_dir: MakeDir
) -> None:
    directory = make_dir(FAILING)
    with pytest.raises(StatementError):
        apply(fresh_database, directory, tx_mode="none")
    assert tables(fresh_database) == ["public.a", "public.b", "public.first"]
    row = revisions(fresh_database)[-1]
    assert (row["version"], row["applied"], row["total"]) == ("2", 2, 4)
    assert row["error_stmt"] == "INSERT INTO missing VALUES (1);"
    assert row["error"] == 'ERROR: relation "missing" does not exist (SQLSTATE 42P01)'
    hashes = row["partial_hashes"]
    assert isinstance(hashes, list)
    assert len(hashes) == 2
    assert all(h.startswith("h1:") for h in hashes)

    st = status(fresh_database, directory)
    assert (st.state, st.current, st.next) == ("PENDING", "2", "2")
    assert (st.applied_statements, st.total_statements) == (2, 4)
    text = st.render()
    assert "  -- Current Version: 2 (2 statements applied)" in text
    assert "  -- Next Version:    2 (2 statements left)" in text
    assert "  -- Executed Files:  2 (last one partially)" in text
    assert "  -- SQL:   INSERT INTO missing VALUES (1);" in text

    # Fix the third statement: the resume runs statements 3 and 4 only.
    fixed = FAILING["2_second.sql"].replace("INSERT INTO missing", "INSERT INTO a")
    (directory / "2_second.sql").write_text(fixed)
    write_sum(directory)
    report = apply(fresh_database, directory, tx_mode="none")
    assert report.applied[0].skipped == 2
    assert report.applied[0].statements == ["INSERT INTO a VALUES (1);", "CREATE TABLE c (id int);"]
    row = revisions(fresh_database)[-1]
    assert (row["applied"], row["total"], row["partial_hashes"], row["error"]) == (4, 4, None, "")
    assert tables(fresh_database) == ["public.a", "public.b", "public.c", "public.first"]
    assert status(fresh_database, directory).state == "OK"


@pytest.mark.parametrize("mode", ["file", "all"])
def test_fixed_file_applies_whole_after_a_transactional_failure(
    fresh_database: str, make_dir: MakeDir, mode: str
) -> None:
    directory = make_dir(FAILING)
    with pytest.raises(StatementError):
        apply(fresh_database, directory, tx_mode=mode)
    (directory / "2_second.sql").write_text(
        FAILING["2_second.sql"].replace("INSERT INTO missing", "INSERT INTO a")
    )
    write_sum(directory)
    report = apply(fresh_database, directory, tx_mode=mode)
    expected = ["2_second.sql"] if mode == "file" else ["1_first.sql", "2_second.sql"]
    assert [f.name for f in report.applied] == expected
    assert [f.skipped for f in report.applied] == [0] * len(expected)
    rows = revisions(fresh_database)
    assert [(r["version"], r["applied"], r["total"]) for r in rows] == [("1", 1, 1), ("2", 4, 4)]
    assert query(fresh_database, "SELECT count(*) FROM a") == [(1,)]


@pytest.mark.parametrize("resume_mode", ["file", "none"])
def test_resume_checks_partial_hashes(
    fresh_database: str, make_dir: MakeDir, resume_mode: str
) -> None:
    directory = make_dir(FAILING)
    with pytest.raises(StatementError):
        apply(fresh_database, directory, tx_mode="none")
    edited = FAILING["2_second.sql"].replace("CREATE TABLE a", "CREATE TABLE aa")
    (directory / "2_second.sql").write_text(edited)
    write_sum(directory)
    with pytest.raises(HistoryChangedError) as info:
        apply(fresh_database, directory, tx_mode=resume_mode)
    assert str(info.value) == 'history changed: statement 1 from file "2_second.sql" changed'
    assert revisions(fresh_database)[-1]["applied"] == 2


def test_resume_under_file_mode_runs_the_rest_in_a_transaction(
    fresh_database: str, make_dir: MakeDir
) -> None:
    directory = make_dir(FAILING)
    with pytest.raises(StatementError):
        apply(fresh_database, directory, tx_mode="none")
    (directory / "2_second.sql").write_text(
        FAILING["2_second.sql"].replace("INSERT INTO missing", "INSERT INTO b")
    )
    write_sum(directory)
    report = apply(fresh_database, directory)
    assert report.applied[0].skipped == 2
    assert revisions(fresh_database)[-1]["applied"] == 4


def test_statements_run_one_by_one_when_a_file_changes_lexing(
    fresh_database: str, make_dir: MakeDir
) -> None:
    # PostgreSQL lexes a multi-statement query string before running it; a file that turns off
    # standard_conforming_strings must see it applied to its next statement, as Atlas does.
    directory = make_dir(
        {
            "1_lex.sql": (
                "SET standard_conforming_strings = off;\n"
                "CREATE TABLE q AS SELECT 'a\\\\b'::text AS v;\n"
                "RESET standard_conforming_strings;\n"
            )
        }
    )
    apply(fresh_database, directory)
    assert query(fresh_database, "SELECT v FROM q") == [("a\\b",)]


def test_an_edited_fully_applied_file_is_refused(fresh_database: str, make_dir: MakeDir) -> None:
    # Atlas skips an edited, complete file silently (it only checks partially applied ones);
    # ampdb refuses on purpose: re-hashing atlas.sum hid an edit the database never saw.
    directory = make_dir({"1_a.sql": "CREATE TABLE a (id int);", "2_b.sql": "CREATE TABLE b ();"})
    apply(fresh_database, directory)
    (directory / "1_a.sql").write_text("CREATE TABLE a (id int);\nCREATE TABLE z (id int);")
    (directory / "3_c.sql").write_text("CREATE TABLE c ();")
    write_sum(directory)
    with pytest.raises(AppliedFileEditedError) as info:
        apply(fresh_database, directory)
    assert str(info.value).startswith('migration file "1_a.sql" was edited after it was applied')
    assert tables(fresh_database) == ["public.a", "public.b"]  # 3_c.sql did not run either


def _out_of_order_dir(make_dir: MakeDir, fresh_database: str) -> Path:
    directory = make_dir({"1_a.sql": "CREATE TABLE a (id int);", "3_c.sql": "CREATE TABLE c ();"})
    apply(fresh_database, directory)
    (directory / "2_b.sql").write_text("CREATE TABLE b (id int);")
    (directory / "4_d.sql").write_text("CREATE TABLE d (id int);")
    write_sum(directory)
    return directory


def test_out_of_order_linear_fails(fresh_database: str, make_dir: MakeDir) -> None:
    directory = _out_of_order_dir(make_dir, fresh_database)
    with pytest.raises(HistoryNonLinearError) as info:
        apply(fresh_database, directory)
    assert str(info.value) == (
        "migration file 2_b.sql was added out of order. "
        "See: https://atlasgo.io/versioned/apply#non-linear-error"
    )
    assert tables(fresh_database) == ["public.a", "public.c"]
    st = status(fresh_database, directory)
    assert (st.state, st.next, st.out_of_order) == ("PENDING", "UNKNOWN", ["2_b.sql"])
    assert "migration file 2_b.sql was added out of order" in st.render()


def test_out_of_order_linear_skip_ignores_it(fresh_database: str, make_dir: MakeDir) -> None:
    directory = _out_of_order_dir(make_dir, fresh_database)
    report = apply(fresh_database, directory, exec_order="linear-skip")
    assert [f.name for f in report.applied] == ["4_d.sql"]
    assert "public.b" not in tables(fresh_database)
    assert [r["version"] for r in revisions(fresh_database)] == ["1", "3", "4"]


def test_out_of_order_non_linear_applies_it_first(fresh_database: str, make_dir: MakeDir) -> None:
    directory = _out_of_order_dir(make_dir, fresh_database)
    report = apply(fresh_database, directory, exec_order="non-linear")
    assert [f.name for f in report.applied] == ["2_b.sql", "4_d.sql"]
    assert [r["version"] for r in revisions(fresh_database)] == ["1", "2", "3", "4"]


def test_dirty_database_needs_baseline_or_allow_dirty(
    fresh_database: str, make_dir: MakeDir
) -> None:
    query(fresh_database, "CREATE TABLE legacy (id int)")
    directory = make_dir(
        {
            "1_a.sql": "CREATE TABLE a (id int);",
            "2_b.sql": "CREATE TABLE b (id int);",
            "3_c.sql": "CREATE TABLE c (id int);",
        }
    )
    with pytest.raises(NotCleanError) as info:
        apply(fresh_database, directory)
    assert str(info.value) == (
        'connected database is not clean: found schema "public". '
        "baseline version or allow-dirty is required"
    )
    with pytest.raises(UsageError, match="mutually exclusive"):
        apply(fresh_database, directory, baseline="2", allow_dirty=True)
    with pytest.raises(UsageError, match='baseline version "9" not found'):
        apply(fresh_database, directory, baseline="9")

    report = apply(fresh_database, directory, baseline="2")
    assert report.baseline == "2"
    assert [f.name for f in report.applied] == ["3_c.sql"]
    rows = revisions(fresh_database)
    assert [(r["version"], r["type"], r["applied"], r["total"], r["hash"]) for r in rows[:1]] == [
        ("2", 1, 0, 0, "")
    ]
    assert [r["version"] for r in rows] == ["2", "3"]
    assert tables(fresh_database) == ["public.c", "public.legacy"]


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("CREATE TABLE legacy (id int)", 'found schema "public"'),
        ("CREATE SCHEMA other", 'found schema "other"'),
        (
            "CREATE SCHEMA atlas_schema_revisions; CREATE TABLE atlas_schema_revisions.x (id int)",
            'found 2 tables in schema "atlas_schema_revisions"',
        ),
        ("CREATE SCHEMA owned; ALTER EXTENSION plpgsql ADD SCHEMA owned", None),
    ],
)
def test_not_clean_reasons_are_atlas_s(
    fresh_database: str, make_dir: MakeDir, setup: str, reason: str | None
) -> None:
    # Atlas's PostgreSQL CheckClean (sql/postgres/driver.go): a table in public is reported as
    # the schema; the revisions schema may hold only the revisions table; a schema an
    # extension owns does not count.
    directory = make_dir({"1_a.sql": "CREATE TABLE a (id int);"})
    query(fresh_database, setup)
    if reason is None:
        apply(fresh_database, directory)
        assert "public.a" in tables(fresh_database)
        return
    with pytest.raises(NotCleanError) as info:
        apply(fresh_database, directory)
    assert str(info.value) == (
        f"connected database is not clean: {reason}. baseline version or allow-dirty is required"
    )


def test_allow_dirty_applies_everything(fresh_database: str, make_dir: MakeDir) -> None:
    query(fresh_database, "CREATE SCHEMA other")
    directory = make_dir({"1_a.sql": "CREATE TABLE a (id int);"})
    with pytest.raises(NotCleanError, match='found schema "other"'):
        apply(fresh_database, directory)
    apply(fresh_database, directory, allow_dirty=True)
    assert tables(fresh_database) == ["public.a"]


CHECKPOINTED = {
    "1_a.sql": "CREATE TABLE a (id int);",
    "2_b.sql": "CREATE TABLE b (id int);",
    "3_ck.sql": (
        "-- atlas:checkpoint v3\n\nCREATE TABLE a (id int);\nCREATE TABLE b (id int);\n"
        "CREATE TABLE ck_marker ();\n"
    ),
    "4_d.sql": "CREATE TABLE d (id int);",
}


def test_checkpoint_on_an_empty_database(fresh_database: str, make_dir: MakeDir) -> None:
    directory = make_dir(CHECKPOINTED)
    assert (
        status(fresh_database, directory)
        .render()
        .startswith(
            "Migration Status: PENDING\n  -- Current Version: No migration applied yet\n"
            "  -- Next Version:    3 (checkpoint)\n"
        )
    )
    report = apply(fresh_database, directory)
    assert [f.name for f in report.applied] == ["3_ck.sql", "4_d.sql"]
    assert [r["version"] for r in revisions(fresh_database)] == ["3", "4"]
    assert "public.ck_marker" in tables(fresh_database)


def test_checkpoint_is_skipped_on_a_migrated_database(
    fresh_database: str, make_dir: MakeDir
) -> None:
    directory = make_dir({k: v for k, v in CHECKPOINTED.items() if k < "3"})
    apply(fresh_database, directory)
    make_dir({k: v for k, v in CHECKPOINTED.items() if k >= "3"}, path=directory)
    report = apply(fresh_database, directory)
    assert [f.name for f in report.applied] == ["4_d.sql"]
    assert "public.ck_marker" not in tables(fresh_database)


def test_count_and_dry_run(fresh_database: str, make_dir: MakeDir) -> None:
    directory = make_dir(
        {"1_a.sql": "CREATE TABLE a ();", "2_b.sql": "CREATE TABLE b ();", "3_c.sql": "SELECT 1;"}
    )
    dry = apply(fresh_database, directory, dry_run=True)
    assert dry.dry_run
    assert [f.statements for f in dry.applied] == [
        ["CREATE TABLE a ();"],
        ["CREATE TABLE b ();"],
        ["SELECT 1;"],
    ]
    assert tables(fresh_database) == []
    assert query(
        fresh_database, "SELECT to_regclass('atlas_schema_revisions.atlas_schema_revisions')"
    ) == [(None,)]

    one = apply(fresh_database, directory, count=1)
    assert (one.message, [f.name for f in one.applied]) == (
        "Migrating to version 1 (1 migrations in total)",
        ["1_a.sql"],
    )
    rest = apply(fresh_database, directory)
    assert rest.message == "Migrating to version 3 from 1 (2 migrations in total)"
    assert apply(fresh_database, directory).message == "No migration files to execute"


def test_statement_errors_abort_before_anything_when_a_file_cannot_be_scanned(
    fresh_database: str, make_dir: MakeDir
) -> None:
    directory = make_dir({"1_a.sql": "CREATE TABLE a ();", "2_b.sql": "SELECT (1));"})
    with pytest.raises(Exception, match=r"scanning statements from \"2_b.sql\": 1:11"):
        apply(fresh_database, directory)
    assert tables(fresh_database) == []


def test_missing_file_of_a_partial_revision(fresh_database: str, make_dir: MakeDir) -> None:
    directory = make_dir(FAILING)
    with pytest.raises(StatementError):
        apply(fresh_database, directory, tx_mode="none")
    (directory / "2_second.sql").unlink()
    write_sum(directory)
    with pytest.raises(MissingMigrationError) as info:
        apply(fresh_database, directory)
    assert str(info.value) == (
        'missing migration: revision "2_second.sql" is partially applied '
        "but migration file was not found"
    )


def test_set_moves_the_revisions_table(fresh_database: str, make_dir: MakeDir) -> None:
    directory = make_dir(
        {"1_a.sql": "CREATE TABLE a ();", "2_b.sql": "CREATE TABLE b ();", "3_c.sql": "SELECT 1;"}
    )
    report = set_revision(fresh_database, directory, "2")
    assert report.set == ["1", "2"]
    rows = revisions(fresh_database)
    assert [(r["version"], r["type"], r["applied"], r["total"]) for r in rows] == [
        ("1", 4, 0, 0),
        ("2", 4, 0, 0),
    ]
    applied = apply(fresh_database, directory)
    assert [f.name for f in applied.applied] == ["3_c.sql"]
    back = set_revision(fresh_database, directory, "1")
    assert back.removed == ["2", "3"]
    with pytest.raises(UsageError, match='migration with version "9" not found'):
        set_revision(fresh_database, directory, "9")


def test_set_resolves_a_failed_revision(fresh_database: str, make_dir: MakeDir) -> None:
    directory = make_dir({**FAILING, "3_c.sql": "CREATE TABLE third ();"})
    with pytest.raises(StatementError):
        apply(fresh_database, directory, tx_mode="none")
    report = set_revision(fresh_database, directory, "2")
    assert report.set == ["2"]
    assert revisions(fresh_database)[-1]["type"] == 6
    applied = apply(fresh_database, directory)
    assert [f.name for f in applied.applied] == ["3_c.sql"]


def test_revisions_schema_option(fresh_database: str, make_dir: MakeDir) -> None:
    directory = make_dir({"1_a.sql": "CREATE TABLE a ();"})
    apply(fresh_database, directory, revisions_schema="ops")
    assert [r["version"] for r in revisions(fresh_database, "ops")] == ["1"]
    assert status(fresh_database, directory, revisions_schema="ops").state == "OK"


def test_url_bound_to_a_schema_keeps_revisions_there(
    fresh_database: str, make_dir: MakeDir
) -> None:
    query(fresh_database, "CREATE SCHEMA app")
    directory = make_dir({"1_a.sql": "CREATE TABLE a ();"})
    url = fresh_database + "&search_path=app"
    apply(url, directory)
    assert tables(fresh_database) == ["app.a", "app.atlas_schema_revisions"]
    assert [r["version"] for r in revisions(fresh_database, "app")] == ["1"]


def test_apply_accepts_an_open_connection(fresh_database: str, make_dir: MakeDir) -> None:
    directory = make_dir({"1_a.sql": "CREATE TABLE a ();"})
    with psycopg.connect(fresh_database) as conn:
        report = apply(conn, directory)
        assert not conn.autocommit  # restored
    assert [f.name for f in report.applied] == ["1_a.sql"]


def test_lock_timeout_when_another_session_holds_the_lock(
    fresh_database: str, make_dir: MakeDir
) -> None:
    directory = make_dir({"1_a.sql": "CREATE TABLE a ();"})
    with psycopg.connect(fresh_database, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        started = time.monotonic()
        with pytest.raises(LockTimeoutError):
            apply(fresh_database, directory, lock_timeout=0.3)
        assert 0.3 <= time.monotonic() - started < 3
        assert status(fresh_database, directory).state == "PENDING"  # status takes no lock
    apply(fresh_database, directory)
    assert tables(fresh_database) == ["public.a"]


def test_two_concurrent_applies_apply_each_file_once(
    fresh_database: str, make_dir: MakeDir
) -> None:
    directory = make_dir(
        {
            "1_slow.sql": "CREATE TABLE counter (n int);\nSELECT pg_sleep(0.5);\n",
            "2_insert.sql": "INSERT INTO counter VALUES (1);\n",
        }
    )
    results: list[tuple[object, float]] = []

    def run() -> None:
        started = time.monotonic()
        try:
            outcome: object = apply(fresh_database, directory)
        except Exception as exc:  # collected and asserted below
            outcome = exc
        results.append((outcome, time.monotonic() - started))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.1)
    for t in threads:
        t.join(30)
    outcomes = sorted((getattr(r, "message", repr(r)), took) for r, took in results)
    assert [message for message, _ in outcomes] == [
        "Migrating to version 2 (2 migrations in total)",
        "No migration files to execute",
    ]
    # The second apply started while the first slept in its first file: it waited on the lock.
    assert outcomes[1][1] >= 0.3
    assert query(fresh_database, "SELECT count(*) FROM counter") == [(1,)]
    assert [r["version"] for r in revisions(fresh_database)] == ["1", "2"]


def test_thousand_trivial_migrations(fresh_database: str, make_dir: MakeDir) -> None:
    files = {f"{i:04d}_t{i}.sql": f"CREATE TABLE t{i} (id int);\n" for i in range(1, 1001)}
    directory = make_dir(files)
    started = time.monotonic()
    report = apply(fresh_database, directory)
    elapsed = time.monotonic() - started
    assert len(report.applied) == 1000
    rows = query(
        fresh_database,
        "SELECT count(*), min(version), max(version), bool_and(applied = total) "
        "FROM atlas_schema_revisions.atlas_schema_revisions",
    )
    assert rows == [(1000, "0001", "1000", True)]
    assert len(tables(fresh_database)) == 1000
    assert elapsed < 10  # generous for CI; bench/migrate_apply.py measures the real target
    started = time.monotonic()
    assert apply(fresh_database, directory).message == "No migration files to execute"
    assert time.monotonic() - started < 2


def _out_of_order_status(pending: str) -> str:
    """Atlas's status text once 1.5.sql was added before version 2, which ran."""
    return (
        "Migration Status: PENDING\n"
        "  -- Current Version: 2\n"
        "  -- Next Version:    UNKNOWN\n"
        "  -- Executed Files:  2\n"
        f"  -- Pending Files:   {pending}\n"
        "\n"
        "  ERROR: migration file 1.5.sql was added out of order. "
        "See: https://atlasgo.io/versioned/apply#non-linear-error\n"
    )


def test_status_text_for_a_file_added_out_of_order(fresh_database: str, make_dir: MakeDir) -> None:
    directory = make_dir({"1.sql": "CREATE TABLE t1 (c int);", "2.sql": "CREATE TABLE t2 (c int);"})
    assert status(fresh_database, directory).render() == (
        "Migration Status: PENDING\n"
        "  -- Current Version: No migration applied yet\n"
        "  -- Next Version:    1\n"
        "  -- Executed Files:  0\n"
        "  -- Pending Files:   2\n"
    )
    apply(fresh_database, directory)
    make_dir({"1.5.sql": "CREATE TABLE t1_5 (c int);"}, path=directory)
    assert status(fresh_database, directory).render() == _out_of_order_status("1 (out of order)")
    # With other files pending too, Atlas counts the out-of-order ones apart (its status
    # template in cmd/atlas/internal/cmdlog/cmdlog.go: "{{ add (len .Pending) (len .OutOfOrder) }}
    # ({{ if .Pending }}{{ len .OutOfOrder }} {{ end }}out of order)").
    make_dir({"3.sql": "CREATE TABLE t3 (c int);"}, path=directory)
    assert (
        "  -- Pending Files:   2 (1 out of order)\n" in status(fresh_database, directory).render()
    )


def test_status_of_a_partial_file_with_one_added_out_of_order(
    fresh_database: str, make_dir: MakeDir
) -> None:
    # Atlas's StatusReporter (cmd/atlas/internal/cmdlog/cmdlog.go) returns at the out-of-order
    # error: the partially applied file's counts and error lines are not shown with it.
    directory = make_dir({"1.sql": "CREATE TABLE t1 (c int);", "2.sql": "SELECT 1;\nSELECT 1/0;"})
    with pytest.raises(StatementError):
        apply(fresh_database, directory, tx_mode="none")
    make_dir({"1.5.sql": "CREATE TABLE t1_5 (c int);"}, path=directory)
    assert status(fresh_database, directory).render() == _out_of_order_status("2 (1 out of order)")


def test_status_of_a_partial_file_as_atlas_reports_it(
    fresh_database: str, make_dir: MakeDir
) -> None:
    # Atlas's StatusReporter (cmd/atlas/internal/cmdlog/cmdlog.go) prints the failed statement
    # and error on one line each, and counts the statements left in the file as it is now.
    directory = make_dir({"1.sql": "SELECT 1;\nCREATE TABLE b (\n  id nosuchtype\n);"})
    with pytest.raises(StatementError):
        apply(fresh_database, directory, tx_mode="none")
    make_dir({"1.sql": "SELECT 1;\nCREATE TABLE b (\n  id int\n);\nSELECT 2;"}, path=directory)
    text = status(fresh_database, directory).render()
    assert "  -- Next Version:    1 (2 statements left)\n" in text
    assert "  -- SQL:   CREATE TABLE b (   id nosuchtype );\n" in text
