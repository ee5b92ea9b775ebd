"""PostgreSQL in a Docker container: what ``--ampdb-postgres=container`` and ``--ampdb-reuse``
rely on. These tests run real containers; without a Docker engine they skip, except under CI
(env CI set), where they fail."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from pytest_ampdb.harness.provisioning import ProvisioningError
from pytest_ampdb.harness.provisioning import container as container_module
from pytest_ampdb.harness.provisioning import lease as leases
from pytest_ampdb.harness.provisioning.container import (
    DEFAULT_IMAGE,
    LABEL,
    LABEL_LEASE,
    LABEL_OWNER_HOST,
    LABEL_OWNER_PID,
    LABEL_PROJECT,
    LABEL_REUSE,
    docker_available,
    image_present,
    project_key,
    remove_container,
    reuse_name,
    start_container,
    sweep_dead_containers,
)
from pytest_ampdb.harness.provisioning.server import Server

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def require_docker() -> None:
    """Skip without a Docker engine and the postgres:15 image; fail instead when CI is set."""
    reason = ""
    if not docker_available():
        reason = "needs a Docker engine (as root: bash scripts/docker-setup)"
    elif not image_present(DEFAULT_IMAGE, timeout=10):
        reason = f"needs the {DEFAULT_IMAGE} image (as root: bash scripts/docker-setup)"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


@pytest.fixture
def docker_client() -> Iterator[Any]:
    require_docker()
    client = container_module._docker_client(30)
    yield client
    client.close()


@pytest.fixture
def project(docker_client: Any) -> Iterator[Path]:
    """A project root of this test's own; its kept container is removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="ampdb-project-"))
    yield root
    remove_container(reuse_name(root))
    root.rmdir()


def _exists(client: Any, container_id: str) -> bool:
    docker = container_module._docker()
    try:
        client.containers.get(container_id)
    except docker.errors.NotFound:
        return False
    return True


def _container_of(client: Any, server: Server) -> Any:
    port = server.admin_dsn.rsplit(":", 1)[1].split("/", 1)[0]
    for candidate in client.containers.list(filters={"label": f"{LABEL}=1"}):
        bindings = candidate.attrs["NetworkSettings"]["Ports"].get("5432/tcp") or []
        if any(b["HostPort"] == port for b in bindings):
            return candidate
    raise AssertionError(f"no container publishes port {port}")


def _scalar(dsn: str, query: str) -> Any:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def _child(project: Path) -> subprocess.Popen[str]:
    """A separate interpreter that starts a container through the API, prints its id, waits."""
    code = f"""
        import signal, sys, time
        from pathlib import Path
        # Default dispositions, whatever the parent left (a background job may ignore SIGINT).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        from pytest_ampdb.harness.provisioning.container import start_container
        server = start_container(project_root=Path({str(project)!r}))
        port = server.admin_dsn.rsplit(":", 1)[1].split("/", 1)[0]
        print(port, flush=True)
        time.sleep(120)
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _child_container(client: Any, child: subprocess.Popen[str]) -> Any:
    assert child.stdout is not None
    port = child.stdout.readline().strip()
    if not port:
        child.wait(10)
        raise AssertionError(
            f"the child did not start a container: {child.stderr and child.stderr.read()}"
        )
    server = Server(admin_dsn=f"postgresql://x@h:{port}/postgres", kind="container", description="")
    return _container_of(client, server)


# --------------------------------------------------------------------------- a throwaway container


@pytest.mark.docker
def test_container_answers_as_postgres_15_with_throwaway_settings(
    docker_client: Any, project: Path
) -> None:
    started = time.perf_counter()
    server = start_container(project_root=project)
    elapsed = time.perf_counter() - started
    try:
        assert _scalar(server.admin_dsn, "select version()").startswith("PostgreSQL 15.")
        assert server.version.startswith("15.")
        assert server.kind == "container"
        assert server.owned
        assert not server.reused
        assert server.dbname == "postgres"
        for name, value in {
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
        }.items():
            assert _scalar(server.admin_dsn, f"show {name}") == value
        assert _scalar(
            server.admin_dsn, "select rolsuper from pg_roles where rolname = current_user"
        )
        password = conninfo_to_dict(server.admin_dsn)["password"]
        assert password
        assert str(password) not in server.description
        assert server.description.startswith("container ")
        assert DEFAULT_IMAGE in server.description
        assert elapsed < 60
    finally:
        server.close()


@pytest.mark.docker
def test_container_carries_the_labels_that_identify_its_owner(
    docker_client: Any, project: Path
) -> None:
    server = start_container(project_root=project)
    try:
        labels = _container_of(docker_client, server).labels
        assert labels[LABEL] == "1"
        assert labels[LABEL_OWNER_PID] == str(os.getpid())
        assert labels[LABEL_OWNER_HOST] == socket.gethostname()
        assert labels[LABEL_PROJECT] == project_key(project)
        assert labels[LABEL_REUSE] == "0"
    finally:
        server.close()


@pytest.mark.docker
def test_release_removes_the_container(docker_client: Any, project: Path) -> None:
    server = start_container(project_root=project)
    container = _container_of(docker_client, server)
    server.release()
    assert not _exists(docker_client, container.id)
    server.close()  # a second release is harmless


@pytest.mark.docker
def test_a_host_port_taken_before_docker_binds_it_is_retried_on_another(
    docker_client: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The container is published on a host port the plugin picks (so ``docker restart``
    keeps it); another process may take that port between the pick and Docker's bind."""
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        picks = iter([port])
        real = container_module.free_port
        monkeypatch.setattr(container_module, "free_port", lambda: next(picks, None) or real())
        server = start_container(project_root=project)
        try:
            published = int(conninfo_to_dict(server.admin_dsn)["port"])
            assert published != port
            assert _scalar(server.admin_dsn, "select 1") == 1
        finally:
            server.close()
    assert [c.id for c in docker_client.containers.list(all=True) if port_of(c) == port] == []


def port_of(container: Any) -> int | None:
    bindings = (container.attrs.get("HostConfig") or {}).get("PortBindings") or {}
    for each in bindings.get("5432/tcp") or []:
        return int(each.get("HostPort") or 0)
    return None


@pytest.mark.docker
def test_extra_settings_reach_the_server(docker_client: Any, project: Path) -> None:
    server = start_container(project_root=project, settings={"work_mem": "7MB", "fsync": "on"})
    try:
        assert _scalar(server.admin_dsn, "show work_mem") == "7MB"
        assert _scalar(server.admin_dsn, "show fsync") == "on"
    finally:
        server.close()


@pytest.mark.docker
def test_works_with_ryuk_disabled_when_its_image_is_missing(
    docker_client: Any, project: Path
) -> None:
    from testcontainers.core.config import testcontainers_config

    docker = container_module._docker()
    try:
        docker_client.images.get(testcontainers_config.ryuk_image)
        ryuk_present = True
    except docker.errors.ImageNotFound:
        ryuk_present = False
    environ, before = dict(os.environ), testcontainers_config.ryuk_disabled
    server = start_container(project_root=project)
    try:
        assert _scalar(server.admin_dsn, "select 1") == 1
        if not ryuk_present:
            ryuks = docker_client.containers.list(all=True, filters={"name": "testcontainers-ryuk"})
            assert ryuks == []
        # disabled for our start only: the project's environment and own containers keep theirs
        assert (dict(os.environ), testcontainers_config.ryuk_disabled) == (environ, before)
    finally:
        server.close()


# --------------------------------------------------------------------------- cleanup after a crash


@pytest.mark.docker
def test_a_dead_owners_container_is_swept_and_a_live_owners_is_not(
    docker_client: Any, project: Path
) -> None:
    mine = start_container(project_root=project)
    child = _child(project)
    try:
        orphan = _child_container(docker_client, child)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        assert _exists(docker_client, orphan.id)  # SIGKILL: nothing in the child ran
        assert sweep_dead_containers() >= 1
        assert not _exists(docker_client, orphan.id)
        assert _exists(docker_client, _container_of(docker_client, mine).id)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        mine.close()


@pytest.mark.docker
def test_a_runs_container_is_judged_by_its_lease_not_by_its_starters_pid(
    docker_client: Any, project: Path
) -> None:
    """A container started for a run holds the run's lease; while any session holds that lease
    (the run's other processes), the sweep leaves the container alone though the process that
    started it is gone; once the lease is free, it goes."""
    code = f"""
        import json, os, sys
        from pathlib import Path
        from pytest_ampdb.harness.provisioning.container import start_container
        server = start_container(project_root=Path({str(project)!r}), lease="c0ffee")
        print(json.dumps({{"dsn": str(server.admin_dsn)}}), flush=True)
        sys.stdin.readline()  # until the run's other process holds the lease too
        os._exit(0)  # nothing of the starter runs on: no atexit, no release
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    dsn = json.loads(child.stdout.readline())["dsn"]
    found = _container_of(docker_client, Server(dsn, "container", ""))
    try:
        assert found.labels[LABEL_LEASE] == "c0ffee"
        hold = leases.hold(dsn, "c0ffee")  # the run goes on in another of its processes
        try:
            child.stdin.write("\n")
            child.stdin.close()
            assert child.wait(30) == 0
            sweep_dead_containers()
            assert _exists(docker_client, found.id)
        finally:
            hold.close()
        assert sweep_dead_containers() >= 1  # the lease is free and the starter is gone
        assert not _exists(docker_client, found.id)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        remove_container(found.id)


@pytest.mark.docker
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_owner_removes_its_container(
    docker_client: Any, project: Path, sig: signal.Signals
) -> None:
    child = _child(project)
    try:
        container = _child_container(docker_client, child)
        child.send_signal(sig)
        child.wait(30)
        assert not _exists(docker_client, container.id)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)


# --------------------------------------------------------------------------- reuse and recreate


@pytest.mark.docker
def test_reuse_keeps_the_container_for_the_next_run(docker_client: Any, project: Path) -> None:
    first = start_container(project_root=project, reuse=True)
    kept = _container_of(docker_client, first)
    assert kept.name == reuse_name(project)
    assert kept.labels[LABEL_REUSE] == "1"
    assert not first.reused
    first.release()
    assert _exists(docker_client, kept.id)

    second = start_container(project_root=project, reuse=True)
    assert second.reused
    assert _container_of(docker_client, second).id == kept.id
    # the report header adds "(reused)" from ``reused``; the description says what it is
    assert second.description.endswith(", kept for the next run"), second.description
    assert _scalar(second.admin_dsn, "select 1") == 1

    kept.stop(timeout=10)
    third = start_container(project_root=project, reuse=True)
    assert third.reused
    assert _container_of(docker_client, third).id == kept.id
    assert _scalar(third.admin_dsn, "select 1") == 1


@pytest.mark.docker
def test_a_kept_container_survives_the_sweep(docker_client: Any, project: Path) -> None:
    child_code = f"""
        from pathlib import Path
        from pytest_ampdb.harness.provisioning.container import start_container
        start_container(project_root=Path({str(project)!r}), reuse=True)
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    subprocess.run(
        [sys.executable, "-c", textwrap.dedent(child_code)], env=env, check=True, timeout=120
    )
    kept = docker_client.containers.get(reuse_name(project))
    sweep_dead_containers()
    assert _exists(docker_client, kept.id)
    again = start_container(project_root=project, reuse=True)
    assert again.reused


@pytest.mark.docker
def test_recreate_replaces_the_kept_container(docker_client: Any, project: Path) -> None:
    first = start_container(project_root=project, reuse=True)
    old = _container_of(docker_client, first)
    with psycopg.connect(first.admin_dsn, autocommit=True) as conn:
        conn.execute("create database left_over")
    second = start_container(project_root=project, reuse=True, recreate=True)
    new = _container_of(docker_client, second)
    assert new.id != old.id
    assert not second.reused
    assert not _exists(docker_client, old.id)
    assert (
        _scalar(
            second.dsn("postgres"), "select count(*) from pg_database where datname = 'left_over'"
        )
        == 0
    )


@pytest.mark.docker
def test_other_settings_replace_the_kept_container(docker_client: Any, project: Path) -> None:
    first = start_container(project_root=project, reuse=True)
    old = _container_of(docker_client, first)
    second = start_container(project_root=project, reuse=True, settings={"work_mem": "9MB"})
    assert not second.reused
    assert _container_of(docker_client, second).id != old.id
    assert _scalar(second.admin_dsn, "show work_mem") == "9MB"


# --------------------------------------------------------------------------- the image


@pytest.mark.docker
def test_a_missing_image_is_one_clear_error_in_bounded_time(
    docker_client: Any, project: Path
) -> None:
    started = time.monotonic()
    with pytest.raises(ProvisioningError) as excinfo:
        start_container(project_root=project, image="postgres:does-not-exist", timeout=30)
    message = str(excinfo.value)
    assert time.monotonic() - started < 45
    assert "\n" not in message
    assert "'postgres:does-not-exist'" in message
    assert "scripts/docker-setup` (in a checkout of pytest-ampdb)" in message  # not installed
    assert not image_present("postgres:does-not-exist")
    assert image_present(DEFAULT_IMAGE)


@pytest.mark.docker
def test_the_image_passes_testcontainers_own_readiness_check(docker_client: Any) -> None:
    from testcontainers.community.postgres import PostgresContainer
    from testcontainers.core.config import testcontainers_config

    docker = container_module._docker()
    with contextlib.ExitStack() as stack:
        try:
            docker_client.images.get(testcontainers_config.ryuk_image)
        except docker.errors.ImageNotFound:
            stack.enter_context(_ryuk_disabled(testcontainers_config))
        pg = stack.enter_context(
            PostgresContainer(DEFAULT_IMAGE, driver=None, labels={LABEL: "1", LABEL_REUSE: "0"})
        )
        url = pg.get_connection_url()
        assert _scalar(url, "select version()").startswith("PostgreSQL 15.")
        assert _scalar(url, "select current_database()") == "test"
        assert _scalar(url, "select current_user") == "test"


@contextlib.contextmanager
def _ryuk_disabled(config: Any) -> Iterator[None]:
    before = config.ryuk_disabled
    config.ryuk_disabled = True
    try:
        yield
    finally:
        config.ryuk_disabled = before


# --------------------------------------------------------------------------- no engine


def test_no_engine_is_a_quick_false_and_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such-docker.sock")
    started = time.monotonic()
    assert not docker_available()
    assert not image_present()
    with pytest.raises(ProvisioningError) as excinfo:
        start_container(project_root=tmp_path)
    assert time.monotonic() - started < 10
    message = str(excinfo.value)
    assert "\n" not in message
    assert "no Docker engine answers" in message
    assert "scripts/docker-setup" in message


def test_an_engine_that_never_answers_does_not_hang(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sock_dir = Path(tempfile.mkdtemp(prefix="ampdb-sock-"))
    path = sock_dir / "mute.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:  # accepts connections, never answers
        server.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                accepted.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    try:
        started = time.monotonic()
        assert not docker_available(timeout=1.0)
        assert time.monotonic() - started < 5
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        server.close()
        path.unlink()
        sock_dir.rmdir()
