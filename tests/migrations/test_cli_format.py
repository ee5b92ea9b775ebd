"""``ampdb migrate status|apply --format``: Atlas's JSON and template fields, so CI scripts
written for ``atlas migrate ... --format '{{ json . }}'`` read ampdb's output unchanged.

The expected shapes follow Atlas's ``cmdlog.MigrateStatus``/``MigrateApply`` struct tags:
omitempty fields absent when empty, times in RFC 3339 with nanoseconds, ``ExecutionTime`` in
nanoseconds, the failed statement listed among the file's ``Applied`` ones.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from pytest_ampdb.cli.logformat import Struct, Time, go_json
from pytest_ampdb.migrations import write_sum

from ._support import MakeDir, run_cli, tables

RFC3339NANO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?(Z|[+-]\d\d:\d\d)")
FILES = {"1_a.sql": "CREATE TABLE a (id int);\nCREATE TABLE b (id int);", "2_c.sql": "SELECT 1;"}
FILE_1 = {"Name": "1_a.sql", "Version": "1", "Description": "a"}
FILE_2 = {"Name": "2_c.sql", "Version": "2", "Description": "c"}
JSON = "{{ json . }}"


def _json(capsys: pytest.CaptureFixture[str], *argv: str, code: int = 0) -> dict[str, object]:
    got, out, _ = run_cli(capsys, "migrate", *argv, "--format", JSON)
    assert got == code
    assert not out.endswith("\n")  # Atlas prints the template's output as it is
    data = json.loads(out)
    assert isinstance(data, dict)
    return data


def _times(record: dict[str, object], *keys: str) -> None:
    """The time fields are Go's RFC3339Nano, in order."""
    values = [record.pop(k) for k in keys]
    for v in values:
        assert isinstance(v, str)
        assert RFC3339NANO.fullmatch(v), v
    parsed = [dt.datetime.fromisoformat(str(v).replace("Z", "+00:00")) for v in values]
    assert parsed == sorted(parsed)


@pytest.mark.postgres
def test_status_of_a_pending_directory_is_atlas_json(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir(FILES)
    common = ["--dir", str(directory), "--url", fresh_database]
    code, out, err = run_cli(capsys, "migrate", "status", *common, "--format", JSON)
    assert (code, err) == (0, "")
    env = {"Driver": "postgres", "Dir": f"file://{directory.as_posix()}"}
    assert out == json.dumps(
        {
            "Env": env,
            "Available": [FILE_1, FILE_2],
            "Pending": [FILE_1, FILE_2],
            "Current": "No migration applied yet",
            "Next": "1",
            "Status": "PENDING",
        },
        separators=(",", ":"),
    )
    for template, expected in [
        ("{{ .Current }}", "No migration applied yet"),
        ("{{ .Status }} {{ .Next }}", "PENDING 1"),
        ("{{ len .Pending }}/{{ len .Available }} {{ .Count }}", "2/2 0"),
        ("{{ json .Env.Driver }}", '"postgres"'),
        ('{{ json .Pending "  " }}', json.dumps([FILE_1, FILE_2], indent="  ")),
        ("{{- .Status -}}\n", "PENDING"),
    ]:
        code, out, _ = run_cli(capsys, "migrate", "status", *common, "--format", template)
        assert (code, out) == (0, expected), template


@pytest.mark.postgres
def test_apply_and_status_of_an_applied_directory_are_atlas_json(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir(FILES)
    common = ["--dir", str(directory), "--url", fresh_database]

    applied = _json(capsys, "apply", *common)
    _times(applied, "Start", "End")
    files = applied.pop("Applied")
    assert isinstance(files, list)
    assert applied == {  # Current is empty (omitted): Atlas then says "from  ("
        "Driver": "postgres",
        "Dir": f"file://{directory.as_posix()}",
        "Pending": [FILE_1, FILE_2],
        "Target": "2",
        "Message": "Migrated to version 2 from  (2 migrations in total)",
    }
    for f in files:
        _times(f, "Start", "End")
    assert files == [
        {**FILE_1, "Applied": ["CREATE TABLE a (id int);", "CREATE TABLE b (id int);"]},
        {**FILE_2, "Applied": ["SELECT 1;"]},
    ]

    st = _json(capsys, "status", *common)
    revs = st.pop("Applied")
    assert st == {
        "Env": {"Driver": "postgres", "Dir": f"file://{directory.as_posix()}"},
        "Available": [FILE_1, FILE_2],
        "Current": "2",
        "Next": "Already at latest version",
        "Status": "OK",
    }
    assert isinstance(revs, list)
    for rev, (version, description, total) in zip(
        revs, [("1", "a", 2), ("2", "c", 1)], strict=True
    ):
        assert list(rev) == [  # Atlas's migrate.Revision, in its field order
            "Version", "Description", "Type", "Applied", "Total", "ExecutedAt",
            "ExecutionTime", "OperatorVersion",
        ]  # fmt: skip
        assert rev["Version"] == version
        assert rev["Description"] == description
        assert (rev["Type"], rev["Applied"], rev["Total"]) == ("applied", total, total)
        assert RFC3339NANO.fullmatch(rev["ExecutedAt"])
        assert isinstance(rev["ExecutionTime"], int)
        assert rev["ExecutionTime"] >= 0
        assert rev["OperatorVersion"].startswith("pytest-ampdb v")

    again = _json(capsys, "apply", *common)
    _times(again, "Start", "End")
    assert again == {
        "Driver": "postgres",
        "Dir": f"file://{directory.as_posix()}",
        "Current": "2",
        "Message": "No migration files to execute",
    }


@pytest.mark.postgres
def test_a_partially_failed_apply_is_atlas_json(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir(
        {"1_a.sql": "CREATE TABLE a (id int);\nINSERT INTO nope\nVALUES (1);\nSELECT 1;"}
    )
    common = ["--dir", str(directory), "--url", fresh_database]
    pg_error = 'ERROR: relation "nope" does not exist (SQLSTATE 42P01)'
    failing = "INSERT INTO nope\nVALUES (1);"

    code, out, err = run_cli(
        capsys, "migrate", "apply", *common, "--tx-mode", "none", "--format", JSON
    )
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith("ampdb: error: executing statement ")
    applied = json.loads(out)
    _times(applied, "Start", "End")
    (f,) = applied.pop("Applied")
    _times(f, "Start", "End")
    assert f == {
        **FILE_1,
        "Applied": ["CREATE TABLE a (id int);", failing],  # Atlas lists the failed one too
        "Error": {"Stmt": failing, "Text": pg_error},
    }
    assert applied == {  # an error: no Message
        "Driver": "postgres",
        "Dir": f"file://{directory.as_posix()}",
        "Pending": [FILE_1],
        "Target": "1",
        "Error": f'sql/migrate: executing statement "INSERT INTO nope\\nVALUES (1);" '
        f'from version "1": {pg_error}',
    }
    assert tables(fresh_database) == ["public.a"]

    st = _json(capsys, "status", *common)
    (rev,) = st.pop("Applied")
    assert st == {
        "Env": {"Driver": "postgres", "Dir": f"file://{directory.as_posix()}"},
        "Available": [FILE_1],
        "Pending": [FILE_1],
        "Current": "1",
        "Next": "1",
        "Count": 1,
        "Total": 3,
        "Status": "PENDING",
        "Error": pg_error,
        "SQL": "INSERT INTO nope VALUES (1);",  # on one line, as Atlas prints it
    }
    assert (rev["Applied"], rev["Total"], rev["Type"]) == (1, 3, "applied")
    assert (rev["Error"], rev["ErrorStmt"]) == (pg_error, failing)
    code, out, _ = run_cli(
        capsys, "migrate", "status", *common, "--format", "{{ .Count }}/{{ .Total }} {{ .Left }}"
    )
    assert (code, out) == (0, "1/3 2")


@pytest.mark.postgres
@pytest.mark.parametrize("command", ["status", "apply"])
@pytest.mark.parametrize(
    "template",
    [
        '{{ json . | json_merge "{}" }}',
        "{{ range .Pending }}{{ .Nope }}{{ end }}",
        "{{ range .Current }}x{{ end }}",
        "{{ range .Pending }}x",
        "x{{ end }}",
        "{{ if .Current }}x{{ end }}",
        "{{ range $i, $f := .Pending }}{{ end }}",
        "{{ range .Applied }}{{ range .Applied }}{{ .Name }}{{ end }}{{ end }}",
        "{{ .Nope }}",
        "{{ .Pending }}",
        "{{ .Env }}",
        "{{ len .Current.X }}",
        "{{ json . ",
        "{{ json . x }}",
        "{{ .Start }}",
        "{{/* a comment */}}",
    ],
)
def test_an_unsupported_template_is_refused_before_anything_runs(
    make_dir: MakeDir,
    fresh_database: str,
    capsys: pytest.CaptureFixture[str],
    command: str,
    template: str,
) -> None:
    directory = make_dir(FILES)
    argv = ["migrate", command, "--dir", str(directory), "--url", fresh_database]
    code, out, err = run_cli(capsys, *argv, "--format", template)
    assert (code, out) == (2, "")
    assert err.startswith("ampdb: error: --format: ")
    assert err.count("\n") == 1
    assert tables(fresh_database) == []


def test_json_is_written_as_go_writes_it() -> None:
    # Go's encoding/json: HTML characters escaped, UTF-8 kept, invalid bytes as U+FFFD.
    text = "a<b>&c é\u2028" + b"\xff".decode("utf-8", "surrogateescape")
    assert go_json(text) == '"a\\u003cb\\u003e\\u0026c é\\u2028\\ufffd"'
    # time.Time: RFC3339Nano, trailing zeros of the fraction dropped, "Z" for UTC.
    utc = dt.datetime(2026, 11, 30, 14, 1, 2, 120000, tzinfo=dt.UTC)
    assert go_json(Time(utc)) == '"2026-11-30T14:01:02.12Z"'
    east = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
    assert go_json(Time(east)) == '"2026-01-02T03:04:05+05:30"'
    # MarshalIndent(v, prefix, indent): the prefix starts every line after the first.
    assert go_json([1, Struct(())], ">", "\t") == "[\n>\t1,\n>\t{}\n>]"


@pytest.mark.postgres
def test_status_of_a_file_added_out_of_order_is_atlas_json(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir({"1_a.sql": "SELECT 1;", "3_d.sql": "SELECT 3;"})
    common = ["--dir", str(directory), "--url", fresh_database]
    assert run_cli(capsys, "migrate", "apply", *common)[0] == 0
    make_dir({"2_b.sql": "SELECT 2;", "4_e.sql": "SELECT 4;"}, path=directory)

    st = _json(capsys, "status", *common)
    revs = st.pop("Applied")
    assert isinstance(revs, list)
    assert [r["Version"] for r in revs] == ["1", "3"]
    assert st == {  # Atlas stops at the error: no Available, no Next
        "Env": {"Driver": "postgres", "Dir": f"file://{directory.as_posix()}"},
        "OutOfOrder": [{"Name": "2_b.sql", "Version": "2", "Description": "b"}],
        "Pending": [{"Name": "4_e.sql", "Version": "4", "Description": "e"}],
        "Current": "3",
        "Status": "PENDING",
        "Error": "migration file 2_b.sql was added out of order. "
        "See: https://atlasgo.io/versioned/apply#non-linear-error",
    }


@pytest.mark.postgres
def test_log_is_format_s_former_name_and_an_error_is_in_the_report(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Atlas's cmdapi migrate_test.go TestMigrate_ApplyTxModeDirective: --log "{{ .Error }}"
    # prints the error the command fails with.
    directory = make_dir(
        {"1_a.sql": "CREATE TABLE a (id int);", "2_b.sql": "-- atlas:txmode unknown\n\nSELECT 1;"}
    )
    common = ["--dir", str(directory), "--url", fresh_database, "--tx-mode", "all"]
    message = 'unknown txmode "unknown" found in file directive "2_b.sql"'
    code, out, err = run_cli(capsys, "migrate", "apply", *common, "--log", "{{ .Error }}")
    assert (code, out, err) == (1, message, f"ampdb: error: {message}\n")
    assert tables(fresh_database) == []
    both = [*common, "--log", "{{ .Error }}", "--format", "{{ .Error }}"]
    assert run_cli(capsys, "migrate", "apply", *both) == (
        2,
        "",
        "ampdb: error: if any flags in the group [log format] are set none of the others can "
        "be; [format log] were all set\n",
    )


@pytest.mark.postgres
def test_execution_orders_with_range_templates_as_atlas_s(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Atlas's cmdapi migrate_test.go TestMigrate_ApplyExecOrder, its templates included.
    directory = make_dir({"1.sql": "create table t1(c int);", "3.sql": "create table t3(c int);"})
    common = ["migrate", "apply", "--dir", f"file://{directory}", "--url", fresh_database]

    def write(name: str, text: str) -> None:
        (directory / name).write_text(text)
        write_sum(directory)

    assert run_cli(capsys, *common, "--format", "{{ len .Applied }}") == (0, "2", "")
    write("2.sql", "create table t2(c int);")
    out_of_order = (
        "ampdb: error: migration file 2.sql was added out of order. "
        "See: https://atlasgo.io/versioned/apply#non-linear-error\n"
    )
    assert run_cli(capsys, *common) == (1, "", out_of_order)
    assert run_cli(capsys, *common, "--exec-order", "linear") == (1, "", out_of_order)
    assert run_cli(capsys, *common, "--exec-order", "linear-skip") == (
        0,
        "No migration files to execute\n",
        "",
    )
    versions = "{{ range .Applied }}{{ .Version }}{{ end }}"
    assert run_cli(capsys, *common, "--exec-order", "non-linear", "--format", versions) == (
        0,
        "2",
        "",
    )
    write("2.5.sql", "create table t25(c int);")
    write("4.sql", "create table t4(c int);")
    lines = "{{ range .Applied }}{{ println .Version }}{{ end }}"
    assert run_cli(capsys, *common, "--exec-order", "non-linear", "--format", lines) == (
        0,
        "2.5\n4\n",
        "",
    )
    for order in ("linear", "linear-skip", "non-linear"):
        assert run_cli(capsys, *common, "--exec-order", order) == (
            0,
            "No migration files to execute\n",
            "",
        )
    assert tables(fresh_database) == [f"public.t{n}" for n in ("1", "2", "25", "3", "4")]
