"""The plugin in container mode: a testcontainers PostgreSQL 15 per run, or kept for the next.

These need a Docker engine with the postgres:15 image (``scripts/docker-setup``); without one
they skip, except under CI, where they fail.
"""

from __future__ import annotations

from pathlib import Path

import docker  # type: ignore[import-untyped]
import pytest
from test_container import require_docker

from pytest_ampdb.harness.provisioning.container import (
    LABEL,
    LABEL_PROJECT,
    project_key,
    reuse_name,
)

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[1]


def our_containers(project: Path | None = None) -> list[str]:
    """The plugin's containers (of one project root only, if given: other tests running at the
    same time under xdist start their own)."""
    labels = [LABEL] if project is None else [LABEL, f"{LABEL_PROJECT}={project_key(project)}"]
    client = docker.from_env()
    try:
        return sorted(c.name for c in client.containers.list(all=True, filters={"label": labels}))
    finally:
        client.close()


@pytest.fixture(autouse=True)
def docker_engine() -> None:
    require_docker()


def test_the_example_suite_runs_in_a_container_that_is_removed_afterwards(
    pytester: pytest.Pytester,
) -> None:
    result = pytester.runpytest_subprocess(
        "--ampdb=postgres",
        "--ampdb-postgres=container",
        "-p",
        "no:randomly",
        "--rootdir",
        str(pytester.path),
        str(ROOT / "examples"),
    )
    result.assert_outcomes(passed=17)
    result.stdout.fnmatch_lines(
        ["ampdb: backend postgres: PostgreSQL 15.*, container * (postgres:15) at *:* (started)"]
    )
    header = next(line for line in result.stdout.lines if line.startswith("ampdb: backend"))
    assert "://" not in header  # no URL, so no password, in the header
    assert our_containers(pytester.path) == []


def test_reuse_keeps_the_container_named_after_the_project_and_recreate_replaces_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_x(ampdb): assert ampdb.projects.list().items")
    name = reuse_name(pytester.path)
    args = ("--ampdb=postgres", "--ampdb-postgres=container", "--rootdir", str(pytester.path))
    try:
        first = pytester.runpytest_subprocess(*args, "--ampdb-reuse")
        first.assert_outcomes(passed=1)
        first.stdout.fnmatch_lines(
            ["ampdb: backend * (postgres:15) at *, kept for the next run (started)"]
        )
        assert name in our_containers()
        second = pytester.runpytest_subprocess(*args, "--ampdb-reuse")
        second.assert_outcomes(passed=1)
        second.stdout.fnmatch_lines(
            [
                "ampdb: backend * at *, kept for the next run (reused)",
                "*template ampdb_tpl_* (reused)*",
            ]
        )
        third = pytester.runpytest_subprocess(*args, "--ampdb-recreate")
        third.assert_outcomes(passed=1)
        third.stdout.fnmatch_lines(["*template ampdb_tpl_* (built in *)*"])
        assert name not in our_containers()  # recreated, then removed: no --ampdb-reuse
    finally:
        client = docker.from_env()
        for container in client.containers.list(all=True, filters={"name": name}):
            container.remove(force=True)
        client.close()
