"""The CLI's database commands on a project's own schema (``--schema`` / ``$AMPDB_SCHEMA``):
seeds of the project's tables and columns are read against its declarations, not the packaged
twelve tables."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from pytest_ampdb.cli import main

BILLING = Path(__file__).resolve().parents[1] / "examples" / "billing"


@pytest.fixture(autouse=True)
def billing_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BILLING))
    monkeypatch.delenv("AMPDB_SCHEMA", raising=False)


def test_env_reads_a_projects_seeds_with_its_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["env", "--dir", str(BILLING / "seed"), "--schema", "billing.schema"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("export PROJECT_ID=")


def test_without_the_schema_a_projects_seed_file_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["env", "--dir", str(BILLING / "seed")])
    _, err = capsys.readouterr()
    assert code != 0
    [line] = err.strip().splitlines()
    assert "no table named" in line
    # the line says what to do: the project's tables come with its schema module
    assert line.endswith(
        "needs that module named: ampdb's --schema or AMPDB_SCHEMA, pytest's "
        "--ampdb-schema or ampdb_schema"
    )
    assert "Traceback" not in err


def test_the_schema_comes_from_the_environment_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMPDB_SCHEMA", "billing.schema")
    code = main(["env", "--dir", str(BILLING / "seed")])
    _, err = capsys.readouterr()
    assert code == 0, err


@pytest.mark.postgres
def test_seed_loads_a_projects_own_tables_and_columns(
    fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["migrate", "apply", "--dir", str(BILLING / "migrations"), "-u", fresh_database]) == 0
    )
    argv = ["seed", "-u", fresh_database, "--dir", str(BILLING / "seed")]
    code = main([*argv, "--schema", "billing.schema"])
    _, err = capsys.readouterr()
    assert code == 0, err
    with psycopg.connect(fresh_database) as conn:
        invoices = conn.execute("SELECT count(*) FROM invoices").fetchone()
        tiers = conn.execute("SELECT DISTINCT tier FROM api_keys").fetchall()
    assert invoices == (1,)
    assert tiers == [("free",)]
