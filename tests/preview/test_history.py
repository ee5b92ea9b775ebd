"""Detecting an applied migration that changed or disappeared, from the revisions' hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_ampdb.migrations import MigrationDir, write_sum
from pytest_ampdb.migrations.directory import MigrationFile
from pytest_ampdb.migrations.revisions import Revision
from pytest_ampdb.preview import HistoryDriftError
from pytest_ampdb.preview.history import check_history

FILES = {
    "001_a.sql": "CREATE TABLE a (id int);\n",
    "002_b.sql": "CREATE TABLE b (id int);\n",
    "003_c.sql": "CREATE TABLE c (id int);\n",
}


def _files(directory: Path, files: dict[str, str]) -> list[MigrationFile]:
    directory.mkdir()
    for name, text in files.items():
        (directory / name).write_text(text)
    write_sum(directory)
    return MigrationDir(directory).files()


def _applied(files: list[MigrationFile]) -> list[Revision]:
    return [Revision(f.version, f.description, applied=1, total=1, hash=f.hash) for f in files]


@pytest.fixture
def revisions(tmp_path: Path) -> list[Revision]:
    return _applied(_files(tmp_path / "original", FILES))


def test_an_unchanged_directory_passes(tmp_path: Path, revisions: list[Revision]) -> None:
    check_history("pr-x", _files(tmp_path / "same", FILES), revisions)


def test_a_new_file_after_the_applied_ones_passes(
    tmp_path: Path, revisions: list[Revision]
) -> None:
    files = _files(tmp_path / "more", {**FILES, "004_d.sql": "CREATE TABLE d (id int);\n"})
    check_history("pr-x", files, revisions)


def test_an_edit_is_pinned_on_its_own_file(tmp_path: Path, revisions: list[Revision]) -> None:
    files = _files(tmp_path / "edited", {**FILES, "002_b.sql": "CREATE TABLE b (id bigint);\n"})
    with pytest.raises(HistoryDriftError) as info:
        check_history("pr-x", files, revisions)
    assert (info.value.file, info.value.reason) == ("002_b.sql", "changed")
    assert "use --recreate to rebuild the preview from scratch" in str(info.value)


def test_a_removed_file_is_named(tmp_path: Path, revisions: list[Revision]) -> None:
    files = _files(tmp_path / "removed", {k: v for k, v in FILES.items() if k != "002_b.sql"})
    with pytest.raises(HistoryDriftError) as info:
        check_history("pr-x", files, revisions)
    assert (info.value.file, info.value.reason) == ("002_b.sql", "removed")


def test_a_file_added_out_of_order_is_not_called_an_edit(
    tmp_path: Path, revisions: list[Revision]
) -> None:
    files = _files(tmp_path / "ooo", {**FILES, "0015_x.sql": "CREATE TABLE x (id int);\n"})
    check_history("pr-x", files, revisions)  # the engine's linear check reports it instead
