"""The schema check in memory mode: the migration directory is validated and its schema, as the
snapshot ``migrate diff`` keeps beside it records, must be the declared one; no server needed.

The snapshot cannot go stale silently: it records the atlas.sum total of the files it was made
from, so a migration edited or added since (and re-hashed) is reported, and ``migrate diff``
renews it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytest_ampdb import migrations
from pytest_ampdb.cli import main
from pytest_ampdb.migrations.snapshot import SNAPSHOT_FILE
from pytest_ampdb.paths import migrations_dir

NOTED_SCHEMA = """
from dataclasses import dataclass, replace
from pytest_ampdb.models import Organization
from pytest_ampdb.models.tables import ORGANIZATIONS, TABLES as PACKAGED

@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class NotedOrganization(Organization):
    note: str | None = None

TABLES = {**PACKAGED, "organizations": replace(ORGANIZATIONS, model=NotedOrganization)}
"""

HEADER = (
    "ampdb: schema packaged (pytest_ampdb.models.tables), 12 tables; migrations {dir} at "
    "version {version}, checked against ampdb.schema.json"
)


def memory_run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile("def test_x(ampdb): assert ampdb.projects.list().items")
    return pytester.runpytest_subprocess("-p", "no:randomly", "--ampdb=memory", *args)


def copy_packaged(root: Path) -> Path:
    directory = root / "migrations"
    shutil.copytree(migrations_dir(), directory)
    return directory


def one_error_line(result: pytest.RunResult) -> str:
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "Traceback" not in result.stderr.str()
    [line] = [x for x in result.stderr.lines if x.startswith("ERROR: pytest-ampdb:")]
    return line


def test_packaged_schema_passes_and_the_header_names_it(pytester: pytest.Pytester) -> None:
    result = memory_run(pytester)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [HEADER.format(dir="packaged schema/migrations", version="20261130074952")]
    )


def test_a_missing_directory_is_refused(pytester: pytest.Pytester) -> None:
    missing = pytester.path / "nowhere"
    line = one_error_line(memory_run(pytester, f"--ampdb-migrations={missing}"))
    assert str(missing) in line


def test_an_unhashed_edit_is_a_checksum_error(pytester: pytest.Pytester) -> None:
    directory = copy_packaged(pytester.path)
    first = sorted(directory.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited by hand\n")
    line = one_error_line(memory_run(pytester, f"--ampdb-migrations={directory}"))
    assert f"{first.name} was edited" in line


def test_a_directory_without_snapshot_is_refused(pytester: pytest.Pytester) -> None:
    directory = copy_packaged(pytester.path)
    (directory / SNAPSHOT_FILE).unlink()
    line = one_error_line(memory_run(pytester, f"--ampdb-migrations={directory}"))
    assert f"no schema snapshot ({SNAPSHOT_FILE})" in line
    assert f"ampdb migrate diff --dir {directory} NAME" in line


@pytest.mark.postgres
def test_a_hand_edited_migration_makes_the_snapshot_stale_and_diff_renews_it(
    pytester: pytest.Pytester, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = copy_packaged(pytester.path)
    (directory / "20990101000000_note.sql").write_text(
        "ALTER TABLE organizations ADD COLUMN note text NULL;\n"
    )
    migrations.write_sum(directory)  # re-hashed: atlas.sum alone cannot tell
    line = one_error_line(memory_run(pytester, f"--ampdb-migrations={directory}"))
    assert f"{directory / SNAPSHOT_FILE} is stale" in line
    assert "a migration was added, removed or edited since" in line

    # migrate diff answers with the migration back to the declarations, and a fresh snapshot
    code = main(["migrate", "diff", "--dir", str(directory), "--dev-url", fresh_database, "fix"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert 'DROP COLUMN "note"' in Path(out.strip().splitlines()[-1]).read_text()
    result = memory_run(pytester, f"--ampdb-migrations={directory}")
    result.assert_outcomes(passed=1)


@pytest.mark.postgres
def test_a_directory_built_for_other_declarations_names_table_and_column(
    pytester: pytest.Pytester, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The snapshot is current (made by migrate diff for a schema with organizations.note),
    but the run declares the packaged schema: one line names the table and column."""
    directory = copy_packaged(pytester.path)
    pytester.makepyfile(noted_schema=NOTED_SCHEMA)
    pytester.syspathinsert()
    argv = ["migrate", "diff", "--dir", str(directory), "--dev-url", fresh_database]
    code = main([*argv, "--to", "noted_schema", "add_note"])
    _, err = capsys.readouterr()
    assert code == 0, err
    line = one_error_line(memory_run(pytester, f"--ampdb-migrations={directory}"))
    assert line.endswith(
        "the migrations do not build the declared schema: table organizations column note: "
        "declared no such column, the migrations give text NULL; run 'ampdb migrate diff "
        f"--dir {directory} NAME' (it writes the missing migration, or only the snapshot)"
    )


def test_the_hint_names_the_schema_module_in_use(pytester: pytest.Pytester) -> None:
    """A project's schema differs from the migrations: the command the line suggests diffs
    against that schema (without ``--schema`` it would diff against the packaged tables and
    write drops of the project's own columns)."""
    directory = copy_packaged(pytester.path)
    pytester.makepyfile(noted_schema=NOTED_SCHEMA)
    line = one_error_line(
        memory_run(pytester, f"--ampdb-migrations={directory}", "--ampdb-schema=noted_schema")
    )
    assert "table organizations column note" in line
    assert f"run 'ampdb migrate diff --dir {directory} --schema noted_schema NAME'" in line
