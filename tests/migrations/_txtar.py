"""Atlas's CLI scripts (``internal/integration/testdata/*/*.txtar``) run against ``ampdb``.

Atlas runs these with Go's testscript on a schema of its own (``$db``, ``URL`` bound to it with
``search_path``); this runner does the same on a PostgreSQL 15 database, with Atlas's own
commands (``cmpshow``: ``psql``'s ``\\d``; ``clearSchema``) and testscript's (``stdout``,
``stderr``, ``cmp``, ``cp``, ``mv``, ``rm``, ``exec mkdir``). ``atlas`` runs ``ampdb`` in
process. What differs on purpose is translated here, in one place, and nowhere else:

- ``--dir``: Atlas's default is ``file://migrations``; ``ampdb``'s is the packaged directory, so
  a ``migrate`` command without ``--dir`` gets ``--dir file://migrations``.
- Error lines start ``ampdb: error:`` where Atlas's start ``Error:``, and hints name ``ampdb
  migrate hash`` (README, "The ``ampdb`` CLI").
- ``ampdb`` has no ``schema inspect`` (HCL): ``atlas schema inspect --url URL --exclude T...``
  yields the schema's table names, and a following ``cmp stdout F.hcl`` compares them with the
  ``table "..."`` blocks of ``F.hcl``.

A script of Atlas's SQLite suite whose files are MySQL's or SQLite's SQL runs with those files
replaced by the same statements in PostgreSQL's SQL; its commands and expectations are kept.

Any other command fails the test: nothing is silently skipped. A line where ``ampdb`` differs
from Atlas on purpose (README, the differences paragraph) is named with its reason, and must
then fail: the test notices when the difference goes away.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pytest_ampdb.cli import main

from ._atlas_source import atlas_file

_MARKER = re.compile(r"^-- (.+) --$")
PSQL = Path("/usr/lib/postgresql/15/bin/psql")


@dataclass(frozen=True)
class Archive:
    """A parsed txtar: the script and its files (each ending in a newline, as Go's txtar)."""

    script: str
    files: dict[str, str]


def parse_txtar(text: str) -> Archive:
    """Go's ``txtar.Parse``: a comment (the script), then ``-- name --`` sections."""
    script: list[str] = []
    files: dict[str, list[str]] = {}
    current = script
    for line in text.splitlines():
        m = _MARKER.match(line)
        if m:
            current = files.setdefault(m.group(1).strip(), [])
        else:
            current.append(line)
    return Archive(
        "\n".join(script),
        {name: "".join(f"{line}\n" for line in body) for name, body in files.items()},
    )


def read_script(path: str) -> Archive:
    """One of Atlas's scripts, by its path in Atlas's tree."""
    return parse_txtar(atlas_file(path).decode())


@dataclass
class Run:
    """One script's state: its work directory, schema, and the last command's output."""

    work: Path
    admin_url: str  # the database, not bound to a schema
    schema: str
    dev_url: str
    capsys: pytest.CaptureFixture[str]
    stdout: str = ""
    stderr: str = ""
    inspected: list[str] | None = None
    log: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        sep = "&" if "?" in self.admin_url else "?"
        return f"{self.admin_url}{sep}search_path={self.schema}"

    # -- testscript's and Atlas's commands ---------------------------------------------------

    def atlas(self, args: list[str], neg: bool) -> None:
        args = [self._expand_url(a) for a in args]
        self.inspected = None  # "cmp stdout" reads the last command's output
        if args[:2] == ["schema", "inspect"]:
            self.inspected = self._tables(excluded=_values(args, "--exclude"))
            return
        if args and args[0] == "migrate" and not any(a.startswith("--dir") for a in args):
            args = [*args, "--dir", "file://migrations"]
        code = main(args)
        self.stdout, self.stderr = self.capsys.readouterr()
        self.log.append(f"$ ampdb {shlex.join(args)}  -> {code}\n{self.stdout}{self.stderr}")
        assert (code != 0) == neg, f"ampdb {shlex.join(args)}: exit {code}\n{self.stderr}"

    def output(self, stream: str, args: list[str], neg: bool) -> None:
        text = self.stdout if stream == "stdout" else self.stderr
        pattern = _translate(args[0])
        found = re.search(pattern, text, re.MULTILINE) is not None
        assert found != neg, f"{stream} {'!' if neg else ''}~ {pattern!r}:\n{text}"

    def cmp(self, args: list[str], neg: bool) -> None:
        assert not neg
        what, name = args
        expected = (self.work / name).read_text()
        if what == "stdout" and self.inspected is not None and name.endswith(".hcl"):
            assert self.inspected == sorted(re.findall(r'^table "([^"]+)"', expected, re.M))
            return
        actual = self.stdout if what == "stdout" else (self.work / what).read_text()
        assert actual == expected

    def cmpshow(self, args: list[str], neg: bool) -> None:
        assert not neg
        *names, expected = args
        shown = [self._describe(name) for name in names]
        assert "\n".join(shown).strip() == (self.work / expected).read_text().strip()

    def clear_schema(self, args: list[str], neg: bool) -> None:
        ident = sql.Identifier(args[0] if args else self.schema)
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(ident))
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(ident))

    def files(self, command: str, args: list[str]) -> None:
        if command == "cp":
            shutil.copyfile(self.work / args[0], self.work / args[1])
        elif command == "mv":
            (self.work / args[0]).rename(self.work / args[1])
        elif command == "rm":
            for name in args:
                (self.work / name).unlink()
        else:  # exec mkdir
            assert args[0] == "mkdir", f"unsupported exec {args}"
            for name in args[1:]:
                (self.work / name).mkdir()

    # -- helpers --------------------------------------------------------------------------------

    def _expand_url(self, arg: str) -> str:
        return arg.replace("DEV_URL", self.dev_url).replace("URL", self.url)

    def _tables(self, excluded: list[str]) -> list[str]:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (self.schema,),
            ).fetchall()
        return sorted(str(r[0]) for r in rows if r[0] not in excluded)

    def _describe(self, table: str) -> str:
        out = subprocess.run(
            [str(PSQL), "-X", "-d", self.admin_url, "-c", f"\\d {self.schema}.{table}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return "\n".join(line.rstrip() for line in out.split("\n"))


def _values(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args[:-1]) if a == flag]


def _translate(pattern: str) -> str:
    """Atlas's error prefix and hint command, as ``ampdb`` prints them."""
    return pattern.replace("Error: ", "ampdb: error: ").replace("atlas migrate", "ampdb migrate")


def _words(line: str) -> list[str]:
    """testscript's quoting: single quotes only, '' inside them is one quote."""
    lexer = shlex.shlex(line, posix=True)
    lexer.whitespace_split = True
    lexer.quotes = "'"
    lexer.escape = ""
    return list(lexer)


def run_script(
    archive: Archive,
    run: Run,
    differences: Mapping[int, str] | None = None,
    postgresql: Mapping[str, str] | None = None,
) -> None:
    """Write the archive's files into ``run.work`` and run its script line by line; the lines
    of ``differences`` (number: reason) must fail. ``postgresql`` replaces files written in
    another database's SQL by the same statements in PostgreSQL's (the script is unchanged)."""
    differences = differences or {}
    replaced = dict(postgresql or {})
    assert set(replaced) <= set(archive.files), "replacing a file the archive lacks"
    for name, body in {**archive.files, **replaced}.items():
        path = run.work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    for number, raw in enumerate(archive.script.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("! ")
        words = _words(line.removeprefix("! ").replace("$db", run.schema))
        command, args = words[0], words[1:]
        try:
            if command == "atlas":
                run.atlas(args, neg)
            elif command in ("stdout", "stderr"):
                run.output(command, args, neg)
            elif command == "cmp":
                run.cmp(args, neg)
            elif command == "cmpshow":
                run.cmpshow(args, neg)
            elif command == "clearSchema":
                run.clear_schema(args, neg)
            elif command in ("cp", "mv", "rm", "exec"):
                run.files(command, args)
            else:
                pytest.fail(f"line {number}: unsupported command {command!r}", pytrace=False)
        except AssertionError as exc:
            if number in differences:
                continue
            log = "\n".join(run.log)
            raise AssertionError(f"line {number}: {raw}\n{exc}\n--- log\n{log}") from None
        if number in differences:
            pytest.fail(f"line {number} now matches Atlas ({differences[number]}): {raw}")
