"""Migration files: versions, descriptions, header directives, new files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pytest_ampdb.migrations import (
    ChecksumError,
    DirectiveError,
    DirectoryError,
    FileScanError,
    MigrationFile,
    new_file,
    validate_dir,
)

from ._support import MakeDir


def _file(text: str, name: str = "1_x.sql") -> MigrationFile:
    return MigrationFile(name, text.encode())


@pytest.mark.parametrize(
    ("name", "version", "description"),
    [
        ("20260127235159_add_users.sql", "20260127235159", "add_users"),
        ("20230730144426.sql", "20230730144426", ""),
        ("1_initial.sql", "1", "initial"),
        ("2_two_words_here.sql", "2", "two_words_here"),
        ("3_.sql", "3", ""),
        ("x.up.sql", "x.up", ""),
    ],
)
def test_version_and_description(name: str, version: str, description: str) -> None:
    f = MigrationFile(name, b"")
    assert (f.version, f.description) == (version, description)


def test_txmode_directive_needs_a_blank_line_after_the_header() -> None:
    assert _file("-- atlas:txmode none\n\nCREATE INDEX CONCURRENTLY i ON t (a);").txmode() == "none"
    # The classic trap: directly above the statement, the comment belongs to it and is ignored.
    assert _file("-- atlas:txmode none\nCREATE INDEX CONCURRENTLY i ON t (a);").txmode() is None


def test_directives_in_a_multi_line_header() -> None:
    f = _file("-- header\n# atlas:checkpoint v1\n-- atlas:txmode file\n\nSELECT 1;")
    assert f.txmode() == "file"
    assert f.is_checkpoint
    assert f.checkpoint_tag == "v1"


def test_checkpoint_without_tag() -> None:
    f = _file("-- atlas:checkpoint\n\nSELECT 1;")
    assert f.is_checkpoint
    assert f.checkpoint_tag == ""
    assert not _file("SELECT 1;\n-- atlas:checkpoint\n\n").is_checkpoint


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            "-- atlas:txmode all",
            'txmode "all" is not allowed in file directive "1_x.sql". Use "file" instead',
        ),
        ("-- atlas:txmode bogus", 'unknown txmode "bogus" found in file directive "1_x.sql"'),
        (
            "-- atlas:txmode none\n-- atlas:txmode file",
            'multiple txmode values found in file "1_x.sql": ["none" "file"]',
        ),
    ],
)
def test_invalid_txmode_directives(header: str, message: str) -> None:
    with pytest.raises(DirectiveError) as info:
        _file(header + "\n\nSELECT 1;").txmode()
    assert str(info.value) == message


def test_per_file_mode_under_global_all_is_an_error() -> None:
    f = _file("-- atlas:txmode none\n\nSELECT 1;")
    assert f.mode_under("file") == "none"
    with pytest.raises(DirectiveError) as info:
        f.mode_under("all")
    assert str(info.value) == (
        'cannot set txmode directive to "none" in "1_x.sql" when txmode "all" is set globally'
    )


def test_scan_error_names_the_file() -> None:
    with pytest.raises(FileScanError) as info:
        _file("SELECT (1));", name="7_bad.sql").statements()
    assert str(info.value) == "scanning statements from \"7_bad.sql\": 1:11: unexpected ')'"


def test_partial_hashes_are_cumulative() -> None:
    import base64
    import hashlib

    f = _file("SELECT 1;\nSELECT 2;")
    h = hashlib.sha256(b"SELECT 1;")
    first = "h1:" + base64.b64encode(h.digest()).decode()
    h.update(b"SELECT 2;")
    second = "h1:" + base64.b64encode(h.digest()).decode()
    assert f.partial_hashes() == [first, second]


def test_new_file_is_timestamped_in_utc_and_rehashed(make_dir: MakeDir) -> None:
    directory = make_dir({"1_a.sql": "SELECT 1;"})
    now = dt.datetime(2026, 1, 27, 23, 51, 59, tzinfo=dt.UTC)
    path = new_file(directory, "add_users", now=now)
    assert path.name == "20260127235159_add_users.sql"
    assert path.read_bytes() == b""
    validate_dir(directory)
    assert new_file(directory, now=now + dt.timedelta(seconds=1)).name == "20260127235200.sql"
    # A second file in the same second would share the version: refused, nothing written.
    with pytest.raises(DirectoryError, match=r"^migration file 20260127235200\.sql already has "):
        new_file(directory, "again", now=now + dt.timedelta(seconds=1))
    validate_dir(directory)


def test_new_file_refuses_a_directory_with_a_stale_sum(make_dir: MakeDir) -> None:
    directory = make_dir({"1_a.sql": "SELECT 1;"})
    (directory / "1_a.sql").write_text("SELECT 2;")
    with pytest.raises(ChecksumError):
        new_file(directory, "x")
    assert sorted(p.name for p in Path(directory).glob("*.sql")) == ["1_a.sql"]
