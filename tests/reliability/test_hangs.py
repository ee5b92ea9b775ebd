"""A server that stops answering without dying: never a hang.

SIGSTOP of a test's backend or of the whole local cluster, a ``docker pause`` of the container,
and, for the ``ampdb`` CLI, a listener that accepts TCP connections and never says a word. A
frozen server keeps its sockets open and never answers (TCP keepalives do not notice, a cancel
request goes to a frozen postmaster), so only the client's own bound (``--ampdb-timeout``, the
CLI's ``--timeout``) ends the wait: the current test fails with one line naming the backend and
the server within that bound, and the rest fail at once. Every frozen process is resumed (and
every container unpaused and removed) after the test, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from pytest_ampdb.harness.provisioning import LocalCluster
from pytest_ampdb.harness.provisioning.connect import BUSY_ROUNDS, connect_timeout
from pytest_ampdb.harness.provisioning.local import process_tree
from pytest_ampdb.urls import redact_url, with_dbname

from .conftest import (
    AMPDB,
    Child,
    Figures,
    Run,
    clusters_of,
    containers_of,
    mute_listener,
    plugin_databases,
    process_alive,
    require_binaries,
    require_docker,
    run_ampdb,
    run_pytest,
    stopwatch,
    summary_lines,
    url_commands,
    wait_for,
    write,
)
from .conftest import PYTEST as PYTEST_ARGS
from .test_faults import FAIL_FAST, KILL_SUITE, SMOKE, _assert_fails_fast_naming
from .test_ownership import _born_ours, _template_name

TIMEOUT = 3.0
"""``--ampdb-timeout`` of the frozen runs: the victim test must fail within it (plus FAIL_FAST
for the whole rest of the run)."""


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    """A cluster of the test's own, used by the child run as an existing server (so the child
    never tries to stop a frozen cluster), resumed and stopped at the end."""
    require_binaries()
    with LocalCluster.start(major=15) as started:
        try:
            yield started
        finally:
            _signal_all(_cluster_pids(started), signal.SIGCONT)


def _cluster_pids(cluster: LocalCluster) -> list[int]:
    """The cluster's processes, parents before children (postmaster, backends, workers)."""
    return process_tree(cluster.pid)


def _run_backends(dsn: str) -> list[int]:
    """The backends serving the plugin's run databases."""
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname LIKE 'ampdb\\_run\\_%'"
        ).fetchall()
    return [int(row[0]) for row in rows]


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


Resume = Callable[[], None]


def _frozen_run(
    project: Path, dsn: str, freeze: Callable[[], Resume], isolation: str, *extra: str
) -> tuple[Run, float]:
    """Run KILL_SUITE against ``dsn``; once the victim has run, ``freeze`` the server and let
    the victim call it again; resume it when the run ends (or this fails). Returns the run and
    the seconds from the freeze to its end."""
    write(project / "test_suite.py", KILL_SUITE)
    child = Child(
        [
            *PYTEST_ARGS,
            "-rfE",
            "--ampdb=postgres",
            f"--ampdb-dsn={dsn}",
            f"--ampdb-isolation={isolation}",
            f"--ampdb-timeout={TIMEOUT:g}",
            *extra,
        ],
        project,
    )
    resume: Resume = lambda: None  # noqa: E731 - replaced once frozen
    try:
        assert wait_for(project / "started", 60, child), child.wait(5).describe()
        resume = freeze()
        since = stopwatch()
        (project / "go").write_text("x")
        result = child.wait(60)
        return result, since()
    finally:
        child.kill()
        resume()


def _sigstop(pids: list[int]) -> Resume:
    assert pids
    _signal_all(pids, signal.SIGSTOP)
    return lambda: _signal_all(pids, signal.SIGCONT)


def _next_run_is_green(project: Path, dsn: str) -> Run:
    (project / "started").unlink()
    write(project / "test_suite.py", SMOKE)
    return run_pytest(project, "--ampdb=postgres", f"--ampdb-dsn={dsn}", timeout=90)


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("what", "isolation"),
    [("backend", "transaction"), ("cluster", "transaction"), ("cluster", "database")],
)
def test_a_frozen_server_fails_the_test_within_the_timeout(
    project: Path, cluster: LocalCluster, what: str, isolation: str, figure: Figures
) -> None:
    dsn = cluster.tcp_dsn()

    # the whole cluster: postmaster first (it would fork new backends), then its children
    def freeze() -> Resume:
        return _sigstop(_cluster_pids(cluster) if what == "cluster" else _run_backends(dsn))

    result, elapsed = _frozen_run(project, dsn, freeze, isolation)
    figure(f"{what} SIGSTOPped mid-test ({isolation}): time to fail 4 tests", elapsed)
    _assert_fails_fast_naming(result, ("no answer",), elapsed)
    assert f"127.0.0.1:{cluster.port}" in summary_lines(result)[0]
    assert elapsed <= TIMEOUT + FAIL_FAST, elapsed

    recover = _next_run_is_green(project, dsn)
    figure(f"{what} SIGSTOPped ({isolation}): resumed, next run green", recover.seconds)
    assert recover.returncode == 0, recover.describe()


@pytest.mark.docker
def test_a_paused_container_fails_the_test_within_the_timeout(
    project: Path, figure: Figures
) -> None:
    require_docker()
    from pytest_ampdb.harness.provisioning.container import start_container

    server = start_container(project_root=project)
    try:
        (container,) = containers_of(os.getpid())

        def pause() -> Resume:
            container.pause()
            return container.unpause  # type: ignore[no-any-return]

        result, elapsed = _frozen_run(project, server.admin_dsn, pause, "transaction")
        figure("container paused mid-test: time to fail 4 tests", elapsed)
        _assert_fails_fast_naming(result, ("no answer",), elapsed)
        assert elapsed <= TIMEOUT + FAIL_FAST, elapsed
        recover = _next_run_is_green(project, server.admin_dsn)
        figure("container paused: unpaused, next run green", recover.seconds)
        assert recover.returncode == 0, recover.describe()
    finally:
        server.close()


@pytest.mark.postgres
def test_a_test_timeout_on_a_frozen_backend_leaves_no_driver_traceback(
    project: Path, cluster: LocalCluster, figure: Figures
) -> None:
    """pytest-timeout stops the victim in the middle of a call: its teardown drops the
    connection that is mid-query for a new one, and the later tests pass."""
    dsn = cluster.tcp_dsn()
    result, elapsed = _frozen_run(
        project, dsn, lambda: _sigstop(_run_backends(dsn)), "transaction", "--timeout=2"
    )
    figure("pytest-timeout on a frozen backend: the run's end", elapsed)
    assert not result.timed_out, result.describe()
    lines = summary_lines(result)
    assert len(lines) == 1, result.describe()
    assert "test_1_victim" in lines[0], result.describe()
    assert "Timeout" in lines[0], lines[0]
    assert "3 passed" in result.stdout, result.describe()
    # psycopg may log that it could not roll back the interrupted savepoint; no error of it
    # reaches the report, the teardown or the end of the run
    for raw in ("Traceback", "psycopg.errors", "psycopg.OperationalError", "INTERNALERROR"):
        assert raw not in result.output, result.describe()


# ------------------------------------------------------------------------------ ampdb CLI


@pytest.fixture
def mute_server() -> Iterator[int]:
    """A TCP listener on 127.0.0.1 that accepts every connection and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    with mute_listener(listener):
        yield int(listener.getsockname()[1])


CLI_TIMEOUT = 2.0


def test_every_cli_command_gives_up_on_a_mute_server(
    project: Path, mute_server: int, figure: Figures
) -> None:
    url = f"postgresql://postgres:pw@127.0.0.1:{mute_server}/app"
    slowest, which = 0.0, ""
    for args in url_commands(url, url, "mute"):
        ran = run_ampdb(project, *args, env={"AMPDB_TIMEOUT": f"{CLI_TIMEOUT:g}"}, timeout=30)
        assert not ran.timed_out, ran.describe()
        assert ran.returncode == 1, ran.describe()
        assert ran.stdout == "", ran.describe()
        (line,) = ran.stderr.splitlines()
        assert line.startswith("ampdb: error: "), ran.describe()
        assert "no answer within 2 s" in line, line
        if ran.seconds > slowest:
            slowest, which = ran.seconds, " ".join(args[:2])
    flag = run_ampdb(project, "--timeout", "3", "migrate", "status", "--url", url, timeout=30)
    assert "no answer within 3 s" in flag.stderr, flag.describe()
    figure(
        f"10 ampdb commands against a mute server (timeout {CLI_TIMEOUT:g} s): slowest",
        slowest,
        which,
    )
    assert slowest <= CLI_TIMEOUT + 3, (slowest, which)


def test_a_run_against_a_mute_server_is_one_line(
    project: Path, mute_server: int, figure: Figures
) -> None:
    write(project / "test_suite.py", SMOKE)
    url = f"postgresql://postgres:pw@127.0.0.1:{mute_server}/postgres"
    result = run_pytest(
        project, "--ampdb=postgres", f"--ampdb-dsn={url}", "--ampdb-timeout=2", timeout=60
    )
    figure("pytest against a mute server (--ampdb-timeout=2): time to the error", result.seconds)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.describe()
    (line,) = result.error_lines("ERROR: pytest-ampdb:")
    assert f"127.0.0.1:{mute_server}" in line, line
    assert "no answer within 2 s (connect timeout)" in line, line
    assert result.seconds <= 2 + FAIL_FAST, result.describe()


LOCKED_SUITE = """
import psycopg

def test_1_waits_on_a_lock(ampdb, ampdb_dsn):
    with psycopg.connect(ampdb_dsn) as other:
        other.execute("LOCK TABLE projects IN ACCESS EXCLUSIVE MODE")
        ampdb.projects.list()

def test_2_after(ampdb):
    assert ampdb.projects.list().items
"""


@pytest.mark.postgres
def test_a_lock_held_past_the_timeout_fails_that_test_alone(
    project: Path, cluster: LocalCluster, figure: Figures
) -> None:
    """A live server gives up on the call itself (lock_timeout): the test fails with one line,
    the connection stays usable and the next test passes."""
    write(project / "test_suite.py", LOCKED_SUITE)
    result = run_pytest(
        project,
        "-rfE",
        "--ampdb=postgres",
        f"--ampdb-dsn={cluster.tcp_dsn()}",
        f"--ampdb-timeout={TIMEOUT:g}",
        timeout=90,
    )
    figure(f"a lock held past --ampdb-timeout={TIMEOUT:g}: the run", result.seconds)
    assert not result.timed_out, result.describe()
    (line,) = summary_lines(result)
    assert "test_1_waits_on_a_lock" in line, line
    assert "ServerTimeoutError" in line, line
    assert "canceling statement due to" in line, line
    assert "1 failed, 1 passed" in result.stdout, result.describe()


# ------------------------------------------------------------------------ frozen while provisioned

FREEZE_SEED = """
import json, os, pathlib, signal, time
import psycopg

HERE = pathlib.Path(__file__).parent

def by_query(admin, query):
    with psycopg.connect(admin, autocommit=True) as conn:
        return [int(pid) for (pid,) in conn.execute(query).fetchall()]

def own_cluster():
    # the throwaway cluster this run started: the postmaster and every process below it
    from pytest_ampdb.harness.provisioning.local import STATE_FILE, default_base_dir, process_tree

    for state in default_base_dir().glob("ampdb-pg-*/" + STATE_FILE):
        found = json.loads(state.read_text())
        if found.get("owner_pid") == os.getpid():
            return process_tree(int(found["pid"]))
    return []

def pytest_ampdb_seed(repos):
    # the first run freezes the processes {find} gives, then (maybe) calls its own backend;
    # later runs go on as usual
    if (HERE / "frozen").exists():
        return
    pids = {find}
    (HERE / "frozen").write_text(" ".join(map(str, pids)) + "\\n" + repr(time.time()))
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    if {call!r}:
        repos.projects.list()
"""
BUILDING = r"SELECT pid FROM pg_stat_activity WHERE datname LIKE 'ampdb\_tpl\_%\_build'"
"""The backend building the template."""


def _by_query(cluster: LocalCluster, query: str) -> str:
    """What the seed hook freezes: the backends ``query`` finds on ``cluster``."""
    return f"by_query({cluster.tcp_dsn()!r}, {query!r})"


def _frozen_by_the_seed_hook(
    project: Path, find: str, *args: str, call: bool = True
) -> tuple[Run, list[int], float]:
    """A run whose ``pytest_ampdb_seed`` hook SIGSTOPs the processes ``find`` gives (then,
    with ``call``, calls its own backend); they are resumed when it ends. The run, the frozen
    pids and the seconds from the freeze to the run's end."""
    write(project / "conftest.py", FREEZE_SEED.format(find=find, call=call))
    write(project / "test_suite.py", SMOKE)
    frozen: list[int] = []
    try:
        result = run_pytest(project, *args, f"--ampdb-timeout={TIMEOUT:g}")
        assert (project / "frozen").exists(), result.describe()
        pids, at = (project / "frozen").read_text().splitlines()
        frozen = [int(pid) for pid in pids.split()]
    finally:
        _signal_all(frozen, signal.SIGCONT)
    return result, frozen, time.time() - float(at)


def _build_databases(dsn: str) -> list[str]:
    """Half-built templates on the server."""
    return [name for name in plugin_databases(dsn) if name.endswith("_build")]


def _assert_one_line_naming(result: Run, server: str, *hidden: str) -> None:
    """The run ended before its first test with one line naming the frozen server."""
    assert not result.timed_out, result.describe()
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.describe()
    (line,) = result.error_lines("ERROR: pytest-ampdb:")
    assert server in line, line
    assert f"no answer from the server within {TIMEOUT:g} s" in line, line
    for raw in ("Traceback", "psycopg.", "INTERNALERROR", *hidden):
        assert raw not in result.output, result.describe()


@pytest.mark.postgres
def test_a_backend_frozen_during_the_template_build_ends_the_run_within_the_timeout(
    project: Path, cluster: LocalCluster, figure: Figures
) -> None:
    """The build's backend is SIGSTOPped from a seed hook: the run ends with one line within
    about ``--ampdb-timeout``; resumed, the next run clears the half-built template and passes."""
    password = "never-shown-pw"  # trust auth: accepted and ignored, never printed
    dsn = f"postgresql://postgres:{password}@127.0.0.1:{cluster.port}/postgres"
    result, frozen, elapsed = _frozen_by_the_seed_hook(
        project, _by_query(cluster, BUILDING), "--ampdb=postgres", f"--ampdb-dsn={dsn}"
    )
    figure("template build's backend SIGSTOPped: time to the run's one line", elapsed)
    assert frozen, "the seed hook found no backend building the template"
    _assert_one_line_naming(result, f"127.0.0.1:{cluster.port}", password)
    assert elapsed <= TIMEOUT + FAIL_FAST, elapsed
    assert _build_databases(cluster.tcp_dsn()), "the half-built template is the next run's"

    recover = run_pytest(project, "--ampdb=postgres", f"--ampdb-dsn={dsn}", timeout=90)
    figure("template build frozen: resumed, next run green", recover.seconds)
    assert recover.returncode == 0, recover.describe()
    assert _build_databases(cluster.tcp_dsn()) == []


HOLD_BUILD = """
import pathlib, time

HERE = pathlib.Path(__file__).parent

def pytest_ampdb_seed(repos):
    # the first run holds the build lock until told to go; later runs build at once
    if (HERE / "building").exists():
        return
    (HERE / "building").write_text("x")
    deadline = time.monotonic() + 60
    while not (HERE / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
"""


def _polling_for_a_lock(dsn: str) -> bool:
    """Whether a session (another run's or command's) is polling for an advisory lock now."""
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
            " AND query LIKE '%pg_try_advisory_lock%'"
        ).fetchone()
    return bool(row and row[0])


def _frozen_while_polling(
    cluster: LocalCluster, child: Child, ready: Callable[[str], bool]
) -> tuple[Run, float, Resume]:
    """Once ``child`` is at a known point (``ready(dsn)``: polling for an advisory lock,
    waiting for a table lock), SIGSTOP the whole cluster and wait for the child's end: its
    result, the seconds from the freeze, and how to resume the cluster."""
    polling = stopwatch()
    while not ready(cluster.tcp_dsn()):
        assert child.proc.poll() is None, child.wait(5).describe()
        assert polling() < 60, "the child never reached the point to freeze it at"
        time.sleep(0.05)
    resume = _sigstop(_cluster_pids(cluster))
    since = stopwatch()
    try:
        return child.wait(60), since(), resume
    except BaseException:
        resume()
        raise


@pytest.mark.postgres
def test_a_server_frozen_while_a_run_waits_for_the_build_lock_ends_it_within_the_timeout(
    project: Path, cluster: LocalCluster, figure: Figures
) -> None:
    """One run builds the template (held in its seed hook), a second polls for the build lock;
    the whole cluster is SIGSTOPped: the second run's poll gives up within about
    ``--ampdb-timeout`` with one line. Resumed, the next run passes."""
    dsn = cluster.tcp_dsn()
    write(project / "conftest.py", HOLD_BUILD)
    write(project / "test_suite.py", SMOKE)
    run = [*PYTEST_ARGS, "--ampdb=postgres", f"--ampdb-dsn={dsn}", f"--ampdb-timeout={TIMEOUT:g}"]
    builder = Child(run, project)
    waiter: Child | None = None
    resume: Resume = lambda: None  # noqa: E731 - replaced once frozen
    try:
        assert wait_for(project / "building", 60, builder), builder.wait(5).describe()
        waiter = Child(run, project)
        result, elapsed, resume = _frozen_while_polling(cluster, waiter, _polling_for_a_lock)
    finally:
        builder.kill()
        if waiter is not None:
            waiter.kill()
        resume()
    figure("cluster SIGSTOPped while waiting for the build lock: time to the one line", elapsed)
    _assert_one_line_naming(result, f"127.0.0.1:{cluster.port}")
    assert elapsed <= TIMEOUT + FAIL_FAST, elapsed

    (project / "go").write_text("x")
    recover = run_pytest(project, "--ampdb=postgres", f"--ampdb-dsn={dsn}", timeout=90)
    figure("cluster frozen during the build lock wait: resumed, next run green", recover.seconds)
    assert recover.returncode == 0, recover.describe()


def _drop_waited(dsn: str, seconds: float) -> bool:
    """Whether a ``DROP DATABASE`` has waited on a lock for more than ``seconds`` (the server's
    own clock: nothing here sleeps on a guess)."""
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
            " AND wait_event_type = 'Lock' AND query LIKE 'DROP DATABASE%%'"
            " AND now() - query_start > make_interval(secs => %s)",
            (seconds,),
        ).fetchone()
    return bool(row and row[0])


@pytest.mark.postgres
def test_a_build_statement_slower_than_the_timeout_on_a_live_server_is_waited_for(
    project: Path, cluster: LocalCluster, figure: Figures
) -> None:
    """A statement of the template build outlasts ``--ampdb-timeout`` on a server that answers
    (the drop of a killed build's leftover waits on a lock another session holds, as on a busy
    shared server): the run waits for it instead of taking the server for frozen, and passes."""
    dsn = cluster.tcp_dsn()
    build = _template_name() + "_build"
    _born_ours(dsn, build)
    holder = psycopg.connect(dsn)  # an open transaction holding a lock the DROP waits for
    holder.execute(sql.SQL("COMMENT ON DATABASE {} IS NULL").format(sql.Identifier(build)))
    write(project / "test_suite.py", SMOKE)
    run = [*PYTEST_ARGS, "--ampdb=postgres", f"--ampdb-dsn={dsn}", f"--ampdb-timeout={TIMEOUT:g}"]
    child = Child(run, project)
    try:
        waiting = stopwatch()
        while not _drop_waited(dsn, 2 * TIMEOUT):
            assert child.proc.poll() is None, child.wait(5).describe()
            assert waiting() < 60, "the run never waited on the drop"
            time.sleep(0.1)
        holder.rollback()
        result = child.wait(90)
    finally:
        holder.close()
        child.kill()
    figure(f"a build statement held past --ampdb-timeout={TIMEOUT:g}: the run", result.seconds)
    assert result.returncode == 0, result.describe()
    assert "1 passed" in result.stdout, result.describe()


SLOW_SEED = """
import threading, time
import psycopg
from pytest_ampdb.harness.isolation import repositories_over
from pytest_ampdb.models import Organization, new_id

BUILD = "SELECT datname FROM pg_database WHERE datname LIKE 'ampdb\\_tpl\\_%\\_build'"
ROW = Organization(label="held", default_team_id=new_id())

def pytest_ampdb_seed(repos):
    # another session writes the same organization and holds its transaction open for {hold} s: the
    # seed hook's create waits on that row's lock, a call the live server runs past the bound
    with psycopg.connect({dsn!r}, autocommit=True) as admin:
        (build,) = admin.execute(BUILD).fetchone()
    taken = threading.Event()

    def hold():
        with psycopg.connect({dsn!r}, dbname=build) as conn:
            conn.execute("SELECT 1")  # a transaction of its own, left open
            repositories_over(conn).organizations.create(ROW)
            taken.set()
            time.sleep({hold})
            conn.rollback()

    holder = threading.Thread(target=hold)
    holder.start()
    assert taken.wait(30), "the other session never wrote the row"
    repos.organizations.create(ROW)
    holder.join()
"""


@pytest.mark.postgres
def test_a_seed_call_slower_than_the_timeout_on_a_live_server_is_waited_for(
    project: Path, cluster: LocalCluster, figure: Figures
) -> None:
    """A seed hook's call outlasts ``--ampdb-timeout`` on a server that answers (it waits on a
    row another session writes): seeds are loaded while the server says it runs the call, as
    a large seed set's COPY is, so the run waits for it and passes."""
    dsn = cluster.tcp_dsn()
    hold = 2.5 * TIMEOUT
    write(project / "conftest.py", SLOW_SEED.format(dsn=dsn, hold=hold))
    write(project / "test_suite.py", SMOKE)
    result = run_pytest(
        project, "--ampdb=postgres", f"--ampdb-dsn={dsn}", f"--ampdb-timeout={TIMEOUT:g}"
    )
    figure(f"a seed call held {hold:g} s past --ampdb-timeout={TIMEOUT:g}: the run", result.seconds)
    assert result.returncode == 0, result.describe()
    assert "1 passed" in result.stdout, result.describe()
    assert result.seconds >= hold, "the seed call was not held past the bound"


@pytest.mark.postgres
def test_a_build_statement_the_server_never_finishes_ends_the_run_after_its_rounds(
    project: Path, cluster: LocalCluster, figure: Figures
) -> None:
    """The lock the build's DROP waits on is never let go (a session that froze holding it):
    the server says the call still runs at every bound, so the run waits BUSY_ROUNDS bounds,
    cancels the call, and ends with one line naming what it waited on; the next run passes."""
    dsn = cluster.tcp_dsn()
    build = _template_name() + "_build"
    _born_ours(dsn, build)
    holder = psycopg.connect(dsn)
    holder.execute(sql.SQL("COMMENT ON DATABASE {} IS NULL").format(sql.Identifier(build)))
    write(project / "test_suite.py", SMOKE)
    timeout = 1.0
    try:
        result = run_pytest(
            project,
            "--ampdb=postgres",
            f"--ampdb-dsn={dsn}",
            f"--ampdb-timeout={timeout:g}",
            timeout=120,
        )
    finally:
        holder.close()
    figure(
        f"a build statement never finished, --ampdb-timeout={timeout:g}: the run", result.seconds
    )
    assert result.returncode != 0, result.describe()
    (line,) = result.error_lines("ERROR: pytest-ampdb:")
    assert "did not finish a call while the run was provisioned" in line, result.describe()
    assert "(Lock: object)" in line, line
    assert f"{BUSY_ROUNDS} times the 1 s bound" in line, line
    assert BUSY_ROUNDS * timeout <= result.seconds < BUSY_ROUNDS * timeout + 30, result.describe()
    with psycopg.connect(dsn, autocommit=True) as conn:  # the DROP was cancelled, not left waiting
        waiting = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'DROP DATABASE%%'"
            " AND state = 'active'"
        ).fetchone()
    assert waiting == (0,)
    again = run_pytest(project, "--ampdb=postgres", f"--ampdb-dsn={dsn}", timeout=90)
    assert again.returncode == 0, again.describe()


TERMINATE_BUILD = """
import pathlib
import psycopg

HERE = pathlib.Path(__file__).parent

def pytest_ampdb_seed(repos):
    # the first run's sessions on the maintenance database are ended by the server's admin
    # while its template is built; later runs build in peace
    if (HERE / "terminated").exists():
        return
    with psycopg.connect({admin!r}, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'postgres'"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchall()
    (HERE / "terminated").write_text(str(len(rows)))
"""


@pytest.mark.postgres
def test_a_connection_the_server_ends_during_the_build_is_one_line_naming_why(
    project: Path, cluster: LocalCluster, figure: Figures
) -> None:
    """The run's connection holding the build lock is terminated by the server (an admin's
    pg_terminate_backend, a crash of another backend): the run ends with one line saying the
    server closed it and why, not a bare "the connection is closed"; the next run passes."""
    dsn = cluster.tcp_dsn()
    write(project / "conftest.py", TERMINATE_BUILD.format(admin=dsn))
    write(project / "test_suite.py", SMOKE)
    result = run_pytest(project, "--ampdb=postgres", f"--ampdb-dsn={dsn}", timeout=90)
    figure("connection terminated during the template build: time to the one line", result.seconds)
    assert int((project / "terminated").read_text()) >= 1, "the hook terminated no session"
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.describe()
    (line,) = result.error_lines("ERROR: pytest-ampdb:")
    assert f"127.0.0.1:{cluster.port}" in line, line
    assert "closed the connection while the run was provisioned" in line, line
    assert "terminating connection due to administrator command" in line, line
    assert "the connection is closed" not in line, line
    for raw in ("Traceback", "psycopg.", "INTERNALERROR"):
        assert raw not in result.output, result.describe()

    recover = run_pytest(project, "--ampdb=postgres", f"--ampdb-dsn={dsn}", timeout=90)
    assert recover.returncode == 0, recover.describe()
    assert _build_databases(dsn) == []


# ------------------------------------------------------------------------ frozen preview source

PREVIEW_LOCK = (
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = 'postgres')"
)
"""The session holding the preview's lock: the ensure's own admin connection."""


@pytest.mark.postgres
def test_a_server_frozen_during_the_preview_ensure_ends_the_run_within_the_timeout(
    project: Path, cluster: LocalCluster, figure: Figures
) -> None:
    """``--ampdb-postgres=preview``: the backend of the ensure's admin connection (it holds the
    preview's lock, and marks the new preview ready after the seeds) is SIGSTOPped from a seed
    hook: the run ends with one line within about ``--ampdb-timeout``. Resumed, the next run
    rebuilds the unfinished preview and passes."""
    password = "never-shown-pw"  # trust auth: accepted and ignored, never printed
    dsn = f"postgresql://postgres:{password}@127.0.0.1:{cluster.port}/postgres"
    run = (
        "--ampdb=postgres",
        "--ampdb-postgres=preview",
        f"--ampdb-dsn={dsn}",
        "--ampdb-branch=feature/frozen",
    )
    # it marks the new preview ready after the seeds: the hook freezes it, calls nothing
    result, frozen, elapsed = _frozen_by_the_seed_hook(
        project, _by_query(cluster, PREVIEW_LOCK), *run, call=False
    )
    figure("preview ensure's admin backend SIGSTOPped: time to the run's one line", elapsed)
    assert len(frozen) == 1, "the seed hook found no single session holding the preview lock"
    _assert_one_line_naming(result, f"127.0.0.1:{cluster.port}", password)
    assert elapsed <= TIMEOUT + FAIL_FAST, elapsed

    recover = run_pytest(project, *run, timeout=90)
    figure("preview ensure frozen: resumed, next run green", recover.seconds)
    assert recover.returncode == 0, recover.describe()
    assert "preview pr-feature-frozen of branch feature/frozen" in recover.stdout
    assert "created" in recover.stdout, recover.describe()


@pytest.mark.postgres
def test_a_server_frozen_during_ampdb_preview_create_ends_it_within_the_timeout(
    project: Path, cluster: LocalCluster, figure: Figures
) -> None:
    """``ampdb preview create`` waits for the preview's lock (held here, as by another CI job)
    and the whole cluster is SIGSTOPped: the command ends with one line within about
    ``--answer-timeout``. Resumed and the lock let go, the same command creates the preview."""
    from pytest_ampdb.ownership import lock
    from pytest_ampdb.preview.locking import lock_key

    password = "never-shown-pw"
    dsn = f"postgresql://postgres:{password}@127.0.0.1:{cluster.port}/postgres"
    create = ("preview", "create", "--server", dsn, "--branch", "feature/frozen-cli")
    with psycopg.connect(cluster.tcp_dsn(), autocommit=True) as other_job:
        lock(other_job, lock_key("pr-feature-frozen-cli"))
        ran, elapsed = _frozen_command(project, cluster, create, _polling_for_a_lock)
    figure("cluster SIGSTOPped during ampdb preview create: time to the one line", elapsed)
    _assert_cli_one_line(ran, elapsed, dsn)

    again = run_ampdb(project, *create, timeout=60)
    figure("ampdb preview create frozen: resumed, the same command green", again.seconds)
    assert again.returncode == 0, again.describe()
    assert again.stdout.startswith("created preview pr-feature-frozen-cli"), again.describe()


# ------------------------------------------------------------------------ the run's lease


@pytest.mark.postgres
def test_a_server_frozen_while_the_lease_is_taken_gives_up_within_the_bound(
    cluster: LocalCluster, figure: Figures
) -> None:
    """``lease.hold``, the call a run makes right after its throwaway server accepts
    connections: held at a known point (another session holds the lease key exclusively, so
    the shared lock waits in the server), the cluster is SIGSTOPped; the call gives up within
    its bound with one line naming the server (its connection closed by the bound)."""
    from pytest_ampdb.harness.provisioning import lease
    from pytest_ampdb.harness.provisioning.errors import ProvisioningError
    from pytest_ampdb.ownership import lease_key, lock

    dsn = cluster.tcp_dsn()
    outcome: list[BaseException | None] = []

    def take() -> None:
        try:
            lease.hold(dsn, "frozen-run", answer_timeout=TIMEOUT).close()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    resume: Resume = lambda: None  # noqa: E731 - replaced once frozen
    with psycopg.connect(dsn, autocommit=True) as other:
        lock(other, lease_key("frozen-run"))
        thread = threading.Thread(target=take, daemon=True)
        thread.start()
        try:
            waiting = stopwatch()
            while not _waiting_for_a_lock(dsn, "pg_advisory_lock_shared"):
                assert waiting() < 30, "lease.hold never waited for the lock"
                time.sleep(0.05)
            resume = _sigstop(_cluster_pids(cluster))
            since = stopwatch()
            thread.join(TIMEOUT + FAIL_FAST)
            elapsed = since()
        finally:
            resume()
    figure("cluster SIGSTOPped while the run's lease is taken: time to give up", elapsed)
    assert not thread.is_alive(), "lease.hold still waits on the frozen server"
    (error,) = outcome
    assert isinstance(error, ProvisioningError), error
    assert str(error) == (
        f"the server at {dsn} stopped answering as the run took its lease: "
        f"no answer from the server within {TIMEOUT:g} s"
    )
    assert elapsed <= TIMEOUT + 1, elapsed


def _waiting_for_a_lock(dsn: str, call: str) -> bool:
    """Whether another session waits in the server for a lock, in ``call``."""
    return _another_session(dsn, call, "wait_event_type = 'Lock'")


def _running(dsn: str, call: str) -> bool:
    """Whether another session runs ``call`` in the server now."""
    return _another_session(dsn, call, "state = 'active'")


def _another_session(dsn: str, call: str, condition: str) -> bool:
    """Whether a session other than the asking one is in ``call`` and meets ``condition`` (a
    ``pg_stat_activity`` predicate)."""
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(
            sql.SQL(
                "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
                " AND {} AND query LIKE %s"
            ).format(sql.SQL(condition)),
            (f"%{call}%",),
        ).fetchone()
    return bool(row and row[0])


@pytest.mark.postgres
def test_a_run_whose_own_cluster_freezes_ends_within_the_timeout_and_stops_it(
    project: Path, figure: Figures
) -> None:
    """``--ampdb-postgres=local``: a seed hook SIGSTOPs the run's throwaway cluster (postmaster
    and every backend, the one holding the run's lease among them) and calls it. The run ends
    with one line within about ``--ampdb-timeout``, letting go of its lease and stopping the
    frozen cluster (nothing of it is left); the next run is green."""
    require_binaries()
    local = ("--ampdb=postgres", "--ampdb-postgres=local")
    result, frozen, elapsed = _frozen_by_the_seed_hook(project, "own_cluster()", *local)
    try:
        figure("run's own local cluster SIGSTOPped: time to the one line and its stop", elapsed)
        assert len(frozen) > 1, "the seed hook found no cluster of its run"
        assert not result.timed_out, result.describe()
        (line,) = result.error_lines("ERROR: pytest-ampdb:")
        assert "local cluster" in line, line
        assert f"no answer from the server within {TIMEOUT:g} s" in line, line
        assert "Traceback" not in result.output, result.describe()
        # the seed call is waited for while the server runs it: at the bound the frozen
        # cluster is asked (a connect that gives up after connect_timeout) before it is given up
        assert elapsed <= TIMEOUT + connect_timeout(TIMEOUT) + FAIL_FAST, elapsed
        assert [pid for pid in frozen if process_alive(pid)] == []
        assert clusters_of(result.pid) == []
    finally:
        _signal_all(frozen, signal.SIGKILL)

    recover = run_pytest(project, *local, timeout=90)
    figure("run's own cluster frozen: next run green", recover.seconds)
    assert recover.returncode == 0, recover.describe()


@pytest.mark.postgres
def test_a_sweep_asking_a_frozen_clusters_lease_goes_on(project: Path, figure: Figures) -> None:
    """A throwaway cluster of another run (alive here: its lease held, its owner this process)
    is SIGSTOPped; a new ``--ampdb-postgres=local`` run sweeps the machine's clusters and asks
    each for its run's lease: it gives up on the frozen one within ``lease.SWEEP_TIMEOUT``,
    judges it by its owner process (alive: left alone) and is green."""
    require_binaries()
    from pytest_ampdb.harness.provisioning.lease import SWEEP_TIMEOUT

    write(project / "test_suite.py", SMOKE)
    with LocalCluster.start(major=15, lease="another-run") as other:
        pids = _cluster_pids(other)
        resume = _sigstop(pids)
        try:
            result = run_pytest(project, "--ampdb=postgres", "--ampdb-postgres=local", timeout=90)
            still = [pid for pid in pids if process_alive(pid)]
        finally:
            resume()
    figure("a run sweeping beside a frozen cluster of another run", result.seconds)
    assert result.returncode == 0, result.describe()
    assert still == pids, "the sweep stopped a live run's cluster"
    assert result.seconds <= SWEEP_TIMEOUT + 30, result.describe()


@pytest.mark.postgres
def test_a_server_frozen_during_ampdb_seed_ends_it_within_the_timeout(
    project: Path, cluster: LocalCluster, figure: Figures
) -> None:
    """``ampdb seed --replace`` waits for a table lock another session holds, and the whole
    cluster is SIGSTOPped: the command ends with one line within about ``--answer-timeout``.
    Resumed and the lock let go, the same command seeds the database."""
    password = "never-shown-pw"
    url = f"postgresql://postgres:{password}@127.0.0.1:{cluster.port}/app_frozen"
    made = run_ampdb(project, "refresh-db", "--url", url, timeout=60)
    assert made.returncode == 0, made.describe()
    seed = ("seed", "--replace", "--url", url)
    with psycopg.connect(with_dbname(cluster.tcp_dsn(), "app_frozen")) as other:
        other.execute("LOCK TABLE projects IN ACCESS EXCLUSIVE MODE")
        ran, elapsed = _frozen_command(
            project, cluster, seed, lambda dsn: _waiting_for_a_lock(dsn, "")
        )
        other.rollback()
    figure("cluster SIGSTOPped during ampdb seed: time to the one line", elapsed)
    _assert_cli_one_line(ran, elapsed, url)

    again = run_ampdb(project, *seed, timeout=60)
    figure("ampdb seed frozen: resumed, the same command green", again.seconds)
    assert again.returncode == 0, again.describe()
    assert again.stdout.startswith("seeded "), again.describe()


@pytest.mark.postgres
def test_ampdb_seed_waiting_on_a_lock_never_let_go_ends_after_its_rounds(
    project: Path, cluster: LocalCluster, figure: Figures
) -> None:
    """``ampdb seed --replace`` waits for a table lock another session never lets go, on a live
    server: the call is waited for ``BUSY_ROUNDS`` times ``--answer-timeout``, then cancelled,
    and the command ends with one line saying what it waited on; the lock let go, it seeds."""
    password = "never-shown-pw"
    url = f"postgresql://postgres:{password}@127.0.0.1:{cluster.port}/app_busy"
    made = run_ampdb(project, "refresh-db", "--url", url, timeout=60)
    assert made.returncode == 0, made.describe()
    seed = ("seed", "--replace", "--url", url)
    bound = 0.5
    with psycopg.connect(with_dbname(cluster.tcp_dsn(), "app_busy")) as other:
        other.execute("LOCK TABLE projects IN ACCESS EXCLUSIVE MODE")
        ran = run_ampdb(project, "--answer-timeout", f"{bound:g}", *seed, timeout=60)
        other.rollback()
    figure(f"ampdb seed on a lock never let go, --answer-timeout {bound:g}: the end", ran.seconds)
    assert ran.returncode == 1, ran.describe()
    (line,) = ran.stderr.splitlines()
    assert line.startswith(
        f"ampdb: error: the server at {redact_url(url)} did not finish a call: a call still "
        "running after "
    ), line
    assert line.endswith(
        f"(Lock: relation), given up at {BUSY_ROUNDS} times the {bound:g} s bound "
        "(--answer-timeout, $AMPDB_ANSWER_TIMEOUT)"
    ), line
    assert password not in ran.output, ran.describe()
    assert BUSY_ROUNDS * bound <= ran.seconds < BUSY_ROUNDS * bound + 15, ran.describe()
    again = run_ampdb(project, *seed, timeout=60)
    assert again.returncode == 0, again.describe()


def _frozen_command(
    project: Path, cluster: LocalCluster, args: tuple[str, ...], ready: Callable[[str], bool]
) -> tuple[Run, float]:
    """``ampdb --answer-timeout TIMEOUT <args>``, its cluster SIGSTOPped once it is ``ready``
    and resumed after: its result and the seconds from the freeze to its end."""
    child = Child([*AMPDB, "--answer-timeout", f"{TIMEOUT:g}", *args], project)
    resume: Resume = lambda: None  # noqa: E731 - replaced once frozen
    try:
        ran, elapsed, resume = _frozen_while_polling(cluster, child, ready)
    finally:
        child.kill()
        resume()
    return ran, elapsed


def _assert_cli_one_line(ran: Run, elapsed: float, url: str) -> None:
    """The command ended within the bound, exit status 1, with one line naming the frozen
    server ``url`` without its password."""
    assert not ran.timed_out, ran.describe()
    assert ran.returncode == 1, ran.describe()
    (line,) = ran.stderr.splitlines()
    assert line == (
        f"ampdb: error: the server at {redact_url(url)} stopped answering: no answer from the "
        f"server within {TIMEOUT:g} s (--answer-timeout, $AMPDB_ANSWER_TIMEOUT)"
    ), line
    for raw in ("Traceback", "psycopg.", urlsplit(url).password or "?"):
        assert raw not in ran.output, ran.describe()
    assert elapsed <= TIMEOUT + FAIL_FAST, elapsed


def _migrations(project: Path, *files: tuple[str, str]) -> Path:
    """A migration directory of ``files`` (name, SQL), hashed by ``ampdb migrate hash``."""
    directory = project / "migrations"
    for name, text in files:
        write(directory / name, text)
    hashed = run_ampdb(project, "migrate", "hash", "--dir", str(directory))
    assert hashed.returncode == 0, hashed.describe()
    return directory


def _database(cluster: LocalCluster, name: str) -> str:
    """A new empty database on ``cluster``: its URL with a password (trust auth ignores it)."""
    with psycopg.connect(cluster.tcp_dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"postgresql://postgres:never-shown-pw@127.0.0.1:{cluster.port}/{name}"


@pytest.mark.postgres
def test_a_server_frozen_during_ampdb_migrate_apply_ends_it_within_the_timeout(
    project: Path, cluster: LocalCluster, figure: Figures
) -> None:
    """``ampdb migrate apply``'s second file waits for a table lock another session holds, and
    the whole cluster is SIGSTOPped: the command ends with one line within about
    ``--answer-timeout`` (plus the question whether the server still runs the call). Resumed
    and the lock let go, the same command applies the file."""
    directory = _migrations(
        project,
        ("20260101000000_init.sql", "CREATE TABLE t (id int);\n"),
        ("20260101000001_more.sql", "ALTER TABLE t ADD COLUMN x int;\n"),
    )
    url = _database(cluster, "app_migrate_frozen")
    apply = ("migrate", "apply", "--dir", str(directory), "--url", url)
    first = run_ampdb(project, *apply, "1")
    assert first.returncode == 0, first.describe()
    with psycopg.connect(with_dbname(cluster.tcp_dsn(), "app_migrate_frozen")) as other:
        other.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        ran, elapsed = _frozen_command(
            project, cluster, apply, lambda dsn: _waiting_for_a_lock(dsn, "ALTER TABLE t")
        )
        other.rollback()
    figure("cluster SIGSTOPped during ampdb migrate apply: time to the one line", elapsed)
    assert not ran.timed_out, ran.describe()
    assert ran.returncode == 1, ran.describe()
    line = ran.stderr.splitlines()[-1]
    assert line == (
        f"ampdb: error: the server at {redact_url(url)} stopped answering: no answer from the "
        f"server within {TIMEOUT:g} s (--answer-timeout, $AMPDB_ANSWER_TIMEOUT); what it was "
        "sent may still be applied if it resumes: check with ampdb migrate status before "
        "applying again"
    ), ran.describe()
    for raw in ("Traceback", "psycopg.", "never-shown-pw"):
        assert raw not in ran.output, ran.describe()
    assert elapsed <= TIMEOUT + connect_timeout(TIMEOUT) + FAIL_FAST, elapsed

    again = run_ampdb(project, *apply, timeout=60)
    figure("ampdb migrate apply frozen: resumed, the same command green", again.seconds)
    assert again.returncode == 0, again.describe()
    with psycopg.connect(with_dbname(cluster.tcp_dsn(), "app_migrate_frozen")) as conn:
        assert conn.execute("SELECT x FROM t").fetchall() == []


@pytest.mark.postgres
def test_a_migration_statement_running_past_every_bound_is_waited_for(
    project: Path, cluster: LocalCluster, figure: Figures
) -> None:
    """A migration statement the live server runs for longer than ``BUSY_ROUNDS`` times
    ``--answer-timeout`` is waited for to its end (a migration may rightly take hours): the
    bound only gives up on a server that stopped answering."""
    bound = 0.2
    sleep = BUSY_ROUNDS * bound + 1.5
    directory = _migrations(
        project,
        ("20260101000000_init.sql", f"CREATE TABLE t (id int);\nSELECT pg_sleep({sleep:g});\n"),
    )
    url = _database(cluster, "app_migrate_long")
    ran = run_ampdb(
        project,
        "--answer-timeout",
        f"{bound:g}",
        "migrate",
        "apply",
        "--dir",
        str(directory),
        "--url",
        url,
        timeout=60,
    )
    figure(f"a {sleep:g} s migration statement, --answer-timeout {bound:g}: apply", ran.seconds)
    assert ran.returncode == 0, ran.describe()
    assert ran.seconds >= sleep, ran.describe()
    status = run_ampdb(project, "migrate", "status", "--dir", str(directory), "--url", url)
    assert "Migration Status: OK" in status.stdout, status.describe()


@pytest.mark.postgres
def test_a_dev_server_frozen_during_migrate_lint_is_the_servers_fault_not_the_files(
    project: Path, cluster: LocalCluster, figure: Figures
) -> None:
    """``ampdb migrate lint --dev-url`` replays the change on the dev server, which freezes
    while a statement of it runs: the command ends with one line naming the dev server within
    about ``--answer-timeout``, not a lint report blaming the file."""
    directory = _migrations(
        project,
        ("20260101000000_init.sql", "CREATE TABLE t (id int);\n"),
        ("20260101000001_slow.sql", "SELECT pg_sleep(30);\nALTER TABLE t ADD COLUMN x int;\n"),
    )
    dev_url = f"postgresql://postgres:never-shown-pw@127.0.0.1:{cluster.port}/postgres"
    lint = ("migrate", "lint", "--dir", str(directory), "--dev-url", dev_url, "--latest", "1")
    ran, elapsed = _frozen_command(
        project, cluster, lint, lambda dsn: _running(dsn, "pg_sleep(30)")
    )
    figure("dev server SIGSTOPped during ampdb migrate lint: time to the one line", elapsed)
    assert not ran.timed_out, ran.describe()
    assert ran.returncode == 1, ran.describe()
    assert ran.stderr.splitlines()[-1] == (
        f"ampdb: error: the server at {redact_url(dev_url)} stopped answering: no answer from "
        f"the server within {TIMEOUT:g} s (--answer-timeout, $AMPDB_ANSWER_TIMEOUT)"
    ), ran.describe()
    assert "20260101000001_slow.sql" not in ran.stdout, ran.describe()
    for raw in ("Traceback", "psycopg.", "never-shown-pw"):
        assert raw not in ran.output, ran.describe()
    assert elapsed <= TIMEOUT + connect_timeout(TIMEOUT) + FAIL_FAST, elapsed
