"""The ``ampdb`` CLI is safe by default: it never writes into an installed distribution, reads
its URL where every other command does, never invents a ``DB_DSN``, and its hints name its own
commands."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytest_ampdb.cli import main
from pytest_ampdb.cli.database import FORCE_RULE
from pytest_ampdb.paths import migrations_dir

README = Path(__file__).resolve().parents[2] / "README.md"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.fixture
def no_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AMPDB_DSN", "DB_DSN", "PGHOST", "PGHOSTADDR"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("dist", ["site-packages", "dist-packages"])
@pytest.mark.parametrize(
    "command",
    [["migrate", "new", "add_things"], ["migrate", "hash"], ["migrate", "diff", "add_things"]],
)
def test_writing_commands_refuse_an_installed_distribution(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dist: str, command: list[str]
) -> None:
    installed = tmp_path / "venv" / "lib" / "python3.11" / dist / "pytest_ampdb" / "schema"
    directory = installed / "migrations"
    shutil.copytree(migrations_dir(), directory)
    before = snapshot(directory)
    code, out, err = run(capsys, *command, "--dir", str(directory))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith(f"ampdb: error: refusing to write into {directory}: ")
    assert "installed distribution" in err
    assert "pass --dir DIR" in err
    assert snapshot(directory) == before


def test_a_project_directory_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "project" / "migrations"
    shutil.copytree(migrations_dir(), directory)
    before = {p.name for p in directory.iterdir()}
    assert run(capsys, "migrate", "new", "add_things", "--dir", str(directory)) == (0, "", "")
    (created,) = {p.name for p in directory.iterdir()} - before
    assert created.endswith("_add_things.sql")


def test_a_stale_sum_hint_names_our_own_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), directory)
    first = sorted(directory.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    code, out, err = run(capsys, "migrate", "validate", "--dir", str(directory))
    assert code == 1
    # Atlas's block goes to stdout, as Atlas prints it; the one-line error to stderr
    assert f"run 'ampdb migrate hash --dir {directory}' to re-hash the contents" in out
    assert "atlas migrate" not in out + err


def test_refresh_db_reads_the_url_from_the_environment(
    no_dsn: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "refresh-db")
    assert code == 2
    assert "--url" in err
    assert "AMPDB_DSN" in err
    # a remote host from either variable is refused by name: the command read it
    monkeypatch.setenv("DB_DSN", "postgresql://app:s3cr3t@db-from-db-dsn.example.com/app")
    code, out, err = run(capsys, "refresh-db")
    assert (code, out) == (1, "")
    assert "db-from-db-dsn.example.com" in err
    assert "s3cr3t" not in err
    monkeypatch.setenv("AMPDB_DSN", "postgresql://app@db-from-ampdb-dsn.example.com/app")
    code, _, err = run(capsys, "refresh-db")
    assert code == 1
    assert "db-from-ampdb-dsn.example.com" in err


def _words(text: str) -> str:
    return " ".join(text.split())


def test_refresh_db_help_and_readme_say_the_same_about_force(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "refresh-db", "--help")
    assert code == 0
    assert _words(FORCE_RULE) in _words(out)
    assert _words(FORCE_RULE) in _words(README.read_text())


def test_env_without_a_url_exports_no_db_dsn(
    no_dsn: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "env")
    assert code == 0
    assert "DB_DSN" not in out
    assert out.startswith("export PROJECT_ID=")
    assert "API_KEY=" in out
    assert "ADMIN_KEY=" in out
    assert err == "ampdb env: DB_DSN not exported (no --url, $AMPDB_DSN or $DB_DSN)\n"
