"""Atlas's statement-scanner goldens (``sql/migrate/testdata/lex*``, ``lex_test.go``) through
our splitter, with the options each of Atlas's tests sets; read from Atlas's source."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

import pytest

from pytest_ampdb.migrations.errors import ScanError
from pytest_ampdb.migrations.splitter import ScanOptions, split_statements

from ._atlas_source import atlas_file, atlas_listing

pytestmark = pytest.mark.atlas_source

TESTDATA = "sql/migrate/testdata"
Options = Callable[[str], ScanOptions]
# lex_test.go: each folder's scanner options (by file name).
FOLDERS: dict[str, Options] = {
    "lex": lambda name: ScanOptions(
        backslash_escapes=True, escaped_string_ext=True, hash_comments="_pg" not in name
    ),
    "lexgroup": lambda name: ScanOptions(
        match_begin_atomic=False, match_dollar_quote=False, escaped_string_ext=False
    ),
}
# SQL Server's: its GO command and BEGIN TRY/CATCH blocks, which PostgreSQL has not.
NOT_POSTGRESQL = {"lex/19_ms_gocmd.sql", "lex/20_ms_go-delim.sql", "lexbegintry/1.sql"}
ESCAPED = {"lexescaped/1.my.sql", "lexescaped/2.pg.sql"}  # their own test, below


def _text(path: str) -> str:
    return atlas_file(f"{TESTDATA}/{path}").decode()


def _joined(text: str, options: ScanOptions) -> str:
    return "\n-- end --\n".join(s.text for s in split_statements(text, options))


def _inputs() -> list[str]:
    return [
        str(PurePosixPath(p).relative_to(TESTDATA))
        for p in atlas_listing(TESTDATA)
        if PurePosixPath(p).parent.name.startswith("lex") and p.endswith(".sql")
    ]


def test_every_golden_is_driven_or_named() -> None:
    inputs = set(_inputs())
    driven = {p for p in inputs if p.split("/")[0] in FOLDERS} - NOT_POSTGRESQL
    assert inputs == driven | ESCAPED | NOT_POSTGRESQL
    assert len(driven) == 21


def test_goldens_split_as_atlas_s_scanner_splits_them() -> None:
    for path in _inputs():
        folder, name = path.split("/")
        if folder not in FOLDERS or path in NOT_POSTGRESQL:
            continue
        assert _joined(_text(path), FOLDERS[folder](name)) == _text(path + ".golden"), path


def test_escaped_strings_as_atlas_s_scanner_reads_them() -> None:
    # lex_test.go TestScanner_EscapedStrings: MySQL's backslashes, then PostgreSQL's E'...'.
    mysql, pg = _text("lexescaped/1.my.sql"), _text("lexescaped/2.pg.sql")
    bare = {"match_begin": False, "match_begin_atomic": False, "match_dollar_quote": False}
    backslashes = ScanOptions(**bare, backslash_escapes=True, escaped_string_ext=False)
    assert _joined(mysql, backslashes) == _text("lexescaped/1.my.sql.golden")
    with pytest.raises(ScanError, match=r"^4:40: unclosed quote '\\''$"):
        split_statements(pg, backslashes)
    extension = ScanOptions(**bare)
    with pytest.raises(ScanError, match=r"^4:42: unclosed quote '\\''$"):
        split_statements(mysql, extension)
    assert _joined(pg, extension) == _text("lexescaped/2.pg.sql.golden")
