"""Concurrency: two runs of one project at once on one machine, one run under ``-n 4``, and the
memory store under 16 threads checked against a sequential replay.

The two runs meet at a rendezvous inside their first test, so they really overlap; every test
writes rows and checks it sees exactly the seeds plus its own rows, and records the database it
used, so the test here can check that no database of one run was used by the other and that
nothing of either run is left (only the kept server and template with ``--ampdb-reuse``).
"""

from __future__ import annotations

import random
import re
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_ampdb import repositories
from pytest_ampdb.errors import AlreadyExistsError, AmpdbError, NotFoundError
from pytest_ampdb.memory import MemoryStore
from pytest_ampdb.models import Integration, Organization, Project
from pytest_ampdb.types import Repositories
from pytest_ampdb.urls import dbname_of

from .conftest import (
    PYTEST,
    Child,
    Figures,
    Run,
    clusters_of,
    containers_of,
    outcome_counts,
    plugin_databases,
    require_binaries,
    require_docker,
    run_pytest,
    write,
)

TWO_RUN_SUITE = """
import os, pathlib, time
import psycopg, pytest
from pytest_ampdb.models import Organization, new_id

HERE = pathlib.Path(__file__).parent
RUN = os.environ["RUN_TAG"]

def _record(name, dsn):
    (HERE / "dbs").mkdir(exist_ok=True)
    (HERE / "dbs" / f"{RUN}-{name}").write_text(dsn)

def test_0_rendezvous(ampdb, ampdb_dsn):
    _record("rendezvous", ampdb_dsn)
    (HERE / f"ready-{RUN}").write_text(str(os.getpid()))
    deadline = time.monotonic() + 90
    while len(list(HERE.glob("ready-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(list(HERE.glob("ready-*"))) == 2, "the other run never started"

@pytest.mark.parametrize("n", range(6))
@pytest.mark.ampdb(isolation="database")
def test_own_database(ampdb, ampdb_dsn, n):
    label = f"{RUN}-d{n}"
    ampdb.organizations.create(Organization(label=label, default_team_id=new_id()))
    time.sleep(0.05)
    with psycopg.connect(ampdb_dsn) as conn:
        labels = sorted(r[0] for r in conn.execute("SELECT label FROM organizations"))
    assert labels == sorted(["Ampersand Local", label])
    _record(f"d{n}", ampdb_dsn)

@pytest.mark.parametrize("n", range(6))
def test_in_transaction(ampdb, n):
    label = f"{RUN}-t{n}"
    ampdb.organizations.create(Organization(label=label, default_team_id=new_id()))
    time.sleep(0.05)
    assert sorted(o.label for o in ampdb.organizations.list().items) == sorted(
        ["Ampersand Local", label]
    )
"""

TWO_RUN_TESTS = 13


@dataclass
class Mode:
    name: str
    args: tuple[str, ...]
    reuse: bool = False
    marks: tuple[Any, ...] = field(default=())


def _databases_used(project: Path, tag: str) -> set[str]:
    return {dbname_of(p.read_text()) for p in (project / "dbs").glob(f"{tag}-*")}


def _header(result: Run) -> str:
    return next(
        (line for line in result.stdout.splitlines() if line.startswith("ampdb: backend")), ""
    )


def _discard_kept(project: Path) -> None:
    """Remove the cluster and container ``--ampdb-reuse`` keeps for ``project``."""
    from pytest_ampdb.harness.provisioning.local import discard_kept

    discard_kept(project)
    from pytest_ampdb.harness.provisioning.container import docker_available

    if docker_available():
        from pytest_ampdb.harness.provisioning.container import remove_container, reuse_name

        remove_container(reuse_name(project))


@pytest.fixture
def kept(project: Path) -> Iterator[Path]:
    yield project
    _discard_kept(project)


def _two_runs(project: Path, args: list[str], timeout: float) -> tuple[Run, Run, float]:
    write(project / "test_suite.py", TWO_RUN_SUITE)
    started = time.monotonic()
    children = [
        Child([*PYTEST, "-rfE", *args], project, env={"RUN_TAG": tag}) for tag in ("a", "b")
    ]
    try:
        results = [child.wait(timeout) for child in children]
    finally:
        for child in children:
            child.kill()
    return results[0], results[1], time.monotonic() - started


def _check_two_runs(project: Path, a: Run, b: Run) -> None:
    for result in (a, b):
        assert not result.timed_out, result.describe()
        assert result.returncode == 0, result.describe()
        assert outcome_counts(result).get("passed") == TWO_RUN_TESTS, result.describe()
    used_a, used_b = _databases_used(project, "a"), _databases_used(project, "b")
    assert len(used_a) >= 2
    assert len(used_b) >= 2
    assert used_a.isdisjoint(used_b), (used_a, used_b)


@pytest.mark.postgres
def test_two_runs_on_one_existing_server(project: Path, server: str, figure: Figures) -> None:
    a, b, seconds = _two_runs(project, ["--ampdb=postgres", f"--ampdb-dsn={server}"], 150)
    figure("two concurrent runs, one existing server (dsn)", seconds)
    _check_two_runs(project, a, b)
    assert plugin_databases(server) == []


@pytest.mark.postgres
def test_two_runs_with_their_own_local_clusters(project: Path, figure: Figures) -> None:
    require_binaries()
    a, b, seconds = _two_runs(project, ["--ampdb=postgres", "--ampdb-postgres=local"], 150)
    figure("two concurrent runs, throwaway local clusters", seconds)
    _check_two_runs(project, a, b)
    ports = {re.search(r"port (\d+)", _header(r)).group(1) for r in (a, b)}  # type: ignore[union-attr]
    assert len(ports) == 2, (_header(a), _header(b))  # each run its own cluster
    assert clusters_of(a.pid) == []
    assert clusters_of(b.pid) == []


@pytest.mark.postgres
def test_two_runs_sharing_a_kept_local_cluster(kept: Path, figure: Figures) -> None:
    require_binaries()
    args = ["--ampdb=postgres", "--ampdb-postgres=local", "--ampdb-reuse"]
    a, b, seconds = _two_runs(kept, args, 150)
    figure("two concurrent runs, one kept local cluster (--ampdb-reuse)", seconds)
    _check_two_runs(kept, a, b)
    from pytest_ampdb.harness.provisioning.local import LocalCluster, kept_cluster_dir

    cluster = LocalCluster.attach_or_start(kept_cluster_dir(kept))
    assert cluster.attached  # kept, still running
    left = plugin_databases(cluster.dsn())
    assert [n for n in left if not n.startswith("ampdb_tpl_")] == [], left
    assert len(left) == 1  # the kept template, once


@pytest.mark.docker
def test_two_runs_sharing_a_kept_container(kept: Path, figure: Figures) -> None:
    require_docker()
    args = ["--ampdb=postgres", "--ampdb-postgres=container", "--ampdb-reuse"]
    a, b, seconds = _two_runs(kept, args, 180)
    figure("two concurrent runs, one kept container (--ampdb-reuse)", seconds)
    _check_two_runs(kept, a, b)
    from pytest_ampdb.harness.provisioning import container as c

    # the only container either run started is the kept one (labelled reuse, never swept)
    started = containers_of(a.pid) + containers_of(b.pid)
    assert [x.name for x in started] == [c.reuse_name(kept)]
    assert started[0].labels[c.LABEL_REUSE] == "1"

    client = c._docker_client(30)
    try:
        kept_container = client.containers.get(c.reuse_name(kept))
        assert kept_container.status == "running"
    finally:
        client.close()


XDIST_SUITE = """
import time, psycopg, pytest
from pytest_ampdb.models import Organization, new_id

@pytest.mark.parametrize("n", range(12))
@pytest.mark.ampdb(isolation="database")
def test_own_database(ampdb, ampdb_dsn, n):
    label = f"d{n}"
    ampdb.organizations.create(Organization(label=label, default_team_id=new_id()))
    with psycopg.connect(ampdb_dsn) as conn:
        labels = sorted(r[0] for r in conn.execute("SELECT label FROM organizations"))
    assert labels == sorted(["Ampersand Local", label])

@pytest.mark.parametrize("n", range(12))
def test_in_transaction(ampdb, n):
    ampdb.organizations.create(Organization(label=f"t{n}", default_team_id=new_id()))
    time.sleep(0.02)
    assert len(ampdb.organizations.list().items) == 2

@pytest.mark.parametrize("n", range(12))
@pytest.mark.ampdb(isolation="truncate")
def test_truncate(ampdb, n):
    ampdb.organizations.create(Organization(label=f"c{n}", default_team_id=new_id()))
    assert len(ampdb.organizations.list().items) == 2
"""


@pytest.mark.postgres
def test_one_run_with_four_workers(project: Path, server: str, figure: Figures) -> None:
    write(project / "test_suite.py", XDIST_SUITE)
    result = run_pytest(
        project, "-n", "4", "--ampdb=postgres", f"--ampdb-dsn={server}", timeout=180
    )
    figure("one run, -n 4, 36 tests over three isolations", result.seconds)
    assert not result.timed_out, result.describe()
    assert result.returncode == 0, result.describe()
    assert outcome_counts(result).get("passed") == 36, result.describe()
    assert plugin_databases(server) == []


# ------------------------------------------------------------------------------ memory store

THREADS = 16
OPS_PER_THREAD = 300
SHARED_NAMES = 40
ORG_ID = str(uuid.UUID(int=1))


@dataclass(frozen=True)
class Op:
    kind: str
    args: tuple[Any, ...]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _plan(thread: int) -> list[Op]:
    """A fixed, seeded list of mixed operations: most in the thread's own projects, some racing
    with every other thread for the same project names."""
    rng = random.Random(thread)
    ops: list[Op] = []
    own: list[tuple[str, str]] = []  # (project id, name) created so far by the plan
    for i in range(OPS_PER_THREAD):
        roll = rng.random()
        if roll < 0.25 or not own:
            pid, name = _uuid(rng), f"t{thread}-p{i}"
            own.append((pid, name))
            ops.append(Op("create_project", (pid, name)))
        elif roll < 0.40:
            pid, name = rng.choice(own)
            ops.append(Op("rename_app", (pid, f"app-{i}")))
        elif roll < 0.55:
            pid, _ = rng.choice(own)
            ops.append(Op("create_integration", (pid, _uuid(rng), f"i{i % 7}")))
        elif roll < 0.65:
            pid, _ = rng.choice(own)
            ops.append(Op("delete_project", (pid,)))
        elif roll < 0.80:
            pid, name = rng.choice(own)
            ops.append(Op("read", (pid, name)))
        else:  # the race: every thread tries to claim the same names
            ops.append(Op("claim", (_uuid(rng), f"shared-{rng.randrange(SHARED_NAMES)}")))
    return ops


def _apply(repos: Repositories, op: Op) -> str:
    """Run one operation; its outcome as text (``ok``, or the error class)."""
    try:
        if op.kind in {"create_project", "claim"}:
            pid, name = op.args
            repos.projects.create(
                Project(id=pid, name=name, app_name="app", organization_id=ORG_ID)
            )
        elif op.kind == "rename_app":
            pid, app = op.args
            current = repos.projects.get_by_id(pid)
            repos.projects.update(
                Project(
                    id=pid,
                    name=current.name,
                    app_name=app,
                    organization_id=ORG_ID,
                    create_time=current.create_time,
                )
            )
        elif op.kind == "create_integration":
            pid, iid, name = op.args
            repos.integrations.create(
                Integration(id=iid, project_id=pid, name=name, provider="salesforce")
            )
        elif op.kind == "delete_project":
            repos.projects.delete(op.args[0])
        elif op.kind == "read":
            pid, name = op.args
            found = repos.projects.get_by_name(name)
            assert found.id == pid
            return f"ok {len(repos.integrations.list(pid).items)}"
    except AmpdbError as exc:
        return type(exc).__name__
    return "ok"


def _fresh() -> tuple[MemoryStore, Repositories]:
    store = MemoryStore()
    repos = repositories.build(store)
    repos.organizations.create(Organization(id=ORG_ID, label="org", default_team_id=ORG_ID))
    return store, repos


def _state(store: MemoryStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every row, without timestamps, sorted; racing claims reduced to the names taken."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in ("organizations", "projects", "integrations"):
        rows = []
        for row in store.rows(table):
            kept = {k: v for k, v in row.items() if not k.endswith("_time")}
            if table == "projects" and str(kept["name"]).startswith("shared-"):
                kept = {"name": kept["name"]}
            rows.append(tuple(sorted((k, repr(v)) for k, v in kept.items())))
        out[table] = sorted(rows)
    return out


def test_memory_store_under_16_threads_matches_a_sequential_replay(figure: Figures) -> None:
    plans = [_plan(t) for t in range(THREADS)]
    store, repos = _fresh()
    outcomes: list[list[str]] = [[] for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def work(thread: int) -> None:
        try:
            barrier.wait()
            for op in plans[thread]:
                outcomes[thread].append(_apply(repos, op))
        except BaseException as exc:
            errors.append(exc)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        seconds = time.perf_counter() - started
    finally:
        sys.setswitchinterval(previous)
    total = THREADS * OPS_PER_THREAD
    figure(f"memory store, 16 threads, {total} mixed operations", seconds)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)

    replay_store, replay = _fresh()
    expected = [[_apply(replay, op) for op in plan] for plan in plans]

    # every thread's own operations had exactly the outcomes of the sequential replay
    for number in range(THREADS):
        mine = [
            o for o, op in zip(outcomes[number], plans[number], strict=True) if op.kind != "claim"
        ]
        theirs = [
            o for o, op in zip(expected[number], plans[number], strict=True) if op.kind != "claim"
        ]
        assert mine == theirs, f"thread {number} diverged from the replay"
    # each racing name was won exactly once, as in the replay
    claims = [
        o
        for t in range(THREADS)
        for o, op in zip(outcomes[t], plans[t], strict=True)
        if op.kind == "claim"
    ]
    replayed = [
        o
        for t in range(THREADS)
        for o, op in zip(expected[t], plans[t], strict=True)
        if op.kind == "claim"
    ]
    assert claims.count("ok") == replayed.count("ok")
    assert set(claims) <= {"ok", AlreadyExistsError.__name__}
    # the final state is the replay's, and the unique index agrees with the rows
    assert _state(store) == _state(replay_store)
    for project in repos.projects.list(page_size=1000).items:
        assert repos.projects.get_by_name(project.name).id == project.id
    for name in (f"shared-{k}" for k in range(SHARED_NAMES)):
        with_name = [p for p in store.rows("projects") if p["name"] == name]
        assert len(with_name) <= 1
    assert store.counts() == replay_store.counts()
    assert NotFoundError.__name__ in {
        o for out in outcomes for o in out
    }  # the mix includes refused operations
