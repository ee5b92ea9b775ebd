"""What the plugin must not start, open or leave: a run that runs no test (pytest's listings,
``--help``), a memory run and a run with the plugin disabled reach no server and no Docker
engine, whatever the environment names.

Each server and engine here is a listener that counts the connections it is offered: any
connection at all is the plugin reaching for something it was not asked to use.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import (
    Figures,
    clusters_of,
    drop_databases,
    fingerprint,
    require_binaries,
    require_docker,
    run,
    run_pytest,
    write,
)

SMOKE_TEST = "def test_smoke(ampdb):\n    assert ampdb.projects.list().items\n"


class _Counter:
    """A TCP listener on 127.0.0.1 that accepts, counts and closes every connection."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = self.sock.accept()
                self.count += 1
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def counters() -> Iterator[tuple[_Counter, _Counter]]:
    """A PostgreSQL server and a Docker engine that only count who reaches them."""
    server, engine = _Counter(), _Counter()
    try:
        yield server, engine
    finally:
        server.close()
        engine.close()


LISTINGS = [
    ["--collect-only"],
    ["--co", "-q"],
    ["--fixtures"],
    ["--fixtures-per-test"],
    ["--setup-plan"],
    ["--help"],
    ["--version"],
    ["--markers"],
]


@pytest.mark.parametrize("where", ["dsn", "container"])
@pytest.mark.parametrize("listing", LISTINGS, ids=" ".join)
def test_a_listing_reaches_no_server_and_no_docker_engine(
    project: Path,
    counters: tuple[_Counter, _Counter],
    listing: list[str],
    where: str,
    figure: Figures,
) -> None:
    """``pytest --collect-only`` (and the other listings) in postgres mode ran the whole
    provisioning: started a local cluster or a container, built the template, for a run that
    runs no test."""
    server, engine = counters
    write(project / "test_suite.py", SMOKE_TEST)
    env = {"AMPDB_BACKEND": "postgres", "DOCKER_HOST": f"tcp://127.0.0.1:{engine.port}"}
    if where == "dsn":
        env["AMPDB_DSN"] = f"postgresql://nobody@127.0.0.1:{server.port}/nowhere"
    else:
        env["AMPDB_POSTGRES"] = "container"
    result = run_pytest(project, *listing, env=env, timeout=60)
    figure(f"pytest {' '.join(listing)} ({where}): time to list", result.seconds)
    assert result.returncode == 0, result.describe()
    assert (server.count, engine.count) == (0, 0), result.describe()


@pytest.mark.parametrize(
    "args",
    [["--ampdb=memory"], ["-p", "no:ampdb"], ["-p", "no:ampdb", "--co"]],
    ids=" ".join,
)
def test_memory_or_disabled_reaches_no_server_and_no_docker_engine(
    project: Path, counters: tuple[_Counter, _Counter], args: list[str]
) -> None:
    """The environment names a server and the container source; the run's own choice (memory,
    or the plugin disabled) wins, and nothing of postgres mode is touched."""
    server, engine = counters
    suite = SMOKE_TEST if "no:ampdb" not in args else "def test_plain():\n    pass\n"
    write(project / "test_suite.py", suite)
    env = {
        "AMPDB_BACKEND": "postgres",
        "AMPDB_POSTGRES": "container",
        "AMPDB_DSN": f"postgresql://nobody@127.0.0.1:{server.port}/nowhere",
        "DOCKER_HOST": f"tcp://127.0.0.1:{engine.port}",
    }
    result = run_pytest(project, *args, env=env, timeout=60)
    assert result.returncode == 0, result.describe()
    assert (server.count, engine.count) == (0, 0), result.describe()


IN_PROCESS = """
import atexit, json, logging, os, signal, sys, threading, time, warnings
import pytest
from testcontainers.core.config import testcontainers_config

def state():
    fds = {}
    for fd in os.listdir("/proc/self/fd"):
        with __import__("contextlib").suppress(OSError):
            fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
    return {
        "threads": sorted(t.name for t in threading.enumerate()),
        "environ": dict(os.environ),
        "root logger": [repr(h) for h in logging.getLogger().handlers]
        + [logging.getLogger().level],
        "warnings filters": [repr(f) for f in warnings.filters],
        "signal handlers": {
            s.name: repr(signal.getsignal(s)) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        },
        "open files and sockets": fds,
        "ryuk": testcontainers_config.ryuk_disabled,
    }

import pytest_ampdb.plugin  # its imports' own atexit hooks are not the run's
before = state()
code = pytest.main(["-q", "-p", "no:randomly", "-p", "no:cacheprovider", "-p", "no:asyncio",
                    *sys.argv[1:]])
time.sleep(0.5)  # what a closed connection's thread needs to end
after = state()
def changed(old, new):
    if isinstance(old, dict):  # only what differs (the environment may hold secrets)
        return {k: [old.get(k), new.get(k)] for k in old | new if old.get(k) != new.get(k)}
    return [old, new]

print(json.dumps({"exit": int(code), "changed": {
    k: changed(before[k], after[k]) for k in before if before[k] != after[k]}}))
"""

BRANCH = "leaks-in-process"

IN_PROCESS_SUITE = """
def test_repos(ampdb):
    assert ampdb.projects.list().items

def test_dsn(ampdb, ampdb_dsn):
    assert ampdb.projects.list().items

def test_failing(ampdb):
    assert not ampdb.projects.list().items
"""


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--ampdb=memory"], id="memory"),
        pytest.param(["DSN", "--ampdb-isolation=transaction"], id="dsn-transaction"),
        pytest.param(["DSN", "--ampdb-isolation=database"], id="dsn-database"),
        pytest.param(["DSN", "--ampdb-isolation=truncate", "--ampdb-reuse"], id="dsn-truncate"),
        pytest.param(["--ampdb-postgres=local"], id="local"),
        pytest.param(["--ampdb-postgres=local", "-n", "2"], id="local-xdist"),
        pytest.param(["--ampdb-postgres=container"], id="container"),
        pytest.param(
            [
                "DSN",
                "--ampdb-postgres=preview",
                f"--ampdb-branch={BRANCH}",
                "--ampdb-isolation=database",
            ],
            id="preview",
        ),
    ],
)
def test_an_in_process_run_leaves_the_interpreter_as_it_found_it(
    project: Path, request: pytest.FixtureRequest, args: list[str]
) -> None:
    """``pytest.main()`` called in a project's own process (an IDE, a script, pytester): after
    the run, no thread of the plugin, no open connection or file, no variable of the
    environment, root logger handler, warnings filter or signal handler it changed, and
    testcontainers' Ryuk setting as it was (a container run disabled Ryuk, and said so in
    ``os.environ``, for the rest of the process)."""
    if "--ampdb-postgres=container" in args:
        require_docker()
    elif "--ampdb-postgres=local" in args:
        require_binaries()
    server = ""
    if args[0] == "DSN":
        server = request.getfixturevalue("server")
        args = [f"--ampdb-dsn={server}", *args[1:]]
        if f"--ampdb-branch={BRANCH}" in args:  # the preview stays, as it should: dropped here
            request.addfinalizer(lambda: drop_databases(server, f"pr-{BRANCH}"))
    if args != ["--ampdb=memory"]:
        args = ["--ampdb=postgres", *args]
    write(project / "test_suite.py", IN_PROCESS_SUITE)
    result = run([sys.executable, "-c", IN_PROCESS, *args], project, timeout=120)
    assert result.returncode == 0, result.describe()
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["exit"] == pytest.ExitCode.TESTS_FAILED, result.describe()
    assert report["changed"] == {}
    if f"--ampdb-branch={BRANCH}" in args:  # the branch's preview is kept, under that name
        assert fingerprint(server, [f"pr-{BRANCH}"]), "no preview"


@pytest.mark.postgres
@pytest.mark.parametrize(
    "variable",
    ["PGSERVICE=nosuch", "PGTARGETSESSIONATTRS=standby", "PGGSSENCMODE=require"],
)
def test_a_libpq_variable_that_bars_the_own_cluster_is_one_line_at_once(
    project: Path, variable: str, figure: Figures
) -> None:
    """A PG* variable of the user's environment (meant for their own servers) that makes libpq
    refuse the cluster the run started: the run waited 30 s for a server that was up all along,
    then blamed it ("did not accept connections") with the server's log."""
    require_binaries()
    name, value = variable.split("=")
    write(project / "test_suite.py", SMOKE_TEST)
    result = run_pytest(project, "--ampdb=postgres", "--ampdb-postgres=local", env={name: value})
    figure(f"local cluster with {variable} set: time to the error", result.seconds)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.describe()
    (line,) = result.error_lines("ERROR: pytest-ampdb:")
    assert "libpq does not connect to it" in line, line
    assert name in line, line
    assert "Traceback" not in result.stderr
    assert result.seconds < 15, result.describe()
    assert clusters_of(result.pid) == []
