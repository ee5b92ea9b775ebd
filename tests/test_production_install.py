"""The README's production install, run as written in a fresh venv: the data layer alone.

A service script reaches its repositories through ``pytest_ampdb.database`` on PostgreSQL (a
real local cluster, migrated and seeded by the production install's ``ampdb`` command) and in
memory, with none of the test tools installed.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARK = "<!-- production-install:"
TEST_TOOLS = {"pytest", "testcontainers", "docker", "factory-boy", "faker", "filelock", "requests"}

SERVICE = """
import atexit
import dataclasses

import psycopg_pool  # imports logging, which registers its own atexit hook

before = atexit._ncallbacks()

from pytest_ampdb import database
from pytest_ampdb.errors import NotFoundError
from pytest_ampdb.models import Organization, Project

org = database.organizations().create(Organization(label="Acme", default_team_id="4b0c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3"))
project = database.projects().create(
    Project(name="acme-sync", app_name="Acme", organization_id=org.id)
)
renamed = database.projects().update(dataclasses.replace(project, app_name="Acme Sync"))
assert database.projects().get_by_name("acme-sync") == renamed
database.projects().delete(project.id)
try:
    database.projects().get_by_id(project.id)
except NotFoundError:
    pass
names = sorted(p.name for p in database.projects().list().items)
print("service ok", names, "new atexit hooks", atexit._ncallbacks() - before)
"""


def readme_install_lines() -> list[str]:
    """The shell lines of the README's production-install block."""
    text = (ROOT / "README.md").read_text()
    block = text.split(MARK, 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def lean_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding exactly what the README's production install lines put there."""
    where = tmp_path_factory.mktemp("production")
    dist = where / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
        check=True,
    )
    env_dir = where / "venv"
    venv.create(env_dir, with_pip=True)
    for line in readme_install_lines():
        words = shlex.split(line)
        assert words[:2] == ["pip", "install"], line
        args = [w.replace("dist/", f"{dist}/") for w in words[2:]]
        subprocess.run(
            [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", *args], check=True
        )
    return env_dir


def installed_names(env_dir: Path) -> set[str]:
    listed = subprocess.run(
        [str(env_dir / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {line.split("==")[0].lower().replace("_", "-") for line in listed.splitlines()}


def test_the_readme_names_the_core_requirements_as_pyproject_declares_them() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (first, *_) = readme_install_lines()
    named = shlex.split(first)[2:]
    assert named, first
    for requirement in named:
        assert requirement in declared, f"README names {requirement!r}; pyproject: {declared}"


def test_the_production_install_holds_no_test_tools(lean_venv: Path) -> None:
    names = installed_names(lean_venv)
    assert {"pytest-ampdb", "psycopg", "psycopg-pool", "cryptography"} <= names
    assert not names & TEST_TOOLS


def _run(env_dir: Path, args: list[str], cwd: Path, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AMPDB_", "DB_", "PYTEST"))}
    result = subprocess.run(
        args,
        check=False,
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_a_service_runs_in_memory_from_the_production_install(
    lean_venv: Path, tmp_path: Path
) -> None:
    (tmp_path / "service.py").write_text(textwrap.dedent(SERVICE))
    out = _run(
        lean_venv,
        [str(lean_venv / "bin" / "python"), "service.py"],
        tmp_path,
        AMPDB_BACKEND="memory",
    )
    assert re.fullmatch(r"service ok \['[a-z0-9-]+'\] new atexit hooks 0\n", out), out


def test_a_service_runs_on_postgres_from_the_production_install(
    lean_venv: Path, tmp_path: Path, fresh_database: str
) -> None:
    ampdb = lean_venv / "bin" / "ampdb"  # the deployment commands work without the harness
    _run(lean_venv, [str(ampdb), "migrate", "apply", "--url", fresh_database], tmp_path)
    _run(lean_venv, [str(ampdb), "seed", "--url", fresh_database], tmp_path)
    (tmp_path / "service.py").write_text(textwrap.dedent(SERVICE))
    out = _run(
        lean_venv,
        [str(lean_venv / "bin" / "python"), "service.py"],
        tmp_path,
        AMPDB_DSN=fresh_database,
    )
    assert re.fullmatch(r"service ok \['[a-z0-9-]+'\] new atexit hooks 0\n", out), out


@pytest.mark.parametrize(
    ("command", "needs"),
    [
        (["clean", "--list"], "ampdb clean needs"),
        (
            ["migrate", "lint", "--latest", "1"],
            "a throwaway dev database (no --dev-url given) needs",
        ),
    ],
)
def test_harness_commands_say_in_one_line_what_a_production_install_lacks(
    lean_venv: Path, tmp_path: Path, command: list[str], needs: str
) -> None:
    result = subprocess.run(
        [str(lean_venv / "bin" / "ampdb"), *command],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"ampdb: error: {needs} pytest-ampdb's test tools (")
    assert result.stderr.count("\n") == 1, result.stderr
