"""Helpers of the reliability suite: bounded pytest/ampdb subprocesses, leftover inventories,
and the figures each test measures (time to fail, time to recover).

Every fault is injected into a *separate* process (a pytest run or an ``ampdb`` command) so the
fault never reaches this session; each such process runs with a hard timeout, is killed (with its
process group) when it overruns, and what it may have left is swept afterwards, so a broken
behaviour shows as a failed test, never as a hung CI job.

Figures: a test calls ``figure(metric, seconds, note)``; at the end of the test the figures are
appended, with the test's outcome, as JSON lines to ``$AMPDB_RELIABILITY_FIGURES`` (when set).
``bench/reliability_report.py`` renders them as the table of RELIABILITY.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pytest_ampdb.harness.provisioning.local import (
    STATE_FILE,
    default_base_dir,
    sweep_orphans,
)

ROOT = Path(__file__).resolve().parents[2]
FIGURES_ENV = "AMPDB_RELIABILITY_FIGURES"

# pytest-asyncio (a dev dependency) warns on stderr in a project that does not set its loop
# scope; these child projects have no async tests, and their stderr is what is checked
PYTEST = (
    sys.executable,
    "-m",
    "pytest",
    "-p",
    "no:randomly",
    "-p",
    "no:cacheprovider",
    "-p",
    "no:asyncio",
)
AMPDB = (sys.executable, "-c", "import sys; from pytest_ampdb.cli import main; sys.exit(main())")

# Variables of the surrounding run that would steer the child run instead of its arguments.
_STRIPPED_PREFIXES = ("AMPDB_", "PYTEST_XDIST", "PYTEST_CURRENT_TEST", "DB_DSN", "PG")
_STRIPPED = frozenset({"PYTEST_ADDOPTS", "PYTEST_PLUGINS", "TESTCONTAINERS_RYUK_DISABLED"})


# ------------------------------------------------------------------------------ skip or fail


def skip_or_fail(reason: str) -> None:
    """Skip for lack of an environment feature; fail instead under CI (env CI set)."""
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def require_docker() -> None:
    """A Docker engine with the postgres:15 image, else skip (fail under CI)."""
    from pytest_ampdb.harness.provisioning.container import (
        DEFAULT_IMAGE,
        docker_available,
        image_present,
    )

    if not docker_available():
        skip_or_fail("needs a Docker engine (as root: bash scripts/docker-setup)")
    elif not image_present(DEFAULT_IMAGE, timeout=10):
        skip_or_fail(f"needs the {DEFAULT_IMAGE} image (as root: bash scripts/docker-setup)")


def require_binaries() -> None:
    """PostgreSQL 15 server binaries, else skip (fail under CI)."""
    from pytest_ampdb.harness.provisioning import BinariesNotFoundError
    from pytest_ampdb.harness.provisioning.binaries import find_binaries

    try:
        find_binaries(15)
    except BinariesNotFoundError as exc:
        skip_or_fail(f"needs PostgreSQL 15 server binaries: {exc}")


# ------------------------------------------------------------------------------ subprocesses


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without what would redirect a child run, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _STRIPPED and not k.startswith(_STRIPPED_PREFIXES)
    }
    env["COLUMNS"] = "1000"  # pytest's short summary lines in full
    env.update(extra or {})
    return env


@dataclass
class Run:
    """A finished (or killed) child process: exit status, output, wall time."""

    args: Sequence[str]
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool
    pid: int

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def error_lines(self, prefix: str) -> list[str]:
        """The lines of stderr starting with ``prefix`` (e.g. ``ERROR: pytest-ampdb:``)."""
        return [line for line in self.stderr.splitlines() if line.startswith(prefix)]

    def describe(self) -> str:
        tail = "\n".join(self.output.strip().splitlines()[-40:])
        status = "TIMED OUT" if self.timed_out else f"exit {self.returncode}"
        return f"{' '.join(self.args)}: {status} after {self.seconds:.1f} s\n{tail}"


class Child:
    """A child process started in its own session, so it and everything it spawned (a local
    cluster's postmaster is in a session of its own and is swept separately) can be signalled."""

    def __init__(
        self, args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.args = list(args)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            self.args,
            cwd=cwd,
            env=child_env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, sig)

    def wait(self, timeout: float) -> Run:
        """Wait at most ``timeout`` s; an overrunning child is killed (its whole group) and what
        it left is swept, and the result says it timed out."""
        timed_out = False
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            out, err = self.proc.communicate()
            sweep_after_kill()
        return Run(
            self.args,
            self.proc.returncode,
            out,
            err,
            time.monotonic() - self.started,
            timed_out,
            self.proc.pid,
        )

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.communicate()
            sweep_after_kill()


def run(
    args: Sequence[str],
    cwd: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> Run:
    """Run a child process to the end, bounded by ``timeout``."""
    return Child(args, cwd, env).wait(timeout)


def run_pytest(
    cwd: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> Run:
    """``pytest`` in ``cwd`` (no pytest-randomly, no cache), bounded by ``timeout``."""
    return run([*PYTEST, *args], cwd, env=env, timeout=timeout)


def run_ampdb(
    cwd: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
) -> Run:
    """The ``ampdb`` command, bounded by ``timeout``."""
    return run([*AMPDB, *args], cwd, env=env, timeout=timeout)


@contextlib.contextmanager
def mute_listener(listener: socket.socket) -> Iterator[socket.socket]:
    """Accept every connection on the bound ``listener`` and never answer (a frozen server or
    a wedged engine); everything is closed at the end."""
    listener.listen(64)
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()


def url_commands(url: str, server: str, branch: str) -> list[tuple[str, ...]]:
    """Every ``ampdb`` command that connects: ``--url`` ones on ``url``, ``--server`` ones on
    ``server`` (``env`` only prints the URL it is given, so it is not among them)."""
    return [
        ("migrate", "status", "--url", url),
        ("migrate", "apply", "--url", url),
        ("migrate", "set", "--url", url),
        ("seed", "--url", url),
        ("refresh-db", "--url", url),
        ("preview", "create", "--server", server, "--branch", branch),
        ("preview", "migrate", "--server", server, "--branch", branch),
        ("preview", "list", "--server", server),
        ("preview", "prune", "--server", server, "--older-than", "7d", "--dry-run"),
        ("preview", "drop", "--server", server, "--branch", branch),
    ]


def wait_for(path: Path, timeout: float, child: Child | None = None) -> bool:
    """Wait until ``path`` exists (False on timeout, or when ``child`` exited first)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            return False
        if child is not None and child.proc.poll() is not None:
            return path.exists()
        time.sleep(0.02)
    return True


def sweep_after_kill() -> None:
    """What a SIGKILLed run leaves: throwaway clusters and containers of dead owners."""
    sweep_orphans()
    with contextlib.suppress(Exception):
        from pytest_ampdb.harness.provisioning.container import sweep_dead_containers

        sweep_dead_containers(timeout=5)


# ------------------------------------------------------------------------------ inventories


def plugin_databases(admin_dsn: str) -> list[str]:
    """The plugin's databases (``ampdb_*``) on a server."""
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'ampdb\\_%' ORDER BY 1"
        ).fetchall()
    return [str(r[0]) for r in rows]


def drop_plugin_databases(admin_dsn: str) -> None:
    drop_databases(admin_dsn, *plugin_databases(admin_dsn))


def drop_databases(admin_dsn: str, *names: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=10) as conn:
        for name in names:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def user_database(server: str, name: str, comment: str | None) -> None:
    """(Re)create the user's own database ``name`` (with ``comment``) holding a table of rows."""
    from pytest_ampdb.urls import with_dbname

    ident = sql.Identifier(name)
    with psycopg.connect(server, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
        if comment is not None:
            conn.execute(
                sql.SQL("COMMENT ON DATABASE {} IS {}").format(ident, sql.Literal(comment))
            )
    with psycopg.connect(with_dbname(server, name), autocommit=True, connect_timeout=10) as conn:
        conn.execute("CREATE TABLE organizations (id int PRIMARY KEY, label text)")
        conn.execute("INSERT INTO organizations VALUES (1, 'precious'), (2, 'data')")


def fingerprint(server: str, names: Sequence[str]) -> dict[str, Any]:
    """Of each database of ``names`` that exists: its oid (a drop and re-create changes it), its
    comment, and every table with all its rows."""
    from pytest_ampdb.urls import with_dbname

    out: dict[str, Any] = {}
    with psycopg.connect(server, autocommit=True, connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT datname, oid, shobj_description(oid, 'pg_database') FROM pg_database"
            " WHERE datname = ANY(%s)",
            (list(names),),
        ).fetchall()
    for name, oid, comment in rows:
        dsn = with_dbname(server, str(name))
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            tables = conn.execute(
                "SELECT table_schema, table_name FROM information_schema.tables"
                " WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
            ).fetchall()
            content = {
                f"{schema}.{table}": conn.execute(
                    sql.SQL("SELECT * FROM {}.{} ORDER BY 1").format(
                        sql.Identifier(str(schema)), sql.Identifier(str(table))
                    )
                ).fetchall()
                for schema, table in tables
            }
        out[str(name)] = {"oid": oid, "comment": comment, "content": content}
    return out


def clusters_of(pid: int) -> list[dict[str, Any]]:
    """State files of throwaway local clusters a process (by pid) started and left."""
    places = {default_base_dir(), Path(tempfile.gettempdir())}
    found = []
    for place in places:
        for root in place.glob("ampdb-pg-*"):
            with contextlib.suppress(OSError, ValueError):
                state = json.loads((root / STATE_FILE).read_text())
                if state.get("owner_pid") == pid:
                    state["root"] = str(root)
                    found.append(state)
    return found


def wait_for_cluster(pid: int, timeout: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = clusters_of(pid)
        if found:
            return found[0]
        time.sleep(0.05)
    return None


def process_alive(pid: int) -> bool:
    from pytest_ampdb.harness.provisioning.local import pid_alive

    return pid_alive(pid)


def containers_of(pid: int) -> list[Any]:
    """Containers the plugin started for the process ``pid`` of this host (labels)."""
    from pytest_ampdb.harness.provisioning import container as c

    client = c._docker_client(30)
    try:
        filters = {
            "label": [
                f"{c.LABEL}=1",
                f"{c.LABEL_OWNER_PID}={pid}",
                f"{c.LABEL_OWNER_HOST}={socket.gethostname()}",
            ]
        }
        return list(client.containers.list(all=True, filters=filters))
    finally:
        client.close()


def summary_lines(result: Run) -> list[str]:
    """pytest's short summary lines (``FAILED ...`` / ``ERROR ...``) of a run with ``-rfE``."""
    return [
        line
        for line in result.stdout.splitlines()
        if line.startswith(("FAILED ", "ERROR ")) and "::" in line
    ]


def outcome_counts(result: Run) -> dict[str, int]:
    """``{"passed": 3, "failed": 1, ...}`` from pytest's final line."""
    import re

    lines = [line for line in result.stdout.splitlines() if " in " in line and "=" in line]
    counts: dict[str, int] = {}
    if lines:
        for number, word in re.findall(r"(\d+) (\w+)", lines[-1]):
            key = {"error": "errors", "warning": "warnings"}.get(word, word)
            counts[key] = int(number)
    return counts


# ------------------------------------------------------------------------------ figures


@dataclass
class Figures:
    """The figures one test measured; written with its outcome when it ends."""

    test: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, metric: str, seconds: float | None, note: str = "") -> None:
        self.rows.append(
            {
                "test": self.test,
                "metric": metric,
                "seconds": None if seconds is None else round(seconds, 3),
                "note": note,
            }
        )


_FIGURES = pytest.StashKey[Figures]()
_OUTCOME = pytest.StashKey[str]()


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Figures:
    """Record a measured figure: ``figure("time to fail", 1.2, "4 tests failed at once")``."""
    figures = Figures(request.node.nodeid)
    request.node.stash[_FIGURES] = figures
    return figures


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, Any]:
    report = yield
    if hasattr(report, "wasxfail"):
        item.stash[_OUTCOME] = "xpassed" if report.passed else "xfailed"
    elif report.failed:
        item.stash[_OUTCOME] = "failed"
    if report.when == "teardown":
        _write_figures(item)
    return report


def _write_figures(item: pytest.Item) -> None:
    figures = item.stash.get(_FIGURES, None)
    target = os.environ.get(FIGURES_ENV)
    if figures is None or not figures.rows or not target:
        return
    outcome = item.stash.get(_OUTCOME, "passed")
    when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with open(target, "a", encoding="utf-8") as out:
        for row in figures.rows:
            out.write(json.dumps({**row, "outcome": outcome, "when": when}) + "\n")


# ------------------------------------------------------------------------------ fixtures


@contextlib.contextmanager
def scram_cluster(*statements: str, **settings: str) -> Iterator[Any]:
    """A throwaway local cluster that checks passwords over TCP (scram-sha-256; the Unix socket
    trusts), started with ``settings`` (e.g. ``max_connections="5"``), after ``statements``
    (roles, grants) ran as its superuser. Stopped at the end."""
    from pytest_ampdb.harness.provisioning import LocalCluster

    require_binaries()
    with LocalCluster.start(major=15, extra_settings=settings) as cluster:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement.encode())
        (cluster.data_dir / "pg_hba.conf").write_text(
            "local all all trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host all all ::1/128 scram-sha-256\n"
        )
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")
        yield cluster


@pytest.fixture
def server(pg_admin_dsn: str) -> Iterator[str]:
    """The session cluster as a user's existing server, with none of the plugin's databases on
    it before the test; those the test leaves are dropped after it (and checked by the test)."""
    drop_plugin_databases(pg_admin_dsn)
    yield pg_admin_dsn
    drop_plugin_databases(pg_admin_dsn)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project directory for child runs."""
    path = tmp_path / "project"
    path.mkdir()
    return path


def write(path: Path, text: str) -> Path:
    """Write ``text`` (dedented) to ``path``, creating parents."""
    import textwrap

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


Timer = Callable[[], float]


def stopwatch() -> Timer:
    started = time.monotonic()
    return lambda: time.monotonic() - started


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """With ``$AMPDB_RELIABILITY_FIGURES`` set, print the figures tables (the CI log's copy)."""
    path = os.environ.get(FIGURES_ENV)
    if not path or not Path(path).exists():
        return
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "reliability_report",
        Path(__file__).resolve().parents[2] / "bench" / "reliability_report.py",
    )
    if spec is None or spec.loader is None:
        return
    report = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = report  # dataclasses look their module up while it loads
    spec.loader.exec_module(report)
    terminalreporter.section("pytest-ampdb reliability figures (RELIABILITY.md)")
    for line in report.render(report.read_figures(Path(path))).splitlines():
        terminalreporter.write_line(line)
