"""The seed's schema workflow, in a fresh downstream folder, with our commands: declare, ``ampdb
migrate diff``, ``ampdb migrate apply``, run the suite in both modes, change a declaration,
diff again, and the drift check catches a hand-edited migration. Also: the billing example's
own suite passes unchanged under --ampdb=memory and --ampdb=postgres."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pytest_ampdb import migrations
from pytest_ampdb.harness.provisioning import LocalCluster
from pytest_ampdb.paths import migrations_dir, seeds_dir

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[1]
BILLING = ROOT / "examples" / "billing"
AMPDB = Path(sys.executable).with_name("ampdb")

SCHEMA = """
from dataclasses import dataclass, field
from datetime import datetime
from pytest_ampdb.models import Project
from pytest_ampdb.models.columns import Id
from pytest_ampdb.models.declared import extend
from pytest_ampdb.models.ids import new_id
from pytest_ampdb.models.schema import ForeignKey, OnDelete, TableSpec

@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class LabelledProject(Project):
    colour: str = "blue"

@dataclass(frozen=True, slots=True, kw_only=True)
class Note:
    id: Id = field(default_factory=new_id)
    project_id: Id
    text: str
{extra}    create_time: datetime | None = None
    update_time: datetime | None = None

NOTES = TableSpec(
    name="notes",
    model=Note,
    foreign_keys=(ForeignKey("notes_project_id_fkey", "project_id", "projects", OnDelete.CASCADE),),
)
TABLES = extend(columns=[LabelledProject], tables=[NOTES])
"""

SUITE = """
from notes_app.schema import LabelledProject, Note

def test_notes_and_colours(ampdb, ampdb_seed):
    project = ampdb.projects.get_by_id(ampdb_seed.project_id)
    assert isinstance(project, LabelledProject) and project.colour == "blue"
    made = ampdb.declared["notes"].create(Note(project_id=project.id, text="hi"))
    assert ampdb.declared["notes"].get_by_id(project.id, made.id).text == "hi"

def test_the_packaged_factories_make_the_extended_parent(ampdb, operation, project_factory):
    # an operation's chain starts with a new project: the schema's LabelledProject
    assert ampdb.projects.get_by_id(operation.project_id).colour == "blue"
    assert project_factory.create(colour="red").colour == "red"
"""


def ampdb(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(AMPDB), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def suite(cwd: Path, *args: str, server: str | None = None) -> subprocess.CompletedProcess[str]:
    backend = ["--ampdb=postgres", f"--ampdb-dsn={server}"] if server else ["--ampdb=memory"]
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
    return subprocess.run(
        [*command, *backend, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(cwd)},
        check=False,
    )


@pytest.fixture
def app_database(pg_admin_dsn: str, pg_cluster: LocalCluster) -> Iterator[str]:
    """The downstream project's own (empty) database, which ``migrate apply`` migrates."""
    name = f"app_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield pg_cluster.dsn(name)
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def test_the_whole_workflow_in_a_fresh_folder(
    tmp_path: Path, fresh_database: str, app_database: str, pg_admin_dsn: str
) -> None:
    project = tmp_path / "notes_project"
    (project / "notes_app").mkdir(parents=True)
    (project / "notes_app" / "__init__.py").write_text("")
    schema = project / "notes_app" / "schema.py"
    schema.write_text(SCHEMA.format(extra=""))
    shutil.copytree(migrations_dir(), project / "migrations")
    shutil.copytree(seeds_dir(), project / "seed")
    (project / "tests").mkdir()
    (project / "tests" / "test_notes.py").write_text(SUITE)
    (project / "pytest.ini").write_text(
        "[pytest]\nampdb_schema = notes_app.schema\nampdb_migrations = migrations\n"
        "ampdb_seeds = seed\n"
    )

    # declare -> migrate diff (dev database) -> migrate apply
    diff = ["migrate", "diff", "--dir", "migrations", "--dev-url", fresh_database]
    made = ampdb(project, *diff, "--schema", "notes_app.schema", "add_notes")
    assert made.returncode == 0, made.stderr
    first = Path(project / made.stdout.strip())
    assert 'CREATE TABLE "notes"' in first.read_text()
    applied = ampdb(project, "migrate", "apply", "--dir", "migrations", "--url", app_database)
    assert applied.returncode == 0, applied.stderr

    # the suite, unchanged, in both modes
    for server in (None, pg_admin_dsn):
        run = suite(project, server=server)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "2 passed" in run.stdout

    # change a declaration: migrate diff writes the next file; AMPDB_SCHEMA names the module
    schema.write_text(SCHEMA.format(extra="    pinned: bool = False\n"))
    env_diff = subprocess.run(
        [str(AMPDB), *diff, "pin_notes"],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project), "AMPDB_SCHEMA": "notes_app.schema"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert env_diff.returncode == 0, env_diff.stderr
    second = Path(project / env_diff.stdout.strip())
    assert 'ADD COLUMN "pinned" boolean NOT NULL DEFAULT false' in second.read_text()
    applied = ampdb(project, "migrate", "apply", "--dir", "migrations", "--url", app_database)
    assert applied.returncode == 0, applied.stderr
    with psycopg.connect(app_database) as conn:
        columns = [
            r[0]
            for r in conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = 'notes'::regclass AND attnum > 0"
            )
        ]
    assert "pinned" in columns
    assert suite(project).returncode == 0

    # the drift check catches a hand-edited migration, even re-hashed
    second.write_text(second.read_text() + "ALTER TABLE notes ADD COLUMN sneaky text NULL;\n")
    migrations.write_sum(project / "migrations")
    drift = suite(project)
    assert drift.returncode != 0
    assert "ampdb.schema.json is stale" in drift.stderr
    assert "Traceback" not in drift.stderr


@pytest.mark.parametrize("mode", ["memory", "postgres"])
def test_the_billing_example_passes_in_both_modes(mode: str, pg_admin_dsn: str) -> None:
    server = pg_admin_dsn if mode == "postgres" else None
    run = suite(BILLING, server=server)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "12 passed" in run.stdout


def mypy_strict(*paths: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MYPYPATH": str(BILLING)}
    command = [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent"]
    return subprocess.run(
        [*command, "--no-incremental", *map(str, paths)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_billings_typed_code_is_clean_under_mypy_strict() -> None:
    """billing.accounts (``database.of``, ``of_unscoped``, ``async_database.of``) and billing's
    suite type-check: mypy knows each repository's model."""
    run = mypy_strict(BILLING / "billing" / "accounts.py", BILLING / "tests" / "test_billing.py")
    assert run.returncode == 0, run.stdout


def test_mypy_sees_a_projects_entities_and_columns(tmp_path: Path) -> None:
    """``repos.of(Invoice)``, ``database.of(Invoice)``, ``database.of_unscoped(Plan)`` and
    ``async_database.of(Invoice)`` are typed by the model, a subclass adds its fields: a typo
    or a project id given to an unscoped repository is a mypy error in the project's code."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from billing.schema import Invoice, Plan, TieredApiKey\n"
        "from pytest_ampdb import async_database, database\n"
        "from pytest_ampdb.types import Repositories\n\n\n"
        "def cents(repos: Repositories, key: TieredApiKey) -> int:\n"
        "    invoice = repos.of(Invoice).get_by_id(key.project_id, 'x')\n"
        "    return invoice.amount_cents + len(key.tier) + invoice.amount_dollars\n\n\n"
        "def facade(project_id: str) -> int:\n"
        "    invoice = database.of(Invoice).get_by_id(project_id, 'x')\n"
        "    plan = database.of_unscoped(Plan).get_by_id('x')\n"
        "    database.of_unscoped(Plan).get_by_id(project_id, 'x')\n"
        "    return invoice.amount_cents + plan.monthly_cents + plan.yearly_cents\n\n\n"
        "async def awaited(project_id: str) -> int:\n"
        "    invoice = await async_database.of(Invoice).get_by_id(project_id, 'x')\n"
        "    return invoice.amount_cents + invoice.amount_pence\n"
    )
    out = mypy_strict(probe).stdout
    errors = [line for line in out.splitlines() if "[no-any-return]" not in line]  # the typos
    for line, message in [
        (8, '"Invoice" has no attribute "amount_dollars"'),
        (14, 'Too many arguments for "get_by_id" of "UnscopedRepository"'),
        (15, '"Plan" has no attribute "yearly_cents"'),
        (20, '"Invoice" has no attribute "amount_pence"'),
    ]:
        assert any(f"probe.py:{line}: error: {message}" in e for e in errors), out
    assert len([e for e in errors if ": error:" in e]) == 4, out  # the fields used are known
