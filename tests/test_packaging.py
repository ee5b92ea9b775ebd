"""The distribution as a user gets it: a wheel installed into a fresh virtualenv.

A test file that uses only the public names (fixtures, factories, ``database``, ``mock``,
``errors``, ``models``) runs green in an unrelated folder with no conftest (but a ``factories.py``
of its own), the plugin loading by entry point; the ``ampdb`` console script and the packaged
``schema/`` work from the wheel, which installs one top-level package, typed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PUBLIC_NAMES_SUITE = """
import threading

import pytest

from pytest_ampdb.factories import ConnectionFactory, OperationFactory
from pytest_ampdb import database, errors, mock, models


def test_fixtures_and_factories(ampdb, ampdb_seed, installation_factory):
    project = ampdb.projects.get_by_id(ampdb_seed.project_id)
    installation = installation_factory.create(project_id=project.id)
    op = OperationFactory.create(installation=installation)
    moved = ampdb.operations.transition(op.project_id, op.id, models.OperationStatus.RUNNING)
    assert moved.status is models.OperationStatus.RUNNING
    with pytest.raises(errors.InvalidTransitionError):
        ampdb.operations.transition(op.project_id, op.id, models.OperationStatus.PENDING)


def test_isolation_and_threads(ampdb):
    assert len(ampdb.connections.list(ampdb.projects.list().items[0].id).items) == 3
    seen = []
    worker = threading.Thread(target=lambda: seen.append(len(database.projects().list().items)))
    worker.start()
    worker.join()
    assert seen == [1]


def test_mock_builders(ampdb_mock):
    connection = ConnectionFactory.build()
    repo = mock.ConnectionBuilder().with_get_by_id(lambda project_id, id: connection).build()
    with database.with_connection_repository(repo):
        assert database.connections().get_by_id("p", "c") is connection
    with pytest.raises(mock.NotStubbedError):
        repo.delete("p", "c")
    assert repr(models.ApiKey(key="s3cret", project_id=connection.project_id, label="x", scopes=("full",))).count("s3cret") == 0
"""


A_PROJECTS_OWN_FACTORIES = """
# a downstream project's own factories module, which the plugin's fixtures must not pick up
NOTHING_HERE = True
"""

TYPED_USE = """
from pytest_ampdb.factories import ConnectionFactory, OperationFactory
from pytest_ampdb.models import Connection, Operation

connection: Connection = ConnectionFactory.create()
operations: list[Operation] = OperationFactory.build_batch(2)
wrong: Operation = ConnectionFactory.build()
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this checkout."""
    wheels = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
    )
    (built,) = wheels.glob("pytest_ampdb-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed (with its dependencies)."""
    env_dir = tmp_path_factory.mktemp("pkg") / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], check=True)
    return env_dir


def test_the_wheel_installs_one_typed_package_with_the_factories_inside(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {
        "pytest_ampdb",
        "pytest_ampdb-0.1.0.dist-info",
    }
    assert "pytest_ampdb/py.typed" in names
    assert "pytest_ampdb/factories/__init__.py" in names
    assert "pytest_ampdb/factories/entities.py" in names
    assert "pytest_ampdb/factories.py" not in names  # the checkout's mapping stays behind


def test_factory_create_is_typed_as_its_model(installed: Path, tmp_path: Path) -> None:
    (tmp_path / "use.py").write_text(textwrap.dedent(TYPED_USE))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            f"--python-executable={installed / 'bin' / 'python'}",
            "use.py",
        ],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, result.stdout + result.stderr
    assert (
        'use.py:7: error: Incompatible types in assignment (expression has type "Connection", variable has type "Operation")'
        in errors[0]
    )


def test_a_public_names_suite_runs_green_in_an_unrelated_folder(
    installed: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "test_downstream.py").write_text(textwrap.dedent(PUBLIC_NAMES_SUITE))
    (folder / "factories.py").write_text(A_PROJECTS_OWN_FACTORIES)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMPDB_", "PYTEST_"))}
    result = subprocess.run(
        [str(installed / "bin" / "pytest"), "--ampdb=memory", "-p", "no:cacheprovider"],
        check=False,
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
    assert "ampdb: backend memory" in result.stdout
    assert str(ROOT) not in result.stdout  # the seeds come from the installed wheel


def installed_ampdb(installed: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed ``ampdb`` console script, without this run's database variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMPDB_", "DB_DSN"))}
    return subprocess.run(
        [str(installed / "bin" / "ampdb"), *args],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_console_script_and_packaged_schema_work_from_the_wheel(
    installed: Path, tmp_path: Path
) -> None:
    result = installed_ampdb(installed, tmp_path, "migrate", "validate")
    assert result.returncode == 0, result.stderr
    # the schema snapshot memory mode checks the declarations against ships with the files
    (packaged,) = installed.glob("lib/python*/site-packages/pytest_ampdb/schema/migrations")
    snapshot = "ampdb.schema.json"
    assert (packaged / snapshot).read_bytes() == (
        ROOT / "schema/migrations" / snapshot
    ).read_bytes()
    env = installed_ampdb(installed, tmp_path, "env", "--url", "postgresql://me@localhost/app")
    assert env.returncode == 0, env.stderr
    assert env.stdout.startswith("export PROJECT_ID=a0000002-0000-4000-8000-000000000001 ")


@pytest.mark.parametrize(
    "command",
    [["migrate", "new", "add_things"], ["migrate", "hash"], ["migrate", "diff", "add_things"]],
)
def test_the_installed_wheel_refuses_to_write_into_itself(
    installed: Path, tmp_path: Path, command: list[str]
) -> None:
    (packaged,) = installed.glob("lib/python*/site-packages/pytest_ampdb/schema/migrations")
    before = {p.name: p.read_bytes() for p in packaged.iterdir()}
    result = installed_ampdb(installed, tmp_path, *command)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.count("\n") == 1
    assert "installed distribution" in result.stderr
    assert "pass --dir DIR" in result.stderr
    assert {p.name: p.read_bytes() for p in packaged.iterdir()} == before
