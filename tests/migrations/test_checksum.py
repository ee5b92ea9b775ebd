"""atlas.sum: hashing byte for byte as Atlas, reading, and validation with Atlas's messages."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from pytest_ampdb.migrations import ChecksumError, hash_dir, validate_dir, write_sum
from pytest_ampdb.migrations.checksum import parse_sum

from ._support import CONFORMANCE_FOLDERS, MakeDir, conformance_copy

EMPTY_SUM = "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("folder", CONFORMANCE_FOLDERS)
def test_hash_writes_atlas_sum_byte_for_byte(folder: str, tmp_path: Path) -> None:
    directory = conformance_copy(folder, tmp_path)
    original = (directory / "atlas.sum").read_bytes()
    (directory / "atlas.sum").unlink()
    write_sum(directory)
    assert (directory / "atlas.sum").read_bytes() == original
    assert hash_dir(directory).encode() == original


@pytest.mark.parametrize("folder", CONFORMANCE_FOLDERS)
def test_validate_accepts_conformance_folder(folder: str, tmp_path: Path) -> None:
    validate_dir(conformance_copy(folder, tmp_path))


@pytest.mark.parametrize("folder", CONFORMANCE_FOLDERS)
def test_validate_names_an_edited_file(folder: str, tmp_path: Path) -> None:
    directory = conformance_copy(folder, tmp_path)
    last = sorted(p.name for p in directory.glob("*.sql"))[-1]
    with (directory / last).open("a") as fh:
        fh.write("\n-- edited\n")
    with pytest.raises(ChecksumError) as info:
        validate_dir(directory)
    names = sorted(p.name for p in directory.glob("*.sql"))
    assert (info.value.file, info.value.reason) == (last, "edited")
    assert info.value.line == names.index(last) + 2
    assert str(info.value) == f"checksum mismatch: L{info.value.line}: {last} was edited"
    assert info.value.atlas_report() == [
        "You have a checksum error in your migration directory.",
        "",
        f"\tL{info.value.line}: {last} was edited",
        "",
        "Please check your migration files and run 'ampdb migrate hash --dir DIR' to re-hash "
        "the contents",
        "",
    ]
    assert info.value.atlas_report(directory)[-2] == (
        f"Please check your migration files and run 'ampdb migrate hash --dir {directory}' to "
        "re-hash the contents"
    )


@pytest.mark.parametrize("folder", CONFORMANCE_FOLDERS)
def test_validate_names_an_added_file(folder: str, tmp_path: Path) -> None:
    directory = conformance_copy(folder, tmp_path)
    (directory / "99999999999999_new.sql").write_text("SELECT 1;\n")
    with pytest.raises(ChecksumError) as info:
        validate_dir(directory)
    count = len(list(directory.glob("*.sql")))
    assert (info.value.file, info.value.reason, info.value.line) == (
        "99999999999999_new.sql",
        "added",
        count + 1,
    )


@pytest.mark.parametrize("folder", CONFORMANCE_FOLDERS)
def test_validate_names_a_removed_file(folder: str, tmp_path: Path) -> None:
    directory = conformance_copy(folder, tmp_path)
    first = sorted(p.name for p in directory.glob("*.sql"))[0]
    (directory / first).unlink()
    with pytest.raises(ChecksumError) as info:
        validate_dir(directory)
    assert (info.value.file, info.value.reason, info.value.line) == (first, "removed", 2)


def test_running_hash_over_names_and_contents(make_dir: MakeDir) -> None:
    directory = make_dir({"1_a.sql": "CREATE TABLE a();\n", "2_b.sql": "CREATE TABLE b();\n"})
    h = hashlib.sha256()
    h.update(b"1_a.sql")
    h.update(b"CREATE TABLE a();\n")
    first = _b64(h.digest())
    h.update(b"2_b.sql")
    h.update(b"CREATE TABLE b();\n")
    second = _b64(h.digest())
    total = _b64(hashlib.sha256(f"1_a.sql{first}2_b.sql{second}".encode()).digest())
    expected = f"h1:{total}\n1_a.sql h1:{first}\n2_b.sql h1:{second}\n"
    assert (directory / "atlas.sum").read_text() == expected


def test_empty_directory_sum(tmp_path: Path) -> None:
    assert hash_dir(tmp_path) == EMPTY_SUM
    validate_dir(tmp_path)  # no files and no sum: valid


def test_missing_sum_with_files(make_dir: MakeDir) -> None:
    directory = make_dir({"1.sql": "SELECT 1;"}, hashed=False)
    with pytest.raises(ChecksumError, match=r"^checksum file not found$"):
        validate_dir(directory)


def test_names_sort_bytewise_and_every_sql_name_counts(make_dir: MakeDir) -> None:
    directory = make_dir(
        {
            "9_x.sql": "SELECT 9;",
            "10_x.sql": "SELECT 10;",
            ".hidden.sql": "",
            "B.sql": "",
            "a.up.sql": "",
            "notes.txt": "ignored",
        }
    )
    (directory / "sub").mkdir()  # a directory named "*.sql": test_dir_edge_cases.py
    names = [line.split(" ")[0] for line in hash_dir(directory).splitlines()[1:]]
    assert names == [".hidden.sql", "10_x.sql", "9_x.sql", "B.sql", "a.up.sql"]


def test_sum_ignore_hashes_the_name_only(make_dir: MakeDir) -> None:
    body = "-- atlas:sum ignore\nSELECT 1;\n"
    directory = make_dir({"1_a.sql": "SELECT 1;", "2_ignored.sql": body, "3_c.sql": "SELECT 3;"})
    lines = hash_dir(directory).splitlines()
    assert [line.split(" ")[0] for line in lines[1:]] == ["1_a.sql", "3_c.sql"]
    h = hashlib.sha256()
    for chunk in (b"1_a.sql", b"SELECT 1;", b"2_ignored.sql", b"3_c.sql", b"SELECT 3;"):
        h.update(chunk)
    assert lines[2] == f"3_c.sql h1:{_b64(h.digest())}"
    # Editing the ignored file keeps the directory valid.
    (directory / "2_ignored.sql").write_text(body + "SELECT 2;\n")
    validate_dir(directory)


@pytest.mark.parametrize(
    "first_line",
    ["-- atlas:sum ignore\r\n", "\ufeff-- atlas:sum ignore\n", "-- atlas:sum ignored\n"],
    ids=["crlf", "bom", "other-word"],
)
def test_sum_ignore_must_be_exact(make_dir: MakeDir, first_line: str) -> None:
    directory = make_dir({"1_a.sql": first_line + "SELECT 1;\n"})
    assert len(hash_dir(directory).splitlines()) == 2  # the file has an entry


def test_sum_ignore_only_on_first_line(make_dir: MakeDir) -> None:
    directory = make_dir({"1_a.sql": "SELECT 1;\n-- atlas:sum ignore\n"})
    assert len(hash_dir(directory).splitlines()) == 2


def test_read_sum_with_crlf_line_endings(make_dir: MakeDir) -> None:
    directory = make_dir({"1_a.sql": "SELECT 1;"})
    text = (directory / "atlas.sum").read_bytes()
    (directory / "atlas.sum").write_bytes(text.replace(b"\n", b"\r\n"))
    validate_dir(directory)


def test_blank_line_in_sum_is_a_format_error(make_dir: MakeDir) -> None:
    directory = make_dir({"1_a.sql": "SELECT 1;"})
    text = (directory / "atlas.sum").read_text()
    (directory / "atlas.sum").write_text(text.replace("\n", "\n\n", 1))
    with pytest.raises(ChecksumError, match=r"^checksum file format invalid$"):
        validate_dir(directory)


def test_tampered_header_is_a_mismatch(make_dir: MakeDir) -> None:
    directory = make_dir({"1_a.sql": "SELECT 1;"})
    lines = (directory / "atlas.sum").read_text().splitlines(keepends=True)
    lines[0] = "h1:" + _b64(b"x" * 32) + "\n"
    (directory / "atlas.sum").write_text("".join(lines))
    with pytest.raises(ChecksumError) as info:
        validate_dir(directory)
    assert str(info.value) == "checksum mismatch"
    assert info.value.file is None


def test_parse_sum_trims_names() -> None:
    parsed = parse_sum(hash_line_file())
    assert [e.name for e in parsed.entries] == [b"1_a.sql"]


def hash_line_file() -> bytes:
    h = hashlib.sha256(b"1_a.sqlSELECT 1;").digest()
    entry = _b64(h)
    total = _b64(hashlib.sha256(f"1_a.sql{entry}".encode()).digest())
    return f"h1:{total}\n  1_a.sql   h1:{entry}\n".encode()


def test_edited_middle_file_is_reported_at_its_line(make_dir: MakeDir) -> None:
    directory = make_dir({"1.sql": "SELECT 1;", "2.sql": "SELECT 2;", "3.sql": "SELECT 3;"})
    (directory / "2.sql").write_text("SELECT 22;")
    with pytest.raises(ChecksumError) as info:
        validate_dir(directory)
    assert (info.value.line, info.value.file, info.value.reason) == (3, "2.sql", "edited")


def test_file_added_in_the_middle_is_reported_as_added(make_dir: MakeDir) -> None:
    directory = make_dir({"1.sql": "SELECT 1;", "3.sql": "SELECT 3;"})
    (directory / "2.sql").write_text("SELECT 2;")
    with pytest.raises(ChecksumError) as info:
        validate_dir(directory)
    assert (info.value.line, info.value.file, info.value.reason) == (3, "2.sql", "added")
