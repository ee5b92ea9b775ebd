"""What the plugin must not start, open or leave: a run that runs no test (pytest's listings,
``--help``), a memory run and a run with the plugin disabled reach no server and no Docker
engine, whatever the environment names.

Each server and engine here is a listener that counts the connections it is offered: any
connection at all is the plugin reaching for something it was not asked to use.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Figures, run_pytest, write

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
