"""The conformance folders (real Atlas directories) applied to PostgreSQL 15, as their README asks.

The schema ``apply`` leaves is compared with what ``psql -f`` of the same files, in order, leaves
in a second database (a ``pg_dump --schema-only`` of each, without the revisions schema).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_ampdb.migrations import StatementError, apply, split_statements

from ._support import conformance_copy, query, revisions, tables

pytestmark = pytest.mark.postgres

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _tool(name: str) -> str:
    for candidate in (PG_BIN / name, shutil.which(name)):
        if candidate and Path(candidate).exists():
            return str(candidate)
    reason = f"{name} 15 not found"
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _psql_files(dsn: str, directory: Path) -> None:
    psql = _tool("psql")
    for f in sorted(directory.glob("*.sql"), key=lambda p: p.name.encode()):
        subprocess.run(
            [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(f)],
            check=True,
            capture_output=True,
        )


def _schema_dump(dsn: str) -> str:
    out = subprocess.run(
        [
            _tool("pg_dump"),
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            "--exclude-schema=atlas_schema_revisions",
            "-d",
            dsn,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # Drop the lines that differ between any two dumps (versions, pg_dump's random \restrict key).
    volatile = ("-- Dumped", "\\restrict", "\\unrestrict")
    return "\n".join(line for line in out.splitlines() if not line.startswith(volatile))


@pytest.mark.parametrize("folder", ["ariga__atlas", "1995parham-teaching__tinyurl"])
def test_apply_matches_psql(
    folder: str, tmp_path: Path, fresh_database: str, other_database: str
) -> None:
    directory = conformance_copy(folder, tmp_path)
    report = apply(fresh_database, directory)
    files = sorted(p.name for p in directory.glob("*.sql"))
    assert [f.name for f in report.applied] == files

    rows = revisions(fresh_database)
    assert len(rows) == len(files)
    for row, name in zip(rows, files, strict=True):
        text = (directory / name).read_text()
        assert row["version"] == name.removesuffix(".sql").split("_", 1)[0]
        assert row["applied"] == row["total"] == len(split_statements(text))
        assert row["error"] == ""
        sum_line = next(
            line for line in (directory / "atlas.sum").read_text().splitlines()
            if line.startswith(name + " ")
        )  # fmt: skip
        assert "h1:" + str(row["hash"]) == sum_line.split(" ", 1)[1]

    _psql_files(other_database, directory)
    dumped = _schema_dump(fresh_database)
    assert "CREATE" in dumped
    assert dumped == _schema_dump(other_database)


def test_tinyurl_procedure_body_runs(tmp_path: Path, fresh_database: str) -> None:
    apply(fresh_database, conformance_copy("1995parham-teaching__tinyurl", tmp_path))
    query(fresh_database, "INSERT INTO urls (key, url, visits) VALUES ('k', 'u', 0)")
    query(fresh_database, "CALL visit('k')")
    assert query(fresh_database, "SELECT visits FROM urls") == [(1,)]


def test_mysql_directory_fails_cleanly(tmp_path: Path, fresh_database: str) -> None:
    directory = conformance_copy("AnuchitO__atlasgo-db-migration", tmp_path)
    with pytest.raises(StatementError) as info:
        apply(fresh_database, directory, tx_mode="file")
    err = info.value
    assert err.name == "20230730113032_create_blog_posts.sql"
    assert err.version == "20230730113032"
    assert err.stmt.startswith("CREATE TABLE `users`")
    assert err.sqlstate == "42601"
    assert str(err).startswith('executing statement "CREATE TABLE `users` (`id` int NOT NULL')
    assert 'from version "20230730113032": ERROR: syntax error at or near "`"' in str(err)
    assert tables(fresh_database) == []
    assert revisions(fresh_database) == []
