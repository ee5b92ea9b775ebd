"""``ampdb seed``, ``ampdb refresh-db`` and ``ampdb env`` against a real PostgreSQL 15.

What a developer relies on: after ``migrate apply`` + ``seed`` the database holds exactly the seed
files' rows (values intact, cyclic references set); a second ``seed`` changes nothing and says
why in one line; ``--replace`` restores the seeds; ``refresh-db`` rebuilds a local database from
nothing and will not drop a remote one by accident; ``env`` output can be ``eval``-ed.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from pytest_ampdb.cli import main
from pytest_ampdb.cli.database import remote_hosts
from pytest_ampdb.models.tables import TABLES
from pytest_ampdb.paths import migrations_dir, seeds_dir
from pytest_ampdb.seeds import SeedError, read_seeds
from pytest_ampdb.seeds.postgres import load_into_postgres

pytestmark = pytest.mark.postgres


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``ampdb argv...`` in-process; (exit status, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def seed_file_counts(directory: Path) -> dict[str, int]:
    """Rows per table, read straight from the JSON files."""
    counts = dict.fromkeys(TABLES, 0)
    for path in directory.glob("*.json"):
        counts[path.stem] = len(json.loads(path.read_text(encoding="utf-8")))
    return counts


def table_counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return {
            table: int(
                conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
                ).fetchone()[0]  # type: ignore[index]
            )
            for table in TABLES
        }


def stored_rows(dsn: str) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows read back and normalized like the seeds, ordered by primary key."""
    out: dict[str, list[dict[str, Any]]] = {}
    with psycopg.connect(dsn) as conn:
        for name, spec in TABLES.items():
            cur = conn.cursor(row_factory=dict_row)
            query = sql.SQL("SELECT * FROM {} ORDER BY {}").format(
                sql.Identifier(name), sql.Identifier(spec.primary_key)
            )
            out[name] = [spec.normalize(row) for row in cur.execute(query).fetchall()]
    return out


def seed_rows() -> dict[str, list[dict[str, Any]]]:
    seeds = read_seeds()
    return {
        name: sorted(seeds.rows.get(name, []), key=lambda r: str(r[spec.primary_key]))
        for name, spec in TABLES.items()
    }


@pytest.fixture
def migrated(fresh_database: str, capsys: pytest.CaptureFixture[str]) -> str:
    code, _, err = run(capsys, "migrate", "apply", "--url", fresh_database)
    assert (code, err) == (0, "")
    return fresh_database


@pytest.fixture
def seeded(migrated: str, capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = run(capsys, "seed", "--url", migrated)
    assert (code, err) == (0, "")
    assert f"seeded {sum(seed_file_counts(seeds_dir()).values())} rows" in out
    return migrated


def test_a_second_apply_on_the_seeded_database_has_nothing_to_do(
    seeded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "migrate", "apply", "--url", seeded)
    assert (code, err) == (0, "")
    assert "No migration files to execute" in out
    assert table_counts(seeded) == seed_file_counts(seeds_dir())


def test_seed_loads_exactly_the_seed_files(seeded: str) -> None:
    assert table_counts(seeded) == seed_file_counts(seeds_dir())
    assert stored_rows(seeded) == seed_rows()


def test_seeded_rows_satisfy_every_constraint(seeded: str) -> None:
    """Re-adding each CHECK and FK (which validates existing rows) passes; the cycle is closed."""
    with psycopg.connect(seeded) as conn:
        defs = conn.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint "
            "WHERE connamespace = 'public'::regnamespace AND contype IN ('c', 'f')"
        ).fetchall()
        assert len(defs) > len(TABLES)
        for table, name, definition in defs:
            ident = sql.Identifier(table), sql.Identifier(name)
            conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(*ident))
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(*ident) + sql.SQL(definition)
            )
        conn.rollback()
        latest = conn.execute(
            "SELECT count(*) FROM integrations WHERE latest_revision_id IS NOT NULL"
        ).fetchone()
    expected = sum(1 for row in read_seeds().rows["integrations"] if row["latest_revision_id"])
    assert latest == (expected,)
    assert expected > 0


def test_seed_twice_is_refused_and_changes_nothing(
    seeded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(seeded) as conn:
        conn.execute("UPDATE organizations SET label = 'edited'")
    before = stored_rows(seeded)
    code, out, err = run(capsys, "seed", "--url", seeded)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("ampdb: error: ")
    assert "already holds rows" in err
    assert "--replace" in err
    assert stored_rows(seeded) == before


def test_seed_refuses_when_any_table_holds_rows(migrated: str) -> None:
    """Even one row in one table means a refusal, with no partial load."""
    org = read_seeds().rows["organizations"][0]
    with psycopg.connect(migrated) as conn:
        conn.execute(
            "INSERT INTO organizations (id, label, default_team_id, create_time) "
            "VALUES (gen_random_uuid(), 'mine', gen_random_uuid(), now())"
        )
        conn.commit()
        with pytest.raises(SeedError, match="organizations"):
            load_into_postgres(conn, read_seeds())
    counts = table_counts(migrated)
    assert counts == {**dict.fromkeys(TABLES, 0), "organizations": 1}
    assert org["id"] not in {r["id"] for r in stored_rows(migrated)["organizations"]}


def test_seed_replace_reloads(seeded: str, capsys: pytest.CaptureFixture[str]) -> None:
    with psycopg.connect(seeded) as conn:
        conn.execute("DELETE FROM operations")
        conn.execute("UPDATE projects SET app_name = 'changed'")
        conn.execute("UPDATE integrations SET latest_revision_id = NULL")
    code, _, err = run(capsys, "seed", "--url", seeded, "--replace")
    assert (code, err) == (0, "")
    assert stored_rows(seeded) == seed_rows()


def test_seed_on_an_unmigrated_database_says_so(
    fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "seed", "--url", fresh_database)
    assert code == 1
    assert err.count("\n") == 1
    assert "migrate" in err


def test_seed_names_a_broken_seed_file(
    migrated: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "seed"
    shutil.copytree(seeds_dir(), broken)
    rows = json.loads((broken / "operations.json").read_text(encoding="utf-8"))
    rows[0]["status"] = "exploded"
    (broken / "operations.json").write_text(json.dumps(rows), encoding="utf-8")
    code, _, err = run(capsys, "seed", "--url", migrated, "--dir", str(broken))
    assert code == 1
    assert err.count("\n") == 1
    assert "operations.json" in err
    assert "row 1" in err
    assert table_counts(migrated) == dict.fromkeys(TABLES, 0)


def test_seed_connection_error_hides_the_password(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "seed", "--url", "postgresql://u:s3cr3t-pw@127.0.0.1:1/x")
    assert code == 1
    assert err.count("\n") == 1
    assert "s3cr3t-pw" not in out + err


def test_refresh_db_rebuilds_a_local_database(
    seeded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(seeded) as conn:
        conn.execute("CREATE TABLE leftover (x int)")
        conn.execute("DELETE FROM operations")
    # it did not create this database, so it refuses, and changes nothing ...
    code, out, err = run(capsys, "refresh-db", "--url", seeded)
    assert code == 1
    assert "refresh-db did not create it (use --force to drop it anyway)" in err
    with psycopg.connect(seeded) as conn:
        assert conn.execute("SELECT to_regclass('public.leftover')").fetchone() != (None,)
    # ... unless told; from then on the database is its own
    code, out, err = run(capsys, "refresh-db", "--url", seeded, "--force")
    assert (code, err) == (0, "")
    code, out, err = run(capsys, "refresh-db", "--url", seeded)
    assert (code, err) == (0, "")
    assert f"{len(list(migrations_dir().glob('*.sql')))} migration files applied" in out
    assert stored_rows(seeded) == seed_rows()
    with psycopg.connect(seeded) as conn:
        assert conn.execute("SELECT to_regclass('public.leftover')").fetchone() == (None,)
    code, out, err = run(capsys, "migrate", "status", "--url", seeded)
    assert code == 0


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:secret@db.example.com/x",
        "postgresql://u:secret@10.1.2.3:5432/x",
        "host=db.example.com user=u password=secret dbname=x",
        "postgresql://u:secret@localhost,db.example.com/x",
    ],
)
def test_refresh_db_refuses_a_remote_host(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "refresh-db", "--url", url)
    assert code == 1
    assert err.count("\n") == 1
    assert "not a local host" in err
    assert "--force" in err
    assert "secret" not in out + err


def test_refresh_db_force_errors_hide_the_password(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "refresh-db", "--force", "--url", "postgresql://u:secret@db.invalid/x"
    )
    assert code == 1
    assert err.count("\n") == 1
    assert "secret" not in out + err


def test_refresh_db_refuses_system_databases(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "refresh-db", "--url", "postgresql://postgres@localhost/template1")
    assert code == 1
    assert "template1" in err


@pytest.mark.parametrize(
    ("host", "remote"),
    [
        ("", []),
        ("host=/tmp/sockets", []),
        ("host=localhost", []),
        ("host=127.0.0.1", []),
        ("host=127.42.0.9", []),
        ("host=::1", []),
        ("hostaddr=127.0.0.1", []),
        ("host=db.example.com", ["db.example.com"]),
        ("host=128.0.0.1", ["128.0.0.1"]),
        ("host=::2", ["::2"]),
        ("host=localhost,10.0.0.5", ["10.0.0.5"]),
        ("host=localhost hostaddr=10.0.0.5", ["10.0.0.5"]),
    ],
)
def test_local_host_rule(host: str, remote: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGHOST", raising=False)
    monkeypatch.delenv("PGHOSTADDR", raising=False)
    assert remote_hosts(f"dbname=x {host}") == remote


def test_refresh_db_respects_pghost_when_the_url_has_no_host(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PGHOST", "db.example.com")
    code, _, err = run(capsys, "refresh-db", "--url", "postgresql:///x")
    assert code == 1
    assert "db.example.com" in err


def test_env_prints_the_four_exports(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql://app:p'w d$x@localhost:5432/ampdb"
    code, out, err = run(capsys, "env", "--url", url)
    assert (code, err) == (0, "")
    assert out.count("\n") == 1
    words = shlex.split(out)
    assert words[0] == "export"
    exported = dict(word.split("=", 1) for word in words[1:])
    ids = read_seeds().ids
    assert exported == {
        "PROJECT_ID": ids.project_id,
        "API_KEY": ids.api_key,
        "ADMIN_KEY": ids.admin_key,
        "DB_DSN": url,
    }
    shell = subprocess.run(
        ["sh", "-c", 'eval "$1"; printf "%s|%s" "$PROJECT_ID" "$DB_DSN"', "sh", out],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shell.stdout == f"{ids.project_id}|{url}"


def test_env_defaults_to_the_environment_dsn(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AMPDB_DSN", raising=False)
    monkeypatch.setenv("DB_DSN", "postgresql://me@localhost/mine")
    code, out, _ = run(capsys, "env")
    assert code == 0
    assert "DB_DSN=postgresql://me@localhost/mine" in out
    monkeypatch.setenv("AMPDB_DSN", "postgresql://me@localhost/first")
    code, out, _ = run(capsys, "env")
    assert "DB_DSN=postgresql://me@localhost/first" in out
