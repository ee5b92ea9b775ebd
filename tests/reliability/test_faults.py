"""Faults injected for real into a child pytest run: the server killed mid-test, Ctrl-C during the
template build and during a test, an xdist worker killed, Docker missing or hung, PostgreSQL
binaries missing or of the wrong major, ``max_connections`` exhausted.

Each asserts what a user relies on: the run fails (or stops) within seconds with a line naming the
backend and the server, no later test waits for a timeout, nothing of the run is left behind, and
the next run starts cleanly and sweeps what the dead run left. Each records its time to fail or
to recover as a figure (see RELIABILITY.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import shutil
import signal
import socket
import stat
import subprocess
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pytest_ampdb.harness.provisioning import LocalCluster
from pytest_ampdb.harness.provisioning.local import process_tree

from .conftest import PYTEST as PYTEST_ARGS
from .conftest import (
    Child,
    Figures,
    Run,
    clusters_of,
    containers_of,
    mute_listener,
    outcome_counts,
    plugin_databases,
    process_alive,
    require_binaries,
    require_docker,
    run_pytest,
    skip_or_fail,
    stopwatch,
    summary_lines,
    wait_for,
    write,
)

FAIL_FAST = 10.0
"""Seconds a run may take, after its server is gone, to fail every remaining test."""

# A victim test that signals it runs, then waits for the fault before touching the database;
# three later tests that each need the database.
KILL_SUITE = """
import pathlib, time

HERE = pathlib.Path(__file__).parent

def test_1_victim(ampdb):
    ampdb.organizations.list()
    (HERE / "started").write_text("x")
    deadline = time.monotonic() + 60
    while not (HERE / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    ampdb.organizations.list()

def test_2_later(ampdb):
    ampdb.organizations.list()

def test_3_later(ampdb):
    ampdb.organizations.list()

def test_4_later(ampdb):
    ampdb.organizations.list()
"""

SMOKE = "def test_smoke(ampdb):\n    assert ampdb.projects.list().items\n"

# The head of a child suite whose tests wait for the parent's signal files.
WAITING = """
import pathlib, time

HERE = pathlib.Path(__file__).parent

def _wait(name):
    deadline = time.monotonic() + 60
    while not (HERE / name).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
"""


def _assert_fails_fast_naming(result: Run, kind_words: tuple[str, ...], since_kill: float) -> None:
    assert not result.timed_out, result.describe()
    counts = outcome_counts(result)
    assert counts.get("failed", 0) + counts.get("errors", 0) == 4, result.describe()
    assert since_kill <= FAIL_FAST, f"took {since_kill:.1f} s to fail after the kill"
    lines = summary_lines(result)
    assert len(lines) == 4, result.describe()
    for line in lines:
        # one line naming the backend and the server, not psycopg's raw error
        assert "postgres" in line.lower(), line
        assert any(word in line for word in kind_words), line
        assert "psycopg." not in line, line
    assert "Exception in thread" not in result.output, result.describe()
    # the failure is shown once, not chained to the exception it replaced
    assert "During handling of the above exception" not in result.output, result.describe()


# ------------------------------------------------------------------------------ server killed


@pytest.mark.postgres
@pytest.mark.parametrize("isolation", ["transaction", "database"])
def test_local_cluster_killed_mid_test(project: Path, isolation: str, figure: Figures) -> None:
    require_binaries()
    write(project / "test_suite.py", KILL_SUITE)
    child = Child(
        [
            *PYTEST_ARGS,
            "-rfE",
            "--ampdb=postgres",
            "--ampdb-postgres=local",
            f"--ampdb-isolation={isolation}",
        ],
        project,
    )
    try:
        assert wait_for(project / "started", 60, child), child.wait(5).describe()
        cluster = clusters_of(child.pid)
        assert len(cluster) == 1
        postmaster = int(cluster[0]["pid"])
        # the whole cluster, as the OOM killer would: the postmaster and every backend (a
        # backend is in a process group of its own, and one left alive answers a last query)
        for pid in process_tree(postmaster):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        since_kill = stopwatch()
        (project / "go").write_text("x")
        result = child.wait(45)
        elapsed = since_kill()
    finally:
        child.kill()
    figure(f"local cluster killed mid-test ({isolation}): time to fail 4 tests", elapsed)
    leftovers = clusters_of(child.pid)
    _assert_fails_fast_naming(result, ("local cluster",), elapsed)
    assert leftovers == [], leftovers
    assert not process_alive(postmaster)

    (project / "started").unlink()
    write(project / "test_suite.py", SMOKE)
    recover = run_pytest(project, "--ampdb=postgres", "--ampdb-postgres=local", timeout=90)
    figure(f"local cluster killed ({isolation}): next run, green", recover.seconds)
    assert recover.returncode == 0, recover.describe()


@pytest.mark.docker
def test_container_killed_mid_test(project: Path, figure: Figures) -> None:
    require_docker()
    write(project / "test_suite.py", KILL_SUITE)
    child = Child([*PYTEST_ARGS, "-rfE", "--ampdb=postgres", "--ampdb-postgres=container"], project)
    try:
        assert wait_for(project / "started", 120, child), child.wait(5).describe()
        (container,) = containers_of(child.pid)
        container.kill()
        since_kill = stopwatch()
        (project / "go").write_text("x")
        result = child.wait(60)
        elapsed = since_kill()
    finally:
        child.kill()
    figure("container killed mid-test: time to fail 4 tests", elapsed)
    leftovers = containers_of(child.pid)
    for found in leftovers:
        with contextlib.suppress(Exception):
            found.remove(force=True, v=True)
    _assert_fails_fast_naming(result, ("container",), elapsed)
    assert leftovers == []

    write(project / "test_suite.py", SMOKE)
    recover = run_pytest(project, "--ampdb=postgres", "--ampdb-postgres=container", timeout=120)
    figure("container killed: next run, green", recover.seconds)
    assert recover.returncode == 0, recover.describe()
    assert containers_of(recover.pid) == []


# ------------------------------------------------------------------ a backend crashes, server restarts

# The victim gives the parent the pid of a backend of its own connection (the OOM killer's pick)
# and waits; the parent SIGKILLs it, so PostgreSQL ends every session, replays its log and takes
# connections again. Then another run starts on the server (its sweep drops the databases of
# runs that hold no lease) before the later tests touch theirs.
RESTART_SUITE = (
    WAITING
    + """
import psycopg

def test_1_victim(ampdb, ampdb_dsn):
    ampdb.organizations.list()
    conn = psycopg.connect(ampdb_dsn, autocommit=True)
    (HERE / "started").write_text(str(conn.info.backend_pid))
    _wait("go")
    conn.close()
    ampdb.organizations.list()

def test_2_later(ampdb):
    (HERE / "later").write_text("x")
    _wait("go-on")
    ampdb.organizations.list()
    assert ampdb.projects.list().items

def test_3_later(ampdb):
    ampdb.organizations.list()

def test_4_later(ampdb):
    ampdb.organizations.list()
"""
)


def _ended_by_the_server(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    """Whether the server ends ``conn`` within 30 s (as it ends every session after a crash)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn.execute("SELECT 1")
        except psycopg.OperationalError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.postgres
@pytest.mark.parametrize("isolation", ["transaction", "database", "truncate"])
def test_a_server_restarting_after_a_backend_crash_fails_only_the_test_it_hit(
    project: Path, isolation: str, figure: Figures
) -> None:
    require_binaries()
    write(project / "test_suite.py", RESTART_SUITE)
    with LocalCluster.start(major=15) as cluster:
        dsn = cluster.dsn()
        args = ["-rfE", "--ampdb=postgres", f"--ampdb-dsn={dsn}", f"--ampdb-isolation={isolation}"]
        child = Child([*PYTEST_ARGS, *args], project)
        try:
            assert wait_for(project / "started", 60, child), child.wait(5).describe()
            with psycopg.connect(dsn, autocommit=True) as watcher:
                os.kill(int((project / "started").read_text()), signal.SIGKILL)
                assert _ended_by_the_server(watcher), "the server did not restart its sessions"
            (project / "go").write_text("x")
            assert wait_for(project / "later", 60, child), child.wait(5).describe()
            write(project / "other" / "test_other.py", SMOKE)
            other = run_pytest(project / "other", "--ampdb=postgres", f"--ampdb-dsn={dsn}")
            (project / "go-on").write_text("x")
            result = child.wait(60)
        finally:
            child.kill()
        figure(f"a backend crashed mid-test ({isolation}): the run", result.seconds)
        assert other.returncode == 0, other.describe()
        assert outcome_counts(result) == {"failed": 1, "passed": 3}, result.describe()
        (line,) = summary_lines(result)
        assert line.startswith("FAILED test_suite.py::test_1_victim - "), line
        assert "closed the connection" in line, line
        assert "it takes new connections again, so later tests go on" in line, line
        assert "Traceback" not in result.output, result.describe()
        assert "cleaning up at the end of the run failed" not in result.output, result.describe()
        # only what is kept on purpose: the failed victim's own database (database isolation)
        left = plugin_databases(dsn)
        assert len(left) == (1 if isolation == "database" else 0), left


# ------------------------------------------------------------------------------ the run crashes

CRASH_SUITE = """
import pathlib, time

def test_crashes_midway(ampdb, ampdb_dsn):
    (pathlib.Path(__file__).parent / "started").write_text(ampdb_dsn)
    time.sleep(60)
"""


def _server_of(mode: str, request: pytest.FixtureRequest) -> tuple[str, list[str]]:
    """The existing server (``dsn`` mode, else "") and the run's arguments for ``mode``."""
    if mode == "dsn":
        server: str = request.getfixturevalue("server")
        return server, [f"--ampdb-dsn={server}", "--ampdb-isolation=database"]
    if mode.startswith("local"):
        require_binaries()
        xdist = ["-n", "2", "--ampdb-isolation=database"] if mode == "local-xdist" else []
        return "", ["--ampdb-postgres=local", *xdist]
    require_docker()
    return "", ["--ampdb-postgres=container"]


@pytest.mark.parametrize(
    "mode",
    [
        pytest.param("dsn", marks=pytest.mark.postgres),
        pytest.param("local", marks=pytest.mark.postgres),
        pytest.param("container", marks=pytest.mark.docker),
    ],
)
def test_a_sigkilled_run_is_swept_by_the_next(
    project: Path, request: pytest.FixtureRequest, mode: str, figure: Figures
) -> None:
    """pytest itself SIGKILLed mid-test (no atexit, no teardown): what it leaves is unavoidable,
    and the next run on the machine removes it before doing anything else."""
    server, where = _server_of(mode, request)
    write(project / "test_suite.py", CRASH_SUITE)
    child = Child([*PYTEST_ARGS, "--ampdb=postgres", *where], project)
    try:
        assert wait_for(project / "started", 120, child), child.wait(5).describe()
        os.killpg(child.pid, signal.SIGKILL)  # the run and its workers; not the server it started
        child.proc.communicate(timeout=30)
        if mode == "dsn":
            left = plugin_databases(server)
            assert any(n.startswith("ampdb_run_") for n in left), left
        elif mode == "local":
            (cluster,) = clusters_of(child.pid)
            assert process_alive(int(cluster["pid"]))
        else:
            assert len(containers_of(child.pid)) == 1

        write(project / "test_suite.py", SMOKE)
        recover = run_pytest(project, "--ampdb=postgres", *where, timeout=120)
    finally:
        child.kill()
    figure(f"pytest SIGKILLed mid-test ({mode}): next run sweeps and is green", recover.seconds)
    assert recover.returncode == 0, recover.describe()
    if mode == "dsn":
        assert plugin_databases(server) == []
    elif mode == "local":
        assert clusters_of(child.pid) == []
        assert not process_alive(int(cluster["pid"]))
    else:
        assert containers_of(child.pid) == []
    assert clusters_of(recover.pid) == []


# ------------------------------------------------------------------------------ Ctrl-C

SLOW_SEED_HOOK = """
import os, pathlib, time

def pytest_ampdb_seed(repos):
    if os.environ.get("SLOW_BUILD"):
        (pathlib.Path(__file__).parent / "building").write_text("x")
        time.sleep(60)
"""


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["dsn", "local"])
def test_ctrl_c_during_the_template_build(
    project: Path, pg_admin_dsn: str, mode: str, figure: Figures
) -> None:
    """SIGINT while the template is being built: the run stops at once, and neither the
    half-built template nor (local) the cluster is left."""
    from .conftest import drop_plugin_databases

    drop_plugin_databases(pg_admin_dsn)
    write(project / "conftest.py", SLOW_SEED_HOOK)
    write(project / "test_suite.py", SMOKE)
    where = [f"--ampdb-dsn={pg_admin_dsn}"] if mode == "dsn" else ["--ampdb-postgres=local"]
    child = Child([*PYTEST_ARGS, "--ampdb=postgres", *where], project, env={"SLOW_BUILD": "1"})
    try:
        assert wait_for(project / "building", 90, child), child.wait(5).describe()
        building = plugin_databases(pg_admin_dsn) if mode == "dsn" else []
        child.signal(signal.SIGINT)
        since = stopwatch()
        result = child.wait(30)
        elapsed = since()
    finally:
        child.kill()
    figure(f"Ctrl-C during the template build ({mode}): time to stop", elapsed)
    assert not result.timed_out, result.describe()
    assert result.returncode == pytest.ExitCode.INTERRUPTED, result.describe()
    assert elapsed <= FAIL_FAST
    if mode == "dsn":
        assert any(n.endswith("_build") for n in building), building  # it was mid-build
        assert plugin_databases(pg_admin_dsn) == []
    assert clusters_of(child.pid) == []

    recover = run_pytest(project, "--ampdb=postgres", *where, timeout=90)
    figure(f"Ctrl-C during the template build ({mode}): next run, green", recover.seconds)
    assert recover.returncode == 0, recover.describe()
    if mode == "dsn":
        assert plugin_databases(pg_admin_dsn) == []


SLEEPY_SUITE = """
import pathlib, time

def test_slow(ampdb, ampdb_dsn):
    (pathlib.Path(__file__).parent / "started").write_text(ampdb_dsn)
    time.sleep(60)
"""


@pytest.mark.postgres
@pytest.mark.parametrize("isolation", ["transaction", "database"])
def test_ctrl_c_during_a_test_drops_the_run_databases(
    project: Path, server: str, isolation: str, figure: Figures
) -> None:
    write(project / "test_suite.py", SLEEPY_SUITE)
    args = ["--ampdb=postgres", f"--ampdb-dsn={server}", f"--ampdb-isolation={isolation}"]
    child = Child([*PYTEST_ARGS, *args], project)
    try:
        assert wait_for(project / "started", 60, child), child.wait(5).describe()
        assert plugin_databases(server)
        child.signal(signal.SIGINT)
        since = stopwatch()
        result = child.wait(30)
        elapsed = since()
    finally:
        child.kill()
    figure(f"Ctrl-C during a test ({isolation}): time to stop and clean up", elapsed)
    assert not result.timed_out, result.describe()
    assert result.returncode == pytest.ExitCode.INTERRUPTED, result.describe()
    assert elapsed <= FAIL_FAST
    assert plugin_databases(server) == []

    write(project / "test_suite.py", SMOKE)
    recover = run_pytest(project, *args, timeout=90)
    figure(f"Ctrl-C during a test ({isolation}): next run, green", recover.seconds)
    assert recover.returncode == 0, recover.describe()


# ------------------------------------------------------------------------------ SIGTERM


@pytest.mark.parametrize(
    ("sig", "when", "mode", "signals"),
    [
        pytest.param(signal.SIGTERM, "build", "dsn", 1, marks=pytest.mark.postgres),
        pytest.param(signal.SIGTERM, "build", "local", 1, marks=pytest.mark.postgres),
        pytest.param(signal.SIGTERM, "test", "dsn", 1, marks=pytest.mark.postgres),
        pytest.param(signal.SIGTERM, "test", "local", 1, marks=pytest.mark.postgres),
        pytest.param(
            signal.SIGTERM, "test", "local", 2, marks=pytest.mark.postgres, id="test-local-twice"
        ),
        pytest.param(signal.SIGTERM, "test", "local-xdist", 1, marks=pytest.mark.postgres),
        pytest.param(signal.SIGTERM, "test", "container", 1, marks=pytest.mark.docker),
        pytest.param(signal.SIGHUP, "build", "dsn", 1, marks=pytest.mark.postgres),
        pytest.param(signal.SIGHUP, "test", "local", 1, marks=pytest.mark.postgres),
        pytest.param(
            signal.SIGHUP, "test", "local", 2, marks=pytest.mark.postgres, id="SIGHUP-local-twice"
        ),
    ],
    ids=lambda v: v.name if isinstance(v, signal.Signals) else None,
)
def test_sigterm_stops_the_run_and_cleans_up_as_ctrl_c_does(
    project: Path,
    request: pytest.FixtureRequest,
    sig: signal.Signals,
    when: str,
    mode: str,
    signals: int,
    figure: Figures,
) -> None:
    """A CI job cancelled sends SIGTERM, a closed terminal (an ssh session dropped) SIGHUP; the
    default of both ends Python with no cleanup at all: a local cluster's postmaster kept
    running with its data in /dev/shm, a container and the run's databases stayed until a later
    run swept them. The run stops within seconds and leaves nothing, during the template build
    or a test, also when a second signal arrives while it cleans up (the cleanup finishes, then
    the process ends of the signal)."""
    server, where = _server_of(mode, request)
    write(project / "conftest.py", SLOW_SEED_HOOK)
    write(project / "test_suite.py", SLEEPY_SUITE)
    env = {"SLOW_BUILD": "1"} if when == "build" else {}
    child = Child([*PYTEST_ARGS, "--ampdb=postgres", *where], project, env=env)
    try:
        mark = project / ("building" if when == "build" else "started")
        assert wait_for(mark, 120, child), child.wait(5).describe()
        postmasters = [int(c["pid"]) for c in clusters_of(child.pid)]
        assert mode.startswith("local") == bool(postmasters)
        assert mode != "container" or len(containers_of(child.pid)) == 1
        if mode == "local-xdist":  # the job's process group, workers too, as a CI runner does
            os.killpg(child.pid, sig)
        else:
            child.signal(sig)
        since = stopwatch()
        if signals == 2:
            time.sleep(0.2)  # the run is cleaning up: its cluster takes about a second to stop
            child.signal(sig)
        result = child.wait(30)
        elapsed = since()
    finally:
        child.kill()
    what = f"{sig.name} {'twice ' if signals == 2 else ''}during {'the template build' if when == 'build' else 'a test'} ({mode})"
    figure(f"{what}: time to stop and clean up", elapsed)
    assert not result.timed_out, result.describe()
    expected = -sig if signals == 2 else pytest.ExitCode.INTERRUPTED
    assert result.returncode == expected, result.describe()
    assert "Traceback" not in result.stderr, result.describe()
    assert elapsed <= FAIL_FAST
    if mode == "dsn":
        assert plugin_databases(server) == []
    assert clusters_of(child.pid) == []
    assert not any(process_alive(pid) for pid in postmasters)
    if mode == "container":
        assert containers_of(child.pid) == []


# ------------------------------------------------------------------------------ xdist worker

WORKER_KILL_SUITE = """
import os, signal, pytest

@pytest.mark.parametrize("n", range(6))
def test_fine(ampdb, n):
    assert ampdb.projects.list().items

def test_worker_dies(ampdb, ampdb_dsn):
    ampdb.projects.list()
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.postgres
def test_a_killed_xdist_worker_leaves_no_database(
    project: Path, server: str, figure: Figures
) -> None:
    write(project / "test_suite.py", WORKER_KILL_SUITE)
    args = ["--ampdb=postgres", f"--ampdb-dsn={server}", "--ampdb-isolation=database"]
    result = run_pytest(project, "-n", "2", *args, timeout=120)
    figure("xdist worker SIGKILLed: the run finishes", result.seconds)
    assert not result.timed_out, result.describe()
    counts = outcome_counts(result)
    assert counts.get("passed") == 6, result.describe()
    assert counts.get("failed") == 1, result.describe()
    assert "crashed" in result.stdout, result.describe()
    left = plugin_databases(server)

    write(project / "test_suite.py", SMOKE)
    recover = run_pytest(project, *args, timeout=90)
    figure("xdist worker SIGKILLed: next run sweeps and is green", recover.seconds)
    assert recover.returncode == 0, recover.describe()
    assert plugin_databases(server) == []  # the next run swept the dead worker's databases
    # the controller drops every database of its run id at the end
    assert left == [], f"the dead worker's databases outlived the run: {left}"


# ------------------------------------------------------------------------------ Docker


@pytest.fixture
def hung_docker(tmp_path: Path) -> Iterator[str]:
    """A Docker socket that accepts connections and never answers (a wedged engine)."""
    path = Path("/tmp") / f"ampdb-hung-{os.getpid()}-{tmp_path.name[-8:]}.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    try:
        with mute_listener(listener):
            yield f"unix://{path}"
    finally:
        path.unlink(missing_ok=True)


def test_no_docker_engine_is_one_line(project: Path, figure: Figures) -> None:
    write(project / "test_suite.py", SMOKE)
    result = run_pytest(
        project,
        "--ampdb=postgres",
        "--ampdb-postgres=container",
        env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
        timeout=60,
    )
    figure("Docker engine missing: time to the error", result.seconds)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.describe()
    lines = result.error_lines("ERROR: pytest-ampdb:")
    assert len(lines) == 1, result.describe()
    assert "no Docker engine answers at unix:///nonexistent/docker.sock" in lines[0]
    assert "Traceback" not in result.output
    assert result.seconds <= 15


def test_a_hung_docker_engine_is_one_line_not_a_hang(
    project: Path, hung_docker: str, figure: Figures
) -> None:
    write(project / "test_suite.py", SMOKE)
    result = run_pytest(
        project,
        "--ampdb=postgres",
        "--ampdb-postgres=container",
        env={"DOCKER_HOST": hung_docker},
        timeout=60,
    )
    figure("Docker engine not answering: time to the error", result.seconds)
    assert not result.timed_out, result.describe()
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.describe()
    lines = result.error_lines("ERROR: pytest-ampdb:")
    assert len(lines) == 1, result.describe()
    assert f"no Docker engine answers at {hung_docker}" in lines[0]
    assert result.seconds <= 20


@pytest.mark.postgres
def test_auto_mode_passes_over_a_hung_docker_engine(
    project: Path, hung_docker: str, figure: Figures
) -> None:
    require_binaries()
    write(project / "test_suite.py", SMOKE)
    result = run_pytest(project, "--ampdb=postgres", env={"DOCKER_HOST": hung_docker}, timeout=90)
    figure("auto mode, Docker not answering: falls back to a local cluster", result.seconds)
    assert result.returncode == 0, result.describe()
    assert "local cluster" in result.stdout
    assert clusters_of(result.pid) == []


# ------------------------------------------------------------------------------ binaries


class _FreezingDocker:
    """A TCP proxy to this machine's Docker socket that stops answering (holds every connection,
    forwards nothing) once the file ``freeze`` exists: an engine wedged after the run began."""

    def __init__(self, freeze: Path) -> None:
        self.freeze = freeze
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.url = f"tcp://127.0.0.1:{self.listener.getsockname()[1]}"
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> _FreezingDocker:
        self.listener.listen(64)
        self.listener.settimeout(0.1)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in [*self._open, self.listener]:
            sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client = self.listener.accept()[0]
            except OSError:
                continue
            self._open.append(client)
            if self.freeze.exists():
                continue
            engine = socket.socket(socket.AF_UNIX)
            engine.connect("/var/run/docker.sock")
            self._open.append(engine)
            for a, b in ((client, engine), (engine, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while not self.freeze.exists():
                data = source.recv(65536)
                if not data:
                    target.shutdown(socket.SHUT_WR)
                    return
                target.sendall(data)


FREEZE_DOCKER_SUITE = """
import pathlib

def test_then_docker_freezes(ampdb):
    assert ampdb.projects.list().items
    (pathlib.Path(__file__).parent / "freeze").write_text("x")
"""


@pytest.mark.docker
def test_a_docker_engine_frozen_before_teardown_is_one_line_not_a_hang(
    project: Path, figure: Figures
) -> None:
    """The engine stops answering during the run: removing the container at the end gives up
    within its bounds and says, in one line, that the container was left (it was silent) and
    that the next run removes it, which it does."""
    require_docker()
    write(project / "test_suite.py", FREEZE_DOCKER_SUITE)
    args = ("--ampdb=postgres", "--ampdb-postgres=container")
    with _FreezingDocker(project / "freeze") as engine:
        result = run_pytest(project, *args, env={"DOCKER_HOST": engine.url}, timeout=120)
    figure("Docker engine frozen before teardown: time to the end of the run", result.seconds)
    assert not result.timed_out, result.describe()
    assert result.returncode == 0, result.describe()
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("pytest-ampdb:")]
    assert "was left running: the Docker engine did not answer" in line, result.describe()
    assert "Traceback" not in result.output
    assert len(containers_of(result.pid)) == 1  # left, as the line says

    (project / "freeze").unlink()
    write(project / "test_suite.py", SMOKE)
    recover = run_pytest(project, *args, timeout=120)
    figure("Docker engine frozen before teardown: next run sweeps and is green", recover.seconds)
    assert recover.returncode == 0, recover.describe()
    assert containers_of(result.pid) == []


def _fake_postgres(bindir: Path, version: str) -> None:
    bindir.mkdir(parents=True)
    for name in ("postgres", "initdb"):
        script = bindir / name
        script.write_text(f"#!/bin/sh\necho '{name} (PostgreSQL) {version}'\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _without_postgresql(project: Path, path: str, *args: str) -> Run:
    """A pytest run in a mount namespace where /usr/lib/postgresql is empty and PATH is ``path``."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        skip_or_fail("needs root and unshare to hide the installed PostgreSQL")
    script = f'mount -t tmpfs ampdb-empty /usr/lib/postgresql && PATH="{path}" exec "$0" "$@"'
    from .conftest import run

    return run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, *PYTEST_ARGS, *args],
        project,
        env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
        timeout=60,
    )


@pytest.mark.parametrize("found", ["none", "16.4"])
@pytest.mark.parametrize("mode", ["local", "auto"])
def test_missing_or_wrong_major_binaries_are_one_line(
    project: Path, tmp_path: Path, found: str, mode: str, figure: Figures
) -> None:
    write(project / "test_suite.py", SMOKE)
    bindir = tmp_path / "bin"
    venv_bin = str(Path(PYTEST_ARGS[0]).parent)
    path = f"{venv_bin}:/bin"
    if found != "none":
        _fake_postgres(bindir, found)
        path = f"{bindir}:{path}"
    result = _without_postgresql(project, path, "--ampdb=postgres", f"--ampdb-postgres={mode}")
    figure(f"PostgreSQL binaries {found} ({mode}): time to the error", result.seconds)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.describe()
    lines = result.error_lines("ERROR: pytest-ampdb:")
    assert len(lines) == 1, result.describe()
    assert "PostgreSQL 15 server binaries not found" in lines[0]
    if found != "none":
        assert f"{bindir} holds PostgreSQL {found}, not 15" in lines[0]
    if mode == "auto":
        assert "no PostgreSQL to use" in lines[0]
    assert "Traceback" not in result.output
    assert result.seconds <= 15


# ------------------------------------------------------------------------------ max_connections


@pytest.fixture(scope="module")
def tiny_cluster() -> Iterator[LocalCluster]:
    """A cluster of its own with max_connections = 12, none reserved, so it can be filled."""
    require_binaries()
    settings = {"max_connections": "12", "superuser_reserved_connections": "0"}
    with LocalCluster.start(major=15, extra_settings=settings) as cluster:
        yield cluster


def _fill(dsn: str) -> list[psycopg.Connection[tuple[object, ...]]]:
    """Open connections until the server refuses one with SQLSTATE 53300."""
    held: list[psycopg.Connection[tuple[object, ...]]] = []
    while len(held) < 100:
        try:
            held.append(psycopg.connect(dsn, autocommit=True, connect_timeout=5))
        except psycopg.OperationalError as exc:
            if "too many clients" not in str(exc):
                raise
            return held
    raise AssertionError("the server never refused a connection")


@pytest.mark.postgres
def test_max_connections_exhausted_before_the_run_is_one_line(
    project: Path, tiny_cluster: LocalCluster, figure: Figures
) -> None:
    write(project / "test_suite.py", SMOKE)
    dsn = tiny_cluster.tcp_dsn()
    held = _fill(dsn)
    try:
        result = run_pytest(project, "--ampdb=postgres", f"--ampdb-dsn={dsn}", timeout=60)
    finally:
        for conn in held:
            conn.close()
    figure("max_connections exhausted at start: time to the error", result.seconds)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.describe()
    lines = result.error_lines("ERROR: pytest-ampdb:")
    assert len(lines) == 1, result.describe()
    assert f"127.0.0.1:{tiny_cluster.port}" in lines[0]
    assert "too many clients" in lines[0]
    assert result.seconds <= FAIL_FAST + 5


EXHAUST_SUITE = (
    WAITING
    + """
import pytest

def test_1_fills(ampdb):
    ampdb.projects.list()
    (HERE / "started").write_text("x")
    _wait("full")

@pytest.mark.ampdb(isolation="database")
def test_2_needs_a_new_database(ampdb):
    ampdb.projects.list()

def test_3_after(ampdb):
    (HERE / "third").write_text("x")
    _wait("released")
    assert ampdb.projects.list().items
"""
)


@pytest.mark.postgres
def test_max_connections_exhausted_mid_run_fails_fast(
    project: Path, tiny_cluster: LocalCluster, figure: Figures
) -> None:
    write(project / "test_suite.py", EXHAUST_SUITE)
    dsn = tiny_cluster.tcp_dsn()
    child = Child([*PYTEST_ARGS, "-rfE", "--ampdb=postgres", f"--ampdb-dsn={dsn}"], project)
    held: list[psycopg.Connection[tuple[object, ...]]] = []
    try:
        assert wait_for(project / "started", 60, child), child.wait(5).describe()
        held = _fill(dsn)
        (project / "full").write_text("x")
        since = stopwatch()
        reached = wait_for(project / "third", 45, child)
        to_fail = since()
        for conn in held:
            conn.close()
        (project / "released").write_text("x")
        result = child.wait(45)
    finally:
        for conn in held:
            conn.close()
        child.kill()
    figure("max_connections exhausted mid-run: time to fail the test", to_fail)
    assert not result.timed_out, result.describe()
    lines = summary_lines(result)
    # only the test that needed a new connection fails, with one line naming server and cause
    assert len(lines) == 1, result.describe()
    assert "test_2_needs_a_new_database" in lines[0]
    assert "too many clients" in lines[0], lines[0]
    assert f"127.0.0.1:{tiny_cluster.port}" in lines[0], lines[0]
    assert to_fail <= FAIL_FAST
    assert "Exception in thread" not in result.output, result.describe()
    assert "During handling of the above exception" not in result.output, result.describe()
    # the server was full, not gone: once connections free up the run goes on
    assert reached, result.describe()
    assert outcome_counts(result).get("passed") == 2, result.describe()
    assert plugin_databases(tiny_cluster.dsn()) == []


# ------------------------------------------------------------------------------ a closed terminal


@pytest.mark.parametrize(
    "mode",
    [
        pytest.param("dsn", marks=pytest.mark.postgres),
        pytest.param("local", marks=pytest.mark.postgres),
    ],
)
def test_a_terminal_closed_under_the_run_leaves_nothing(
    project: Path, request: pytest.FixtureRequest, mode: str, figure: Figures
) -> None:
    """An ssh session dropped: the kernel hangs up the run's terminal (SIGHUP), and from then on
    every write to it fails (EIO). pytest's reporter met that before the plugin's cleanup and
    ended the run there, leaving its databases on the server and its cluster running."""
    server, where = _server_of(mode, request)
    write(project / "test_suite.py", SLEEPY_SUITE)
    master, slave = os.openpty()

    def in_a_session_of_its_own_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [*PYTEST_ARGS, "--ampdb=postgres", *where],
        cwd=project,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        preexec_fn=in_a_session_of_its_own_terminal,  # noqa: PLW1509 (execs at once)
    )
    os.close(slave)
    seen, hang_up = bytearray(), threading.Event()
    reader = threading.Thread(target=_drain, args=(master, seen, hang_up), daemon=True)
    reader.start()
    try:
        assert wait_for(project / "started", 120), seen.decode(errors="replace")
        postmasters = [int(c["pid"]) for c in clusters_of(proc.pid)]
        assert (mode == "local") == bool(postmasters)
        since = stopwatch()
        hang_up.set()
        reader.join()  # a read in progress would keep the terminal open
        os.close(master)  # the terminal hangs up: SIGHUP to its session
        returncode = proc.wait(30)
        figure(f"terminal closed during a test ({mode}): time to stop and clean up", since())
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert returncode == pytest.ExitCode.INTERRUPTED, seen.decode(errors="replace")
    if mode == "dsn":
        assert plugin_databases(server) == []
    assert clusters_of(proc.pid) == []
    assert not any(process_alive(pid) for pid in postmasters)


def _drain(fd: int, into: bytearray, stop: threading.Event) -> None:
    """Read the terminal's output until told to stop (a full pty would block the run)."""
    with contextlib.suppress(OSError):
        while not stop.is_set():
            if select.select([fd], [], [], 0.1)[0]:
                into += os.read(fd, 4096)
