"""Directory edge cases of Atlas's ``sql/migrate/dir_test.go``: each behaves as Atlas does, or is
refused before anything runs with one line naming the file."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import psycopg
import pytest

from pytest_ampdb.migrations import (
    ChecksumError,
    DirectoryError,
    MigrationDir,
    MigrationFile,
    checksum,
    hash_dir,
    validate_dir,
    write_sum,
)

from ._atlas_source import atlas_copy, atlas_listing
from ._support import MakeDir, revisions, run_cli, tables


def _raw_dir(tmp_path: Path, files: dict[str, bytes | None]) -> Path:
    """Files written byte for byte (None: a sub-directory), then hashed."""
    directory = tmp_path / "migrations"
    directory.mkdir(parents=True)
    for name, content in files.items():
        if content is None:
            (directory / name).mkdir()
        else:
            (directory / name).write_bytes(content)
    return directory


def test_an_empty_directory_hashes_to_the_empty_sum(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = _raw_dir(tmp_path, {})
    assert run_cli(capsys, "migrate", "validate", "--dir", str(directory)) == (0, "", "")
    assert run_cli(capsys, "migrate", "hash", "--dir", str(directory)) == (0, "", "")
    empty = base64.b64encode(hashlib.sha256().digest()).decode()
    assert (directory / "atlas.sum").read_text() == f"h1:{empty}\n"


def test_only_lowercase_sql_files_of_the_directory_itself_are_migrations(tmp_path: Path) -> None:
    # Atlas globs "*.sql": other files, upper-case ".SQL" and sub-directories are not read.
    directory = _raw_dir(
        tmp_path,
        {
            "1_a.sql": b"SELECT 1;",
            "2_b.SQL": b"SELECT 2;",
            "README.md": b"notes",
            "exclude.txt": b"",
            "sub": None,
        },
    )
    (directory / "sub" / "3_c.sql").write_bytes(b"SELECT 3;")
    assert [f.name for f in MigrationDir(directory).files()] == ["1_a.sql"]
    assert hash_dir(directory) == hash_dir(_raw_dir(tmp_path / "x", {"1_a.sql": b"SELECT 1;"}))


def test_a_directory_named_like_a_migration_is_refused_as_atlas_refuses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = _raw_dir(tmp_path, {"1_a.sql": b"SELECT 1;", "2_b.sql": None})
    for command in ("hash", "validate"):
        assert run_cli(capsys, "migrate", command, "--dir", str(directory)) == (
            1,
            "",
            f'ampdb: error: read file "2_b.sql": read {directory / "2_b.sql"}: is a directory\n',
        )
    assert not (directory / "atlas.sum").exists()


def test_crlf_files_hash_byte_for_byte_and_split_as_atlas(tmp_path: Path) -> None:
    lf = b"-- atlas:txmode none\n\nCREATE TABLE a ();\nCREATE TABLE b ();\n"
    crlf = lf.replace(b"\n", b"\r\n")
    (f,) = MigrationDir(_raw_dir(tmp_path, {"1_a.sql": crlf})).files()
    assert f.statements() == ["CREATE TABLE a ();", "CREATE TABLE b ();"]
    # Atlas's header ends at a line holding only spaces or tabs: "\r" is neither, so a CRLF
    # file has no header directives, in Atlas as here.
    assert f.txmode() is None
    (g,) = MigrationDir(_raw_dir(tmp_path / "lf", {"1_a.sql": lf})).files()
    assert g.txmode() == "none"
    assert f.hash != g.hash


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"\xef\xbb\xbfCREATE TABLE c ();",
            'scanning statements from "2_c.sql": 1:1: a UTF-8 byte order mark, which PostgreSQL '
            "reads as a syntax error: save the file without it",
        ),
        (
            b"-- atlas:import shared/users.sql\n\nCREATE TABLE c ();",
            'atlas:import directive in "2_c.sql" is not supported by ampdb (the file would run '
            "without what the directive names)",
        ),
        (
            b"-- atlas:txtar\n\n-- c.sql --\nCREATE TABLE c ();",
            'atlas:txtar directive in "2_c.sql" is not supported by ampdb (the file would run '
            "without what the directive names)",
        ),
    ],
    ids=["bom", "import", "txtar"],
)
def test_files_atlas_would_run_wrongly_are_refused_before_anything_runs(
    content: bytes,
    message: str,
    make_dir: MakeDir,
    fresh_database: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    directory = make_dir({"1_a.sql": "CREATE TABLE a ();"}, hashed=False)
    (directory / "2_c.sql").write_bytes(content)
    write_sum(directory)
    argv = ["migrate", "apply", "--dir", str(directory), "--url", fresh_database]
    assert run_cli(capsys, *argv) == (1, "", f"ampdb: error: {message}\n")
    assert tables(fresh_database) == []
    assert revisions(fresh_database) == []
    # The directory itself is valid: atlas.sum hashes the bytes as Atlas does.
    assert run_cli(capsys, "migrate", "validate", "--dir", str(directory)) == (0, "", "")


@pytest.mark.postgres
def test_postgresql_does_fail_on_a_byte_order_mark(fresh_database: str) -> None:
    # Why the BOM is refused: sent as Atlas sends it, the statement fails on the server.
    with (
        psycopg.connect(fresh_database, autocommit=True) as conn,
        pytest.raises(psycopg.errors.SyntaxError),
    ):
        conn.execute("\ufeffCREATE TABLE c ()".encode())


def _atlas_sum_folders() -> list[str]:
    return [
        str(Path(p).parent) for p in atlas_listing(".") if Path(p).name == "atlas.sum"
    ]  # fmt: skip


@pytest.mark.atlas_source
def test_every_atlas_sum_in_atlas_s_tree_is_the_one_we_write(tmp_path: Path) -> None:
    """Atlas's own directories (sql/migrate/testdata, cmdapi/testdata, integration, atlasexec):
    hashed here, each gives its atlas.sum byte for byte, and validates."""
    folders = _atlas_sum_folders()
    assert len(folders) >= 20
    for folder in folders:
        directory = atlas_copy(folder, tmp_path)
        assert hash_dir(directory).encode() == (directory / "atlas.sum").read_bytes(), folder
        if folder == "sql/migrate/testdata/migrate":  # golang-migrate's up/down: one version
            with pytest.raises(
                DirectoryError, match=r"1_initial\.down\.sql and 1_initial\.up\.sql"
            ):
                validate_dir(directory)
        else:
            validate_dir(directory)


@pytest.mark.atlas_source
def test_versions_and_descriptions_of_atlas_s_sub_directory(tmp_path: Path) -> None:
    # Atlas's sql/migrate/dir_test.go TestLocalDir, on its testdata/migrate/sub.
    files = MigrationDir(atlas_copy("sql/migrate/testdata/migrate/sub", tmp_path)).files()
    assert [(f.name, f.version, f.description) for f in files] == [
        ("1.a_sub.up.sql", "1.a", "sub.up"),
        ("2.10.x-20_description.sql", "2.10.x-20", "description"),
        ("3_partly.sql", "3", "partly"),
    ]
    assert files[0].statements() == ["CREATE TABLE t_sub(c int);", "ALTER TABLE t_sub ADD c1 int;"]
    assert files[1].statements() == ["ALTER TABLE t_sub ADD c2 int;"]


@pytest.mark.postgres
@pytest.mark.atlas_source
def test_a_first_run_starts_at_the_last_checkpoint_of_atlas_s_directory(
    tmp_path: Path, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Atlas's sql/migrate/testdata/partial-checkpoint (MySQL's SQL: a dry run and the status).
    directory = atlas_copy("sql/migrate/testdata/partial-checkpoint", tmp_path)
    common = ["--dir", f"file://{directory}", "--url", fresh_database]
    code, out, err = run_cli(capsys, "migrate", "status", *common)
    assert (code, err) == (0, "")
    assert out.splitlines()[:3] == [
        "Migration Status: PENDING",
        "  -- Current Version: No migration applied yet",
        "  -- Next Version:    5 (checkpoint)",
    ]
    code, out, err = run_cli(capsys, "migrate", "apply", *common, "--dry-run")
    assert (code, err) == (0, "")
    assert out.startswith("Migrating to version 6 (2 migrations in total):\n")
    assert [line for line in out.splitlines() if "migrating version" in line] == [
        "  -- migrating version 5",
        "  -- migrating version 6",
    ]


@pytest.mark.atlas_source
def test_validate_locates_drift_as_atlas_on_its_testdata(tmp_path: Path) -> None:
    """Atlas's sql/migrate/dir_test.go TestValidate, step by step, on its testdata/migrate (the
    atlas.sum check: that directory's up/down pair shares a version, refused after it)."""

    def located(directory: Path) -> tuple[str, int | None, str | None, str | None]:
        with pytest.raises(ChecksumError) as info:
            checksum.validate_dir(directory)
        e = info.value
        return (e.kind, e.line, e.file, e.reason)

    source = atlas_copy("sql/migrate/testdata/migrate", tmp_path)
    good = (source / "atlas.sum").read_bytes()
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "atlas.sum").write_bytes(good)
    assert located(empty) == ("mismatch", 2, "1_initial.down.sql", "removed")

    checksum.validate_dir(source)
    (source / "atlas.sum").write_bytes(b"foo" + good[3:])
    assert located(source) == ("mismatch", None, None, None)
    (source / "atlas.sum").write_bytes(good + b"foo")
    assert located(source) == ("format", None, None, None)
    (source / "atlas.sum").write_bytes(good)

    up = source / "1_initial.up.sql"
    original = up.read_bytes()
    up.write_bytes(original + b"something")
    assert located(source) == ("mismatch", 3, "1_initial.up.sql", "edited")
    up.write_bytes(original)

    (source / "2_second.sql").write_bytes(b"stmt")
    assert located(source) == ("mismatch", 4, "2_second.sql", "added")
    (source / "2_second.sql").unlink()

    up.rename(source / "1_first.up.sql")
    assert located(source) == ("mismatch", 2, "1_first.up.sql", "added")
    (source / "1_first.up.sql").unlink()
    assert located(source) == ("mismatch", 3, "1_initial.up.sql", "removed")


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [  # Atlas's sql/migrate/dir_test.go TestLocalFile_Directive and _CheckpointTag
        ("-- atlas:lint ignore\nalter table users drop column id;\n", "lint", []),
        (
            "-- atlas:lint ignore\n\nalter table users drop column id;\n\n-- atlas:lint DS102\n"
            "alter table pets drop column id;\n",
            "lint",
            ["ignore"],
        ),
        (
            "-- atlas:lint ignore\n-- atlas:txmode none\n\nalter table t drop column id;\n",
            "lint",
            ["ignore"],
        ),
        (
            "-- atlas:lint ignore\n-- atlas:txmode none\n\nalter table t drop column id;\n",
            "txmode",
            ["none"],
        ),
        ("-- atlas:nolint\n\nalter table users drop column id;\n", "nolint", [""]),
        ("", "lint", []),
        ("-- atlas:lint ignore", "lint", []),
        ("-- atlas:lint ignore\n\n", "lint", ["ignore"]),
        (
            "-- atlas:import foo\n-- atlas:import\n-- atlas:import bar baz\n-- atlas:import qux\n"
            "-- atlas:import files_📄\n\nalter table users drop column id;\n",
            "import",
            ["foo", "", "bar baz", "qux", "files_📄"],
        ),
        ("-- atlas:import foo\n", "import", ["foo"]),
        ("-- atlas:checkpoint\nSELECT 1;", "checkpoint", []),
        ("-- atlas:checkpoint tag\nSELECT 1;", "checkpoint", []),
        ("-- atlas:checkpoint\n\nSELECT 1;", "checkpoint", [""]),
        ("-- atlas:checkpoint tag\n\nSELECT 1;", "checkpoint", ["tag"]),
    ],
)
def test_file_directives_as_atlas_reads_them(content: str, name: str, expected: list[str]) -> None:
    f = MigrationFile("1.sql", content.encode())
    assert f.directives(name) == expected
    if name == "checkpoint":
        assert (f.is_checkpoint, f.checkpoint_tag) == (bool(expected), "".join(expected))
