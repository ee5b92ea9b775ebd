"""Atlas's own CLI scripts (txtar) for ``migrate``, run on PostgreSQL 15 against ``ampdb``.

Every ``cli-migrate-*`` script of Atlas's PostgreSQL, SQLite and MySQL suites is either run here
or named in :data:`NOT_RUN` with the reason (README, "The ``ampdb`` CLI", differences). SQLite's
lint scripts run as they are (their SQL is PostgreSQL's too: Atlas keeps its lint scripts there);
its ``set`` script runs with its MySQL files given as PostgreSQL's (:data:`POSTGRESQL`). The other
scripts of Atlas's PostgreSQL suite test ``schema inspect/apply`` (HCL), which ampdb has not.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from ._atlas_source import atlas_listing
from ._txtar import Run, read_script, run_script

pytestmark = [pytest.mark.postgres, pytest.mark.atlas_source]

SCRIPTS = "internal/integration/testdata"
RUN = [
    "postgres/cli-migrate-apply.txtar",
    "postgres/cli-migrate-status.txtar",
    "sqlite/cli-migrate-lint-add-notnull.txtar",
    "sqlite/cli-migrate-lint-destructive.txtar",
    "sqlite/cli-migrate-lint-ignore.txtar",
    "sqlite/cli-migrate-set.txtar",
]
# Lines where ampdb differs on purpose (README, "The ampdb CLI"): they must fail.
_PER_CHANGE = "a table made earlier in the linted change holds no rows: no MF103 (Atlas: per file)"
DIFFERENCES: dict[str, dict[int, str]] = {
    "sqlite/cli-migrate-lint-add-notnull.txtar": dict.fromkeys([9, 10, 11, 16, 18], _PER_CHANGE),
}
# Files of a script written in MySQL's SQL, as PostgreSQL writes the same statements.
POSTGRESQL: dict[str, dict[str, str]] = {
    "sqlite/cli-migrate-set.txtar": {
        "migrations/1_first.sql": 'CREATE TABLE "users" ("id" bigint NOT NULL, "age" bigint NOT '
        'NULL, "name" varchar(255) NOT NULL, PRIMARY KEY ("id"));\n',
        "migrations/2_second.sql": 'CREATE UNIQUE INDEX "age" ON "users" ("age");\n',
        "migrations/3_third.sql": 'CREATE TABLE "pets" ("id" bigint NOT NULL, "name" '
        'varchar(255) NOT NULL, PRIMARY KEY ("id"));\n',
        "broken.sql": 'CREATE TABLE "vets" ("id" bigint NOT NULL, "name" varchar(255) NOT NULL, '
        'PRIMARY KEY("id"));\nasdf CREATE UNIQUE INDEX "name" ON "users" ("name");\n',
    },
}
NOT_RUN = {
    "postgres/cli-migrate-apply-datasrc.txtar": "atlas.hcl project file (env, data sources)",
    "postgres/cli-migrate-diff.txtar": "desired state in HCL (ampdb diffs the Python declarations)",
    "postgres/cli-migrate-diff-unsupported.txtar": "desired state in HCL",
    "sqlite/cli-migrate-apply.txtar": "postgres/cli-migrate-apply's steps in SQLite's SQL",
    "sqlite/cli-migrate-lint-minimal-env.txtar": "atlas.hcl project file",
    "sqlite/cli-migrate-lint-project.txtar": "atlas.hcl project file",
    "sqlite/cli-migrate-project.txtar": "atlas.hcl project file",
    "sqlite/cli-migrate-project-multifile.txtar": "atlas.hcl project file",
    "sqlite/cli-migrate-diff.txtar": "desired state in HCL",
    "sqlite/cli-migrate-diff-sql.txtar": "desired state as SQL on SQLite",
    "sqlite/cli-migrate-diff-multifile.txtar": "desired state in HCL",
    "sqlite/cli-migrate-diff-minimal-env.txtar": "atlas.hcl project file",
    "sqlite/cli-migrate-diff-datasrc-hcl.txtar": "atlas.hcl project file",
    "sqlite/cli-migrate-diff-datasrc-hcl-paths.txtar": "atlas.hcl project file",
    "mysql/cli-migrate-apply.txtar": "postgres/cli-migrate-apply's steps in MySQL's SQL",
    "mysql/cli-migrate-apply-datasrc.txtar": "atlas.hcl project file",
    "mysql/cli-migrate-diff.txtar": "desired state in HCL",
    "mysql/cli-migrate-diff-format.txtar": "desired state in HCL",
    "mysql/cli-migrate-diff-mode-normalized.txtar": "desired state as SQL on MySQL",
}


def test_every_migrate_script_is_run_or_named() -> None:
    scripts = {
        path.removeprefix(SCRIPTS + "/")
        for folder in ("postgres", "sqlite", "mysql")
        for path in atlas_listing(f"{SCRIPTS}/{folder}")
        if Path(path).name.startswith("cli-migrate")
    }
    assert scripts == set(RUN) | set(NOT_RUN)


@pytest.mark.parametrize("script", RUN)
def test_atlas_script(
    script: str,
    tmp_path: Path,
    fresh_database: str,
    other_database: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    archive = read_script(f"{SCRIPTS}/{script}")
    schema = "script_" + Path(script).stem.replace("-", "_")
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    work = tmp_path / f"w_{uuid.uuid4().hex[:8]}"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("AMPDB_DSN", raising=False)
    monkeypatch.delenv("DB_DSN", raising=False)
    run = Run(work, fresh_database, schema, other_database, capsys)
    if "-lint-" in script:  # its URL is the dev database: a clean one
        run = Run(work, other_database, "public", other_database, capsys)
    run_script(archive, run, DIFFERENCES.get(script), POSTGRESQL.get(script))
