"""The catalog of bad input: every malformed thing a user can hand over, each answered with one
clear error line (no traceback, no password) and nothing changed.

A case says how to provoke it (``setup`` prepares the bad input, ``command`` is what the user
runs), the pattern the one error line must match, and what must be unchanged: the case's files,
the databases on the server, and the schema, rows and applied migrations of a migrated, seeded
target database. Add a case to ``CASES`` to grow the list.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pytest_ampdb import migrations
from pytest_ampdb.cli.database import seed_database
from pytest_ampdb.harness.provisioning import LocalCluster
from pytest_ampdb.paths import migrations_dir, seeds_dir
from pytest_ampdb.seeds import read_seeds

from .conftest import Figures, Run, require_docker, run_ampdb, run_pytest, scram_cluster, write

PYTEST_ERROR = "ERROR: pytest-ampdb: "
CLI_ERROR = "ampdb: error: "
SECRET = "Hunter2-wrong-pw"
PREVIEW_NOT_LANDED = "preview feature not landed"
UNREACHABLE = "postgresql://nobody@127.0.0.1:1/postgres"


@dataclass
class Ctx:
    """What a case works with: a project directory, the server, a migrated and seeded target
    database on it, and (for password cases) a server that checks passwords."""

    project: Path
    server: str
    target: str
    password_server: Callable[[], str]
    extra: dict[str, Any] = field(default_factory=dict)

    def migrations(self) -> Path:
        directory = self.project / "migrations"
        if not directory.exists():
            shutil.copytree(migrations_dir(), directory)
        return directory

    def seeds(self) -> Path:
        directory = self.project / "seeds"
        if not directory.exists():
            shutil.copytree(seeds_dir(), directory)
        return directory

    def pytest(self, *args: str, env: dict[str, str] | None = None) -> Run:
        write(self.project / "test_smoke.py", "def test_smoke(ampdb):\n    pass\n")
        return run_pytest(self.project, *args, env=env, timeout=60)

    def ampdb(self, *args: str) -> Run:
        return run_ampdb(self.project, *args, timeout=60)


@dataclass(frozen=True)
class Case:
    """One bad input: how to provoke it, the one line it must produce, where that line goes."""

    id: str
    setup: Callable[[Ctx], None]
    command: Callable[[Ctx], Run]
    message: str
    """A regular expression the error line must match (searched from the line's start)."""
    prefix: str = PYTEST_ERROR
    secret: str | None = None
    needs_postgres: bool = True
    xfail: str | None = None


def _nothing(ctx: Ctx) -> None:
    return None


# ------------------------------------------------------------------------------ setups


def _edit_sum(ctx: Ctx) -> None:
    sum_file = ctx.migrations() / "atlas.sum"
    lines = sum_file.read_text().splitlines()
    name, _, digest = lines[2].partition(" h1:")
    lines[2] = f"{name} h1:{'A' * (len(digest) - 1)}="
    sum_file.write_text("\n".join(lines) + "\n")


def _edit_applied(ctx: Ctx) -> None:
    directory = ctx.migrations()
    first = sorted(directory.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\nCREATE TABLE edited_after_apply (id int);\n")
    migrations.write_sum(directory)  # the user re-hashed, so atlas.sum agrees


def _broken_migration(middle: str) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        directory = ctx.migrations()
        body = (
            f"CREATE TABLE broken_first (id int);\n{middle}\nCREATE TABLE broken_last (id int);\n"
        )
        (directory / "20991231000000_broken.sql").write_text(body)
        migrations.write_sum(directory)

    return setup


SYNTAX_ERROR = _broken_migration("CREATE TABL broken_middle (id int);")
UNCLOSED = _broken_migration("CREATE TABLE broken_middle (id int;")


def _same_version(ctx: Ctx) -> None:
    directory = ctx.migrations()
    first = sorted(directory.glob("*.sql"))[0]
    (directory / f"{first.name.split('_')[0]}_again.sql").write_text("CREATE TABLE again (id int);")
    migrations.write_sum(directory)


def _dangling_symlink(ctx: Ctx) -> None:
    (ctx.migrations() / "20991231000000_gone.sql").symlink_to(ctx.project / "nowhere.sql")


def _repeat_key(table: str, key: str) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        path = ctx.seeds() / f"{table}.json"
        text = path.read_text()
        path.write_text(text.replace(f'"{key}":', f'"{key}": null,\n    "{key}":', 1))

    return setup


def _seed_file(table: str, text: str) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        (ctx.seeds() / f"{table}.json").write_text(text)

    return setup


def _seed_rows(table: str, change: Callable[[list[dict[str, Any]]], None]) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        path = ctx.seeds() / f"{table}.json"
        rows = json.loads(path.read_text())
        change(rows)
        path.write_text(json.dumps(rows, indent=2))

    return setup


def _duplicate_first(rows: list[dict[str, Any]]) -> None:
    rows.append(dict(rows[0]))


def _dangling(rows: list[dict[str, Any]]) -> None:
    rows[0]["organization_id"] = str(uuid.UUID(int=7))


def _unknown_column(rows: list[dict[str, Any]]) -> None:
    rows[0]["colour"] = "blue"


# ------------------------------------------------------------------------------ commands


def _pg(ctx: Ctx, *args: str) -> Run:
    return ctx.pytest("--ampdb=postgres", f"--ampdb-dsn={ctx.server}", *args)


def _memory(ctx: Ctx, *args: str) -> Run:
    return ctx.pytest("--ampdb=memory", *args)


def _bad_url(ctx: Ctx) -> str:
    return ctx.extra["bad_url"]  # type: ignore[no-any-return]


def _set_wrong_password(ctx: Ctx) -> None:
    ctx.extra["bad_url"] = ctx.password_server().replace(":right-pw@", f":{SECRET}@", 1)


def _ini_backend_sqlite(ctx: Ctx) -> None:
    write(ctx.project / "pytest.ini", "[pytest]\nampdb_backend = sqlite\n")


def _set_unreachable(ctx: Ctx) -> None:
    ctx.extra["bad_url"] = f"postgresql://postgres:{SECRET}@127.0.0.1:1/postgres"


def _plain_file(name: str) -> Callable[[Ctx], None]:
    """A file where a directory is expected."""
    return _project_file("not a directory\n", name)


def _project_file(body: str, name: str = "conftest.py") -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        write(ctx.project / name, body)

    return setup


SEED_HOOK_RAISES = _project_file("def pytest_ampdb_seed(repos):\n    raise ValueError('no rows')\n")
CONFIGURE_HOOK_RAISES = _project_file(
    "def pytest_ampdb_configure(config, settings):\n    raise KeyError('gone')\n"
)
CONFIGURE_HOOK_BAD_VALUE = _project_file(
    "def pytest_ampdb_configure(config, settings):\n    settings.timeout = 'soon'\n"
)


def _preview(ctx: Ctx, branch: str) -> Run:
    return ctx.ampdb("preview", "create", "--branch", branch, "--server", ctx.server)


CASES: list[Case] = [
    # migrations
    Case(
        "atlas.sum edited by hand (pytest)",
        _edit_sum,
        lambda ctx: _pg(ctx, f"--ampdb-migrations={ctx.migrations()}"),
        r"(?=.*checksum mismatch)(?=.*/project/migrations\b)",  # names the directory
    ),
    Case(
        "atlas.sum edited by hand (ampdb migrate apply)",
        _edit_sum,
        lambda ctx: ctx.ampdb(
            "migrate", "apply", "--dir", str(ctx.migrations()), "--url", ctx.target
        ),
        r"checksum mismatch",  # after Atlas's own report naming the directory's problem
        prefix=CLI_ERROR,
    ),
    Case(
        "migration edited after it was applied (ampdb migrate apply)",
        _edit_applied,
        lambda ctx: ctx.ampdb(
            "migrate", "apply", "--dir", str(ctx.migrations()), "--url", ctx.target
        ),
        r".*20261123230000_create_organizations_projects\.sql.*(edited|changed)",
        prefix=CLI_ERROR,
    ),
    Case(
        "migration with a syntax error in its middle (ampdb migrate apply)",
        SYNTAX_ERROR,
        lambda ctx: ctx.ampdb(
            "migrate", "apply", "--dir", str(ctx.migrations()), "--url", ctx.target
        ),
        r'executing statement "CREATE TABL broken_middle \(id int\);" from version "20991231000000": .*syntax error',
        prefix=CLI_ERROR,
    ),
    Case(
        "migration with a syntax error in its middle (pytest)",
        SYNTAX_ERROR,
        lambda ctx: _pg(ctx, f"--ampdb-migrations={ctx.migrations()}"),
        r'.*"CREATE TABL broken_middle \(id int\);" from version "20991231000000": .*syntax error',
    ),
    Case(
        "migration with an unclosed parenthesis in its middle (pytest)",
        UNCLOSED,
        lambda ctx: _pg(ctx, f"--ampdb-migrations={ctx.migrations()}"),
        r'scanning statements from "20991231000000_broken\.sql": 2:\d+: unclosed',
    ),
    Case(
        "two migration files with one version (ampdb migrate apply)",
        _same_version,
        lambda ctx: ctx.ampdb(
            "migrate", "apply", "--dir", str(ctx.migrations()), "--url", ctx.target
        ),
        r"migration files 20261123230000_\w+\.sql and 20261123230000_\w+\.sql have the same "
        r"version 20261123230000",
        prefix=CLI_ERROR,
    ),
    Case(
        "two migration files with one version (pytest)",
        _same_version,
        lambda ctx: _pg(ctx, f"--ampdb-migrations={ctx.migrations()}"),
        r".*migration files 20261123230000_\w+\.sql and 20261123230000_\w+\.sql have the same",
    ),
    Case(
        "dangling symlink named like a migration (ampdb migrate validate)",
        _dangling_symlink,
        lambda ctx: ctx.ampdb("migrate", "validate", "--dir", str(ctx.migrations())),
        r"migration file 20991231000000_gone\.sql is a dangling symlink",
        prefix=CLI_ERROR,
        needs_postgres=False,
    ),
    Case(
        "migration directory that is a file (ampdb migrate validate)",
        _plain_file("migrations.txt"),
        lambda ctx: ctx.ampdb("migrate", "validate", "--dir", str(ctx.project / "migrations.txt")),
        r'"\S+/migrations\.txt" is not a dir$',  # Atlas's words
        prefix=CLI_ERROR,
        needs_postgres=False,
    ),
    Case(
        "seed directory that is a file (pytest)",
        _plain_file("seeds.txt"),
        lambda ctx: _memory(ctx, f"--ampdb-seeds={ctx.project / 'seeds.txt'}"),
        r"--ampdb-seeds='\S+/seeds\.txt': is not a directory$",
        needs_postgres=False,
    ),
    Case(
        "migration directory that does not exist (pytest)",
        _nothing,
        lambda ctx: _memory(ctx, f"--ampdb-migrations={ctx.project / 'no-such-dir'}"),
        r"--ampdb-migrations='\S+/no-such-dir': no such directory$",
        needs_postgres=False,
    ),
    # seeds
    Case(
        "seed key given twice in a row (pytest)",
        _repeat_key("projects", "name"),
        lambda ctx: _memory(ctx, f"--ampdb-seeds={ctx.seeds()}"),
        r"\S+/projects\.json: row 1: key 'name' appears twice in projects",
        needs_postgres=False,
    ),
    Case(
        "seed file that is not JSON (pytest)",
        _seed_file("projects", '[{"id": '),
        lambda ctx: _memory(ctx, f"--ampdb-seeds={ctx.seeds()}"),
        r"\S+/projects\.json: not valid JSON: .* at line 1 column \d+$",
        needs_postgres=False,
    ),
    Case(
        "seed number past Python's integer digit limit (pytest)",
        _seed_file("projects", "[" + "9" * 5000 + "]"),
        lambda ctx: _memory(ctx, f"--ampdb-seeds={ctx.seeds()}"),
        r"\S+/projects\.json: a number of more than 4300 digits cannot be read$",
        needs_postgres=False,
    ),
    Case(
        "seed file that is not JSON (ampdb seed --replace)",
        _seed_file("projects", '[{"id": '),
        lambda ctx: ctx.ampdb("seed", "--url", ctx.target, "--dir", str(ctx.seeds()), "--replace"),
        r"\S+/projects\.json: not valid JSON",
        prefix=CLI_ERROR,
    ),
    Case(
        "seed row that breaks a key (pytest)",
        _seed_rows("projects", _duplicate_first),
        lambda ctx: _memory(ctx, f"--ampdb-seeds={ctx.seeds()}"),
        r"\S+/projects\.json: row 2: projects: a row with \S+ already exists",
        needs_postgres=False,
    ),
    Case(
        "seed row that breaks a key (ampdb seed --replace)",
        _seed_rows("projects", _duplicate_first),
        lambda ctx: ctx.ampdb("seed", "--url", ctx.target, "--dir", str(ctx.seeds()), "--replace"),
        r"\S+/projects\.json: row 2: projects: a row with \S+ already exists",
        prefix=CLI_ERROR,
    ),
    Case(
        "seed row that breaks a reference (pytest)",
        _seed_rows("projects", _dangling),
        lambda ctx: _memory(ctx, f"--ampdb-seeds={ctx.seeds()}"),
        r"\S+/projects\.json: row 1: projects\.organization_id -> organizations: no organizations row",
        needs_postgres=False,
    ),
    Case(
        "unknown column in a seed (pytest)",
        _seed_rows("projects", _unknown_column),
        lambda ctx: _memory(ctx, f"--ampdb-seeds={ctx.seeds()}"),
        r"\S+/projects\.json: row 1: unknown column colour in projects$",
        needs_postgres=False,
    ),
    # options and servers
    Case(
        "unknown --ampdb value",
        _nothing,
        lambda ctx: ctx.pytest("--ampdb=sqlite"),
        r"--ampdb='sqlite': expected one of memory, postgres$",
        needs_postgres=False,
    ),
    Case(
        "unknown --ampdb value, from the environment",
        _nothing,
        lambda ctx: ctx.pytest(env={"AMPDB_BACKEND": "sqlite"}),
        r"AMPDB_BACKEND='sqlite': expected one of memory, postgres$",
        needs_postgres=False,
    ),
    Case(
        "unknown --ampdb value, from the ini file",
        _ini_backend_sqlite,
        lambda ctx: ctx.pytest(),
        r"ini ampdb_backend='sqlite': expected one of memory, postgres$",
        needs_postgres=False,
    ),
    Case(
        "ini on/off option that is neither",
        lambda ctx: write(ctx.project / "pytest.ini", "[pytest]\nampdb_reuse = maybe\n"),
        lambda ctx: ctx.pytest(),
        r"ini ampdb_reuse='maybe': expected true or false$",
        needs_postgres=False,
    ),
    Case(
        "unknown --ampdb-postgres value",
        _nothing,
        lambda ctx: ctx.pytest("--ampdb=postgres", "--ampdb-postgres=kubernetes"),
        r"--ampdb-postgres='kubernetes': expected one of auto, container, local, dsn\b",
        needs_postgres=False,
    ),
    # hooks of the project
    Case(
        "pytest_ampdb_seed hook that raises (memory)",
        SEED_HOOK_RAISES,
        _memory,
        r"pytest_ampdb_seed \(at \S+/conftest\.py:2\) raised ValueError: no rows$",
        needs_postgres=False,
    ),
    Case(
        "pytest_ampdb_seed hook that raises (postgres)",
        SEED_HOOK_RAISES,
        _pg,
        r"pytest_ampdb_seed \(at \S+/conftest\.py:2\) raised ValueError: no rows$",
    ),
    Case(
        "pytest_ampdb_configure hook that raises",
        CONFIGURE_HOOK_RAISES,
        _memory,
        r"pytest_ampdb_configure \(at \S+/conftest\.py:2\) raised KeyError: 'gone'$",
        needs_postgres=False,
    ),
    Case(
        "pytest_ampdb_configure hook that raises quoting a URL with its password",
        _project_file(
            "def pytest_ampdb_configure(config, settings):\n"
            f"    raise RuntimeError('no route to postgresql://app:{SECRET}@db.internal/app')\n"
        ),
        _memory,
        r"pytest_ampdb_configure \(at \S+/conftest\.py:2\) raised RuntimeError: no route to "
        r"postgresql://app:xxxxx@db\.internal/app$",
        secret=SECRET,
        needs_postgres=False,
    ),
    Case(
        "pytest_ampdb_configure hook that sets a bad value",
        CONFIGURE_HOOK_BAD_VALUE,
        _memory,
        r"pytest_ampdb_configure: settings\.timeout='soon': expected a number of seconds above 0$",
        needs_postgres=False,
    ),
    Case(
        "schema module that exits on import",
        lambda ctx: write(ctx.project / "exiting_schema.py", "import sys\nsys.exit(3)\n"),
        lambda ctx: _memory(ctx, "--ampdb-schema=exiting_schema"),
        r"schema module exiting_schema: cannot be imported \(SystemExit: 3\)$",
        needs_postgres=False,
    ),
    Case(
        "container image name Docker cannot parse",
        lambda ctx: require_docker(),
        lambda ctx: ctx.pytest(
            "--ampdb=postgres", "--ampdb-postgres=container", "--ampdb-image=Bad Image!"
        ),
        r"Docker refuses the image name 'Bad Image!': .*invalid reference format",
        needs_postgres=False,
    ),
    Case(
        "negative --lock-timeout (ampdb migrate apply)",
        _nothing,
        lambda ctx: ctx.ampdb("migrate", "apply", "--url", UNREACHABLE, "--lock-timeout=-5"),
        r"argument --lock-timeout: invalid duration '-5' \(expected 0 or more\)$",
        prefix="ampdb migrate apply: error: ",
        needs_postgres=False,
    ),
    Case(
        "missing --keep-branches-file (ampdb preview prune)",
        _nothing,
        lambda ctx: ctx.ampdb(
            "preview", "prune", "--server", UNREACHABLE, "--keep-branches-file", "nowhere.txt"
        ),
        r"--keep-branches-file nowhere\.txt: cannot be read \(No such file or directory\)$",
        prefix=CLI_ERROR,
        needs_postgres=False,
    ),
    Case(
        "DSN that cannot connect (pytest)",
        _set_unreachable,
        lambda ctx: ctx.pytest("--ampdb=postgres", f"--ampdb-dsn={_bad_url(ctx)}"),
        r"cannot connect to postgresql://postgres:xxxxx@127\.0\.0\.1:1/postgres: ",
        secret=SECRET,
        needs_postgres=False,
    ),
    Case(
        "DSN that cannot connect (ampdb migrate status)",
        _set_unreachable,
        lambda ctx: ctx.ampdb("migrate", "status", "--url", _bad_url(ctx)),
        r"cannot connect",
        prefix=CLI_ERROR,
        secret=SECRET,
        needs_postgres=False,
    ),
    Case(
        "DSN with a wrong password (pytest)",
        _set_wrong_password,
        lambda ctx: ctx.pytest("--ampdb=postgres", f"--ampdb-dsn={_bad_url(ctx)}"),
        r"cannot connect to postgresql://ampdb_pw:xxxxx@127\.0\.0\.1:\d+/postgres: .*password authentication failed",
        secret=SECRET,
    ),
    Case(
        "DSN with a wrong password (ampdb seed)",
        _set_wrong_password,
        lambda ctx: ctx.ampdb("seed", "--url", _bad_url(ctx)),
        r".*password authentication failed",
        prefix=CLI_ERROR,
        secret=SECRET,
    ),
    Case(
        "DSN with a wrong password, key=value form (ampdb migrate status)",
        _set_wrong_password,
        lambda ctx: ctx.ampdb(
            "migrate",
            "status",
            "--url",
            f"host=127.0.0.1 port={ctx.extra['port']} user=ampdb_pw password={SECRET} dbname=postgres",
        ),
        r".*password authentication failed",
        prefix=CLI_ERROR,
        secret=SECRET,
    ),
]


# Branch names are not errors: any branch git allows gets a safe preview name. What must hold is
# that the name is a plain identifier of at most 63 bytes and that nothing else on the server is
# touched, however the branch is spelled.
BRANCHES = {
    "300 bytes": "feature/" + "x" * 292,
    "quotes and SQL": "feat/it's \"quoted\"'; DROP DATABASE ampdb_victim; --",
}


# ------------------------------------------------------------------------------ the state


def _state(ctx: Ctx) -> dict[str, Any]:
    """Files of the case, every database on the server, and the target's schema, rows and
    successfully applied migrations."""
    files = {
        str(p.relative_to(ctx.project)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(ctx.project.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and p.name != "test_smoke.py"
    }
    with psycopg.connect(ctx.server, autocommit=True) as conn:
        databases = sorted(str(r[0]) for r in conn.execute("SELECT datname FROM pg_database"))
    with psycopg.connect(ctx.target, autocommit=True) as conn:
        tables = sorted(
            str(r[0])
            for r in conn.execute(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables"
                " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            )
        )
        counts = {
            t: conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))
            ).fetchone()[0]  # type: ignore[index]
            for t in read_seeds().rows
        }
        applied = conn.execute(
            "SELECT version, applied, total, hash FROM atlas_schema_revisions.atlas_schema_revisions"
            " WHERE coalesce(error, '') = '' ORDER BY version"
        ).fetchall()
    return {
        "files": files,
        "databases": databases,
        "tables": tables,
        "rows": counts,
        "applied": applied,
    }


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def password_cluster() -> Iterator[LocalCluster]:
    """A cluster of its own that checks passwords over TCP (scram-sha-256)."""
    with scram_cluster("CREATE ROLE ampdb_pw LOGIN SUPERUSER PASSWORD 'right-pw'") as cluster:
        yield cluster


@pytest.fixture
def ctx(request: pytest.FixtureRequest, project: Path) -> Iterator[Ctx]:
    case: Case = request.param
    if not case.needs_postgres:
        yield Ctx(project, "", "", lambda: "")
        return
    server = request.getfixturevalue("pg_admin_dsn")
    target = request.getfixturevalue("fresh_database")
    migrations.apply(target, migrations_dir())
    seed_database(target, read_seeds(), replace=False)

    def password_server() -> str:
        cluster: LocalCluster = request.getfixturevalue("password_cluster")
        return f"postgresql://ampdb_pw:right-pw@127.0.0.1:{cluster.port}/postgres"

    context = Ctx(project, server, target, password_server)
    if "password" in case.id:
        context.password_server()
        context.extra["port"] = request.getfixturevalue("password_cluster").port
    yield context


def _params() -> list[Any]:
    out = []
    for case in CASES:
        marks: list[Any] = [pytest.mark.postgres] if case.needs_postgres else []
        if case.xfail:
            marks.append(pytest.mark.xfail(strict=True, reason=case.xfail))
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


# ------------------------------------------------------------------------------ the tests


@pytest.mark.parametrize("ctx", _params(), indirect=True)
def test_bad_input_is_one_line_and_changes_nothing(
    ctx: Ctx, request: pytest.FixtureRequest, figure: Figures
) -> None:
    case: Case = request.node.callspec.params["ctx"]
    case.setup(ctx)
    before = _state(ctx) if case.needs_postgres else None
    result = case.command(ctx)
    figure(f"bad input: {case.id}: time to the error", result.seconds)
    assert not result.timed_out, result.describe()
    assert result.returncode not in (0, None), result.describe()
    assert "Traceback" not in result.output, result.describe()
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(case.prefix)]
    assert len(errors) == 1, result.describe()
    assert re.match(re.escape(case.prefix) + case.message, errors[0]), errors[0]
    if case.prefix == PYTEST_ERROR:
        assert lines == errors, result.describe()  # nothing but the one line
    if case.secret is not None:
        assert case.secret not in result.output, result.describe()
    if before is not None:
        assert _state(ctx) == before


def _preview_databases(server: str) -> list[str]:
    with psycopg.connect(server, autocommit=True) as conn:
        return sorted(
            str(r[0])
            for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'pr-%'")
        )


@pytest.mark.postgres
@pytest.mark.parametrize("branch", list(BRANCHES.values()), ids=list(BRANCHES))
def test_an_odd_branch_name_gets_a_safe_preview_and_touches_nothing_else(
    project: Path, pg_admin_dsn: str, fresh_database: str, branch: str, figure: Figures
) -> None:
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS ampdb_victim")
        conn.execute("CREATE DATABASE ampdb_victim")
        all_before = sorted(str(r[0]) for r in conn.execute("SELECT datname FROM pg_database"))
    try:
        created = run_ampdb(
            project, "preview", "create", "--branch", branch, "--server", pg_admin_dsn
        )
        figure(f"preview create, branch of {len(branch.encode())} bytes", created.seconds)
        if "invalid choice: 'preview'" in created.stderr:
            pytest.xfail(PREVIEW_NOT_LANDED)
        assert created.returncode == 0, created.describe()
        assert "Traceback" not in created.output
        with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
            all_after = sorted(str(r[0]) for r in conn.execute("SELECT datname FROM pg_database"))
        new = sorted(set(all_after) - set(all_before))
        assert len(new) == 1, new
        assert set(all_before) <= set(all_after)  # the victim and everything else still there
        assert re.fullmatch(r"pr-[a-z0-9-]+", new[0]), new[0]
        assert len(new[0].encode()) <= 63
        dropped = run_ampdb(
            project, "preview", "drop", "--branch", branch, "--server", pg_admin_dsn
        )
        assert dropped.returncode == 0, dropped.describe()
        assert new[0] not in _preview_databases(pg_admin_dsn)
    finally:
        with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS ampdb_victim")
            for name in _preview_databases(pg_admin_dsn):
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def test_the_catalog_covers_every_kind_of_bad_input() -> None:
    """The list the issue names, so a removed case is noticed."""
    ids = " | ".join(c.id for c in CASES)
    for kind in (
        "atlas.sum edited",
        "edited after it was applied",
        "syntax error in its middle",
        "two migration files with one version",
        "dangling symlink",
        "key given twice",
        "not JSON",
        "breaks a key",
        "breaks a reference",
        "unknown column",
        "unknown --ampdb value",
        "cannot connect",
        "wrong password",
    ):
        assert kind in ids, kind
    assert set(BRANCHES) == {"300 bytes", "quotes and SQL"}
