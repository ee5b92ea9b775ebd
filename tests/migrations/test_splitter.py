"""The PostgreSQL statement splitter: Atlas's statement boundaries, texts and error positions."""

from __future__ import annotations

import psycopg
import pytest

from pytest_ampdb.migrations import ScanError, split_statements
from pytest_ampdb.migrations.splitter import ScanOptions, statement_texts


def test_splits_on_semicolons_and_trims() -> None:
    assert statement_texts("  CREATE TABLE a(id int);\n\nCREATE TABLE b(id int) ;  \n") == [
        "CREATE TABLE a(id int);",
        "CREATE TABLE b(id int) ;",
    ]


def test_trailing_remainder_without_semicolon_is_the_last_statement() -> None:
    assert statement_texts("SELECT 1;\nSELECT 2") == ["SELECT 1;", "SELECT 2"]


def test_only_whitespace_and_comments_yield_nothing() -> None:
    assert statement_texts("") == []
    assert statement_texts("\n  \n-- just a comment\n") == []


def test_semicolons_inside_quotes_and_identifiers() -> None:
    text = "INSERT INTO \"we;ird\" VALUES ('a;b', 'it''s; fine');\nSELECT `x;y`;"
    assert statement_texts(text) == [
        "INSERT INTO \"we;ird\" VALUES ('a;b', 'it''s; fine');",
        "SELECT `x;y`;",
    ]


def test_semicolons_inside_parentheses() -> None:
    assert statement_texts("CREATE RULE r AS ON INSERT TO t DO (SELECT 1; SELECT 2);\nX;") == [
        "CREATE RULE r AS ON INSERT TO t DO (SELECT 1; SELECT 2);",
        "X;",
    ]


def test_dollar_quoted_bodies() -> None:
    text = (
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\n"
        "BEGIN\n  PERFORM 1;\n  RETURN 1;\nEND;\n$$;\n"
        "CREATE FUNCTION g() RETURNS text LANGUAGE sql AS $body$ SELECT '$$;' $body$;\n"
        "DO $x$ BEGIN RAISE NOTICE 'a;b'; END $x$;\n"
        "SELECT $1 + 1;"
    )
    assert statement_texts(text) == [
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\n"
        "BEGIN\n  PERFORM 1;\n  RETURN 1;\nEND;\n$$;",
        "CREATE FUNCTION g() RETURNS text LANGUAGE sql AS $body$ SELECT '$$;' $body$;",
        "DO $x$ BEGIN RAISE NOTICE 'a;b'; END $x$;",
        "SELECT $1 + 1;",
    ]


def test_begin_atomic_body_is_one_statement() -> None:
    body = (
        "CREATE FUNCTION add1(x int) RETURNS int LANGUAGE SQL\n"
        "BEGIN ATOMIC\n  SELECT x + 1;\n  SELECT x + 2;\nEND;"
    )
    assert statement_texts(body + "\nSELECT 3;") == [body, "SELECT 3;"]


def test_begin_end_block_is_one_statement() -> None:
    block = "CREATE PROCEDURE p()\nBEGIN\n  IF a THEN\n    SELECT 1;\n  END IF;\nEND;"
    assert statement_texts(block + "\nSELECT 2;") == [block, "SELECT 2;"]


def test_transaction_begin_is_not_a_block() -> None:
    assert statement_texts("BEGIN;\nSELECT 1;\nCOMMIT;") == ["BEGIN;", "SELECT 1;", "COMMIT;"]


def test_comments_above_a_statement_are_not_part_of_it() -> None:
    stmts = split_statements(
        '-- Create "t" table\nCREATE TABLE t (a int -- inline; note\n);\n'
        "/* block; comment */\nSELECT /* inside; */ 1;\n"
    )
    assert [s.text for s in stmts] == [
        "CREATE TABLE t (a int -- inline; note\n);",
        "SELECT /* inside; */ 1;",
    ]
    assert stmts[0].comments == ['-- Create "t" table\n']
    assert stmts[1].comments == ["/* block; comment */"]


def test_blank_line_detaches_comments() -> None:
    stmts = split_statements("-- header\n\nSELECT 1;")
    assert stmts[0].comments == []


def test_custom_delimiter_directive() -> None:
    text = (
        "-- atlas:delimiter -- end\n\n"
        "CREATE PROCEDURE visit() LANGUAGE SQL BEGIN ATOMIC\n  SELECT 1;\nEND;\n\n-- end\n"
        "SELECT 2; SELECT 3;\n-- end\n"
    )
    assert statement_texts(text) == [
        "CREATE PROCEDURE visit() LANGUAGE SQL BEGIN ATOMIC\n  SELECT 1;\nEND;",
        "SELECT 2; SELECT 3;",
    ]


def test_delimiter_escapes_are_expanded() -> None:
    assert statement_texts("-- atlas:delimiter \\n\\n\nSELECT 1;\nSELECT 2\n\nSELECT 3") == [
        "SELECT 1;\nSELECT 2",
        "SELECT 3",
    ]


def test_delimiter_directive_needs_exact_prefix() -> None:
    # "--atlas:delimiter" (no space) is not a delimiter directive: ";" still splits.
    assert statement_texts("--atlas:delimiter //\nSELECT 1; SELECT 2;") == [
        "SELECT 1;",
        "SELECT 2;",
    ]


def test_statement_positions() -> None:
    stmts = split_statements("SELECT 1;\n  SELECT 2;")
    assert [s.pos for s in stmts] == [0, 12]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SELECT (1));", "1:11: unexpected ')'"),
        ("SELECT 1;\nSELECT 2);", "2:9: unexpected ')'"),
        ("SELECT (1;", "1:8: unclosed '('"),
        ("SELECT 1;\n\nSELECT (\n  1;", "3:8: unclosed '('"),
        ("SELECT 'abc", "1:8: unclosed quote '\\''"),
        ('SELECT "abc', "1:8: unclosed quote '\"'"),
        ("SELECT 'é' || (1));", "1:19: unexpected ')'"),  # columns count bytes, as in Go
    ],
)
def test_scan_errors_have_atlas_positions(text: str, message: str) -> None:
    with pytest.raises(ScanError) as info:
        split_statements(text)
    assert str(info.value) == message


# Where Atlas's scanner (sql/migrate/lex.go) reads PostgreSQL wrongly, and the file then fails
# there, we read it as PostgreSQL does. Each case: a file, and the value each of its statements
# returns on PostgreSQL 15.
# - E'...' strings: Atlas's PG driver sets EscapedStringExt (sql/postgres/driver.go ScanStmts),
#   but skipQuote checks the quote itself, not the character before it, so Atlas closes
#   E'it\'s' at the escaped quote ("unclosed quote").
# - Nested /* */ comments: Atlas ends a comment at the first */.
# - Dollar-quote tags: Atlas's reDollarQuote takes only U+00C8-U+00FF beyond ASCII, and sees a
#   tag in the name a$b$c (swallowing the rest of the file into one statement).
POSTGRES_LEXING = [
    ("INSERT-like E string", "SELECT E'it\\'s; here';", ["it's; here"]),
    ("lower-case e", "SELECT e'a\\'b;'; SELECT 2;", ["a'b;", 2]),
    ("doubled quote stays in the E string", "SELECT E'a''b\\';';", ["a'b';"]),
    ("escaped backslash", "SELECT E'\\\\'; SELECT ';';", ["\\", ";"]),
    ("continued on the next line", "SELECT E'a'\n  'b\\';';", ["ab';"]),
    ("continued after a comment", "SELECT E'a' -- note\n'b\\';';", ["ab';"]),
    ("E ending a type name is no prefix", "SELECT NAME'a\\'; SELECT 2;", ["a\\", 2]),
    ("standard string keeps its backslash", "SELECT '\\'; SELECT 2;", ["\\", 2]),
    ("unicode string keeps its backslash", "SELECT U&'\\005C;'; SELECT 2;", ["\\;", 2]),
    ("nested comment", "SELECT /* a /* b; */ c; */ 1;\nSELECT 2;", [1, 2]),
    ("nested comment above", "/* a /* b; */ c; */\nSELECT 1;\n/*/ x; */ SELECT 2;", [1, 2]),
    ("non-ASCII dollar tag", "SELECT $тег$a;b$тег$;\nSELECT $À$c;$À$;", ["a;b", "c;"]),
    ("dollar signs inside a name", "SELECT 1 AS a$b$c;\nSELECT 'x;y';", [1, "x;y"]),
]


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("text", "values"), [c[1:] for c in POSTGRES_LEXING], ids=[c[0] for c in POSTGRES_LEXING]
)
def test_statements_split_as_postgresql_reads_them(
    pg_admin_dsn: str, text: str, values: list[object]
) -> None:
    stmts = statement_texts(text)
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        got = [conn.execute(stmt.encode()).fetchone() for stmt in stmts]
    assert [row[0] if row else None for row in got] == values


def test_a_nested_comment_above_a_statement_is_one_comment() -> None:
    stmts = split_statements("/* a /* b */ c */\nSELECT 1;\n/* open /* never closed */ SELECT 2;")
    assert [(s.text, s.comments) for s in stmts] == [
        ("SELECT 1;", ["/* a /* b */ c */"]),
        ("SELECT 2;", ["/* open /* never closed */"]),  # as Atlas: PostgreSQL refuses it anyway
    ]


def test_an_unclosed_escape_string_is_reported_where_it_reopens() -> None:
    # E'a'' reopens at the doubled quote; Atlas reports an unclosed string at its last opening.
    with pytest.raises(ScanError, match=r"^1:12: unclosed quote '\\''$"):
        split_statements("SELECT E'a''b\\';")


def test_escape_strings_are_off_with_the_option() -> None:
    # Atlas's lexescaped/1.my.sql case: without the extension (or MySQL's backslash escapes),
    # a backslash escapes nothing.
    plain = ScanOptions(escaped_string_ext=False)
    with pytest.raises(ScanError, match=r"^1:15: unclosed quote '\\''$"):
        split_statements("SELECT E'it\\'s';", plain)
    with_backslashes = ScanOptions(backslash_escapes=True)
    assert [s.text for s in split_statements("SELECT 'it\\'s';", with_backslashes)] == [
        "SELECT 'it\\'s';"
    ]


def test_hash_comments_are_off_for_postgresql() -> None:
    # In PostgreSQL "#" is the bitwise XOR operator; Atlas's PG driver leaves HashComments off.
    assert statement_texts("SELECT 5 # 3;\n# not a comment;") == [
        "SELECT 5 # 3;",
        "# not a comment;",
    ]
    stmts = split_statements("# comment\nSELECT 1; # tail\n", ScanOptions(hash_comments=True))
    assert [(s.text, s.comments) for s in stmts] == [("SELECT 1;", ["# comment\n"])]


def test_known_quirk_trailing_comment_without_newline_is_a_statement() -> None:
    assert statement_texts("SELECT 1;\n-- the end") == ["SELECT 1;", "-- the end"]
