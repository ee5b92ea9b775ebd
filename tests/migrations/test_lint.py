"""``ampdb migrate lint``: each analyzer trips on its change and stays quiet on its look-alike,
on a real PostgreSQL 15 dev database that is left as it was."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from pytest_ampdb.migrations import default_migrations_dir

from ._support import MakeDir, query, run_cli, tables

pytestmark = pytest.mark.postgres

BASE = """\
CREATE SCHEMA s;
CREATE TABLE s.t (id int);
CREATE TABLE pets (id int);
CREATE TABLE users (
  id int PRIMARY KEY,
  name text,
  age int,
  email text,
  code varchar(10),
  shout text GENERATED ALWAYS AS (upper(name)) STORED
);
CREATE TABLE orders (id int, user_id int CONSTRAINT orders_user_fk REFERENCES users (id));
"""
NO_TX = "-- atlas:txmode none\n\n"

# (id, the change file, the codes it must report: each exactly once)
CASES = [
    ("drop schema", "DROP SCHEMA s CASCADE;", ["DS101"]),
    ("drop a schema the change made", "CREATE SCHEMA tmp;\nDROP SCHEMA tmp;", []),
    ("drop table", "DROP TABLE pets;", ["DS102"]),
    ("drop a table the change made", "CREATE TABLE x (id int);\nDROP TABLE x;", []),
    ("drop column", "ALTER TABLE users DROP COLUMN age;", ["DS103"]),
    ("drop a generated column", "ALTER TABLE users DROP COLUMN shout;", []),
    ("rename table", "ALTER TABLE pets RENAME TO animals;", ["BC101"]),
    ("rename a new table", "CREATE TABLE a1 (id int);\nALTER TABLE a1 RENAME TO a2;", []),
    ("rename column", "ALTER TABLE users RENAME COLUMN name TO full_name;", ["BC102"]),
    ("rename a new column", "CREATE TABLE b (x int);\nALTER TABLE b RENAME x TO y;", []),
    (
        "unique index",
        NO_TX + "CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);",
        ["MF101"],
    ),
    ("unique index on a new table", "CREATE TABLE c (e text);\nCREATE UNIQUE INDEX ON c (e);", []),
    ("not null without default", "ALTER TABLE users ADD COLUMN nick text NOT NULL;", ["MF103"]),
    ("not null with a default", "ALTER TABLE users ADD COLUMN nick text NOT NULL DEFAULT '';", []),
    ("set not null", "ALTER TABLE users ALTER COLUMN name SET NOT NULL;", ["MF104"]),
    ("drop not null", "ALTER TABLE users ALTER COLUMN name DROP NOT NULL;", []),
    ("index without concurrently", "CREATE INDEX users_age_idx ON users (age);", ["AMP101"]),
    ("index concurrently", NO_TX + "CREATE INDEX CONCURRENTLY users_age_idx ON users (age);", []),
    ("type change rewrites", "ALTER TABLE users ALTER COLUMN age TYPE bigint;", ["AMP102"]),
    ("type change in place", "ALTER TABLE users ALTER COLUMN code TYPE varchar(20);", []),
    (
        "volatile default",
        "ALTER TABLE users ADD COLUMN seen timestamptz DEFAULT clock_timestamp();",
        ["AMP103"],
    ),
    ("stable default", "ALTER TABLE users ADD COLUMN seen timestamptz DEFAULT now();", []),
    (
        "concurrently in a transaction",
        "CREATE INDEX CONCURRENTLY users_age_idx ON users (age);",
        ["AMP201"],
    ),
    ("vacuum in a transaction", "VACUUM pets;", ["AMP201"]),
    ("drop foreign key", "ALTER TABLE orders DROP CONSTRAINT orders_user_fk;", ["CD101"]),
    ("drop foreign key with its column", "ALTER TABLE orders DROP COLUMN user_id;", ["DS103"]),
    (
        "a foreign key dropped and added again (a new oid, the same key)",
        "ALTER TABLE orders DROP CONSTRAINT orders_user_fk, ADD CONSTRAINT orders_user_fk "
        "FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;",
        [],
    ),
    (
        "drop a foreign key the change made",
        "CREATE TABLE o2 (u int CONSTRAINT o2_fk REFERENCES users (id));\n"
        "ALTER TABLE o2 DROP CONSTRAINT o2_fk;",
        [],
    ),
    ("vacuum outside one", NO_TX + "VACUUM pets;", []),
]
# -- atlas:nolint as in Atlas: bare, by code, by analyzer name, per statement or for the file.
NOLINT = [
    ("nolint on the statement", "-- atlas:nolint\nDROP TABLE pets;", []),
    ("nolint by code", "-- atlas:nolint DS102\nDROP TABLE pets;", []),
    ("nolint by analyzer", "-- atlas:nolint destructive\nDROP TABLE pets;", []),
    ("nolint of another code", "-- atlas:nolint BC101\nDROP TABLE pets;", ["DS102"]),
    (
        "nolint analyzer for the file",
        "-- atlas:nolint destructive\n\nDROP TABLE pets;\nCREATE INDEX ON users (age);",
        ["AMP101"],
    ),
    (
        "nolint several for the file",
        "-- atlas:nolint locking DS102\n\nDROP TABLE pets;\nCREATE INDEX ON users (age);",
        [],
    ),
    (
        "nolint in a block comment",
        "/*atlas:nolint AMP101*/\nCREATE INDEX ON users (age);",
        [],
    ),  # Atlas's prefix rule
    (
        "nolint block comment with spaces (Atlas ignores it)",
        "/* atlas:nolint AMP101 */\nCREATE INDEX ON users (age);",
        ["AMP101"],
    ),
]
ERRORS = {"DS101", "DS102", "DS103", "AMP201"}
CODE = re.compile(r"#([A-Z]+\d+)|\((AMP\d+)\)")


def _codes(out: str) -> list[str]:
    return sorted(a or b for a, b in CODE.findall(out))


def _lint(
    capsys: pytest.CaptureFixture[str], directory: Path, dev: str, *flags: str
) -> tuple[int, str, str]:
    return run_cli(capsys, "migrate", "lint", "--dir", str(directory), "--dev-url", dev, *flags)


@pytest.mark.parametrize(
    ("change", "codes"), [c[1:] for c in CASES + NOLINT], ids=[c[0] for c in CASES + NOLINT]
)
def test_each_analyzer_trips_on_its_change_and_not_on_its_look_alike(
    change: str,
    codes: list[str],
    make_dir: MakeDir,
    fresh_database: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    directory = make_dir({"1_base.sql": BASE, "2_change.sql": change})
    code, out, err = _lint(capsys, directory, fresh_database, "--latest", "1")
    assert err == ""
    assert _codes(out) == codes, out
    assert code == (1 if ERRORS & set(codes) else 0)
    assert out.startswith("Analyzing changes from version 1 to 2 (1 migration in total):\n")
    assert tables(fresh_database) == []  # the dev database is left as it was
    assert query(fresh_database, "SELECT count(*) FROM pg_namespace WHERE nspname = 's'") == [(0,)]


def test_report_shape_is_atlas_s(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir(
        {
            "1_base.sql": BASE,
            "2_add.sql": "ALTER TABLE users ADD COLUMN c2 int NOT NULL;\n\nALTER TABLE users "
            "ADD COLUMN c3 int NOT NULL DEFAULT 1;",
            "3_drop.sql": "DROP TABLE pets;",
        }
    )
    code, out, _ = _lint(capsys, directory, fresh_database, "--latest", "2")
    assert code == 1
    lines = re.sub(
        r"\((?:\d+(?:\.\d+)?(?:ns|µs|ms|s))\)$|-- [\d.]+(?:µs|ms|s)$", "<t>", out, flags=re.M
    )
    assert lines.splitlines() == [
        "Analyzing changes from version 1 to 3 (2 migrations in total):",
        "",
        "  -- analyzing version 2",
        "    -- data dependent changes detected:",
        '      -- L1: Adding a non-nullable "integer" column "c2" will fail in case table "users" '
        "is not",
        "         empty https://atlasgo.io/lint/analyzers#MF103",
        "  -- ok <t>",
        "",
        "  -- analyzing version 3",
        "    -- destructive changes detected:",
        '      -- L1: Dropping table "pets" https://atlasgo.io/lint/analyzers#DS102',
        "    -- suggested fix:",
        '      -> Add a pre-migration check to ensure table "pets" is empty before dropping it',
        "  -- ok <t>",
        "",
        "  -------------------------",
        "  <t>",
        "  -- 1 version with warnings, 1 with errors",
        "  -- 3 schema changes",
        "  -- 2 diagnostics",
    ]


def test_a_bare_nolint_header_skips_the_file(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir(
        {
            "1_base.sql": BASE,
            "2_x.sql": "-- atlas:nolint\n\nDROP TABLE pets;",
            "3_y.sql": "SELECT 1;",
        }
    )
    code, out, _ = _lint(capsys, directory, fresh_database, "--latest", "2")
    assert code == 0
    assert "analyzing version 2" not in out  # skipped, yet replayed: 3 still sees no "pets"
    assert out.startswith("Analyzing changes from version 1 to 3 (2 migrations in total):")


def test_a_crafted_history_reports_every_analyzer_once(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    twice = ("vacuum in a transaction", "drop foreign key with its column")  # AMP201, DS103
    tripping = [c for c in CASES if c[2] and c[0] not in twice]
    files = {"001_base.sql": BASE}
    files.update({f"{i + 2:03d}_case.sql": change for i, (_, change, _) in enumerate(tripping)})
    # Later cases must not see earlier ones' effects: each runs on a table of its own name.
    directory = make_dir(_isolate(files))
    code, out, _ = _lint(capsys, directory, fresh_database, "--latest", str(len(tripping)))
    assert code == 1
    expected = sorted(code for _, _, codes in tripping for code in codes)
    assert _codes(out) == expected
    assert len(set(expected)) == len(expected) == 13


def _isolate(files: dict[str, str]) -> dict[str, str]:
    """Give each case file its own copy of the base objects, so cases do not interfere."""
    out = {"001_base.sql": ""}
    for i, (name, text) in enumerate(files.items()):
        if name == "001_base.sql":
            continue
        n = f"_{i}"
        base = BASE.replace("SCHEMA s", f"SCHEMA s{n}").replace("s.t", f"s{n}.t")
        base = re.sub(r"\b(pets|users|orders)\b", rf"\1{n}", base)
        out["001_base.sql"] += base
        change = text.replace("SCHEMA s ", f"SCHEMA s{n} ")
        change = re.sub(r"\b(users_\w+)\b", rf"\1{n}", change)  # index names
        out[name] = re.sub(r"\b(pets|users|orders)\b", rf"\1{n}", change)
    return out


def test_packaged_history_reports_nothing_on_the_whole_and_only_true_locking_on_its_last_file(
    fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = default_migrations_dir()
    count = len(list(directory.glob("*.sql")))
    code, out, _ = _lint(capsys, directory, fresh_database, "--latest", str(count))
    assert code == 0
    assert _codes(out) == []
    assert out.count("-- no diagnostics found") == count
    # The last file indexes tables that may hold rows by then: each index is one warning.
    code, out, _ = _lint(capsys, directory, fresh_database, "--latest", "1")
    last = sorted(directory.glob("*.sql"))[-1].read_text()
    assert code == 0
    assert _codes(out) == ["AMP101"] * last.count("CREATE INDEX")


def test_git_base_lints_the_files_added_since_the_branch(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    directory = make_dir({"1_base.sql": BASE}, path=repo / "migrations")

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=repo, check=True, capture_output=True,
        )  # fmt: skip

    git("init", "-q", "-b", "main")
    git("add", ".")
    git("commit", "-q", "-m", "base")
    git("checkout", "-q", "-b", "feature")
    make_dir({"2_drop.sql": "DROP TABLE pets;"}, path=directory)
    git("add", ".")
    git("commit", "-q", "-m", "drop")
    code, out, _ = _lint(capsys, directory, fresh_database, "--git-base", "main")
    assert code == 1
    assert out.startswith("Analyzing changes from version 1 to 2 (1 migration in total):")
    assert _codes(out) == ["DS102"]
    code, out, err = _lint(capsys, directory, fresh_database, "--git-base", "nope")
    assert (code, out) == (1, "")
    assert err.startswith("ampdb: error: git diff: ")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ([], "--latest or --git-base is required"),
        (["--latest", "1", "--git-base", "main"], "--latest and --git-base are mutually exclusive"),
        (
            ["--latest", "-1"],
            'invalid argument "-1" for "--latest" flag: strconv.ParseUint: parsing "-1": '
            "invalid syntax",
        ),
        (
            ["--latest=18446744073709551616"],
            'invalid argument "18446744073709551616" for "--latest" flag: strconv.ParseUint: '
            'parsing "18446744073709551616": value out of range',
        ),
    ],
)
def test_lint_usage_errors(
    flags: list[str], message: str, make_dir: MakeDir, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir({"1_base.sql": BASE})
    assert run_cli(capsys, "migrate", "lint", "--dir", str(directory), *flags) == (
        2,
        "",
        f"ampdb: error: {message}\n",
    )


def test_a_change_that_fails_on_the_dev_database_is_an_error(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir({"1_base.sql": BASE, "2_bad.sql": "DROP TABLE nope;"})
    code, out, _ = _lint(capsys, directory, fresh_database, "--latest", "1")
    assert code == 1
    # Atlas's shape (cmdapi migrate_test.go TestMigrate_Lint, "Invalid files"): the error alone.
    lines = out.splitlines()
    assert lines[:4] == [
        "Analyzing changes from version 1 to 2 (1 migration in total):",
        "",
        '  Error: executing statement: DROP TABLE nope;: ERROR: table "nope" does not exist '
        "(SQLSTATE 42P01)",
        "",
    ]
    assert lines[4] == "  -------------------------"
    assert lines[6:] == ["  -- 1 version with errors"]
    assert tables(fresh_database) == []


def test_without_dev_url_a_throwaway_cluster_is_used(
    make_dir: MakeDir, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_dir({"1_base.sql": BASE, "2_drop.sql": "DROP TABLE pets;"})
    code, out, _ = run_cli(capsys, "migrate", "lint", "--dir", str(directory), "--latest", "1")
    assert code == 1
    assert _codes(out) == ["DS102"]


def test_a_dev_database_that_is_not_clean_is_refused_and_left_alone(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    query(fresh_database, "CREATE TABLE precious (id int)")
    query(fresh_database, "INSERT INTO precious VALUES (1)")
    directory = make_dir({"1_base.sql": BASE, "2_drop.sql": "DROP TABLE pets;"})
    assert _lint(capsys, directory, fresh_database, "--latest", "1") == (
        1,
        "",
        'ampdb: error: connected database is not clean: found schema "public"\n',
    )
    assert query(fresh_database, "SELECT id FROM precious") == [(1,)]


def test_reports_come_in_atlas_s_postgresql_order(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # sql/postgres/postgrescheck: destructive, data_depend, condrop, incompatible.
    change = (
        "ALTER TABLE users RENAME COLUMN name TO full_name;\n"
        "ALTER TABLE orders DROP CONSTRAINT orders_user_fk;\n"
        "ALTER TABLE users ADD COLUMN nick text NOT NULL;\n"
        "DROP TABLE pets;\n"
    )
    directory = make_dir({"1_base.sql": BASE, "2_change.sql": change})
    code, out, _ = _lint(capsys, directory, fresh_database, "--latest", "1")
    assert code == 1
    headings = [line.strip() for line in out.splitlines() if line.endswith("detected:")]
    assert headings == [
        "-- destructive changes detected:",
        "-- data dependent changes detected:",
        "-- constraint deletion detected:",
        "-- backward incompatible changes detected:",
    ]
    assert '-- L2: Dropping foreign-key constraint "orders_user_fk"' in out
    assert "https://atlasgo.io/lint/analyzers#CD101" in out


def test_lint_as_atlas_s_cmdapi_test(
    make_dir: MakeDir, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Atlas's cmd/atlas/internal/cmdapi/migrate_test.go TestMigrate_Lint, on PostgreSQL.
    directory = make_dir({"1.sql": "CREATE TABLE t(c int);", "2.sql": "DROP TABLE t;"})
    code, out, err = _lint(capsys, directory, fresh_database, "--latest", "1")
    assert (code, err) == (1, "")
    assert re.fullmatch(
        r"""Analyzing changes from version 1 to 2 \(1 migration in total\):

  -- analyzing version 2
    -- destructive changes detected:
      -- L1: Dropping table "t" https://atlasgo.io/lint/analyzers#DS102
    -- suggested fix:
      -> Add a pre-migration check to ensure table "t" is empty before dropping it
  -- ok \(.+\)

  -------------------------
  -- .+
  -- 1 version with errors
  -- 1 schema change
  -- 1 diagnostic
""",
        out,
    ), out
    names = "{{ range .Files }}{{ .Name }}{{ end }}"
    assert _lint(capsys, directory, fresh_database, "--latest", "1", "--log", names) == (
        1,
        "2.sql",
        "",
    )
    counts = "{{ range .Files }}{{ .Name }}:{{ len .Reports }}{{ end }}"
    assert _lint(capsys, directory, fresh_database, "--latest", "1", "--format", counts) == (
        1,
        "2.sql:1",
        "",
    )
    # A table made by the change itself (README: per change, where Atlas goes per file).
    assert _lint(capsys, directory, fresh_database, "--latest", "2", "--format", counts) == (
        0,
        "1.sql:02.sql:0",
        "",
    )
    json = ["--latest", "1", "--format", "{{ json . }}"]
    code, out, err = _lint(capsys, directory, fresh_database, *json)
    assert (code, out) == (2, "")
    assert err.startswith("ampdb: error: --format: json of the lint report is not supported")
