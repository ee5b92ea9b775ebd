"""Each PostgreSQL repository call against the same SQL sent through raw psycopg.

For every kind of repository call (get, get by name, list page, filtered list page, create,
update, upsert, transition, delete), each call's exact statement and parameters are taken from
the engine itself (its ``execute`` is intercepted once per call, before anything is sent), and
sent again through psycopg alone on the same connection: the floor of one round trip, no row
conversion, no model. Calls alternate between the two sides; the median of each is printed.
Both sides run prepared statements: the repositories prepare a statement the first time they
send it on a connection, psycopg prepares the raw side's after ``prepare_threshold`` (5)
executions of the same query, a handful out of each median's hundreds.

  transaction   one connection inside an open transaction (``transaction`` isolation): raw is
                the bare statement in that transaction. The rows the calls work on are
                committed before it opens, as a test finds the template's seeded rows: made
                inside it, the 2,400 savepointed writes would be a test's own, and each later
                savepoint costs the server more the more subtransactions the transaction holds
                (a read's ~8 µs becomes ~25 µs after 600)
  pooled        ``pytest_ampdb.postgres.connect`` (a psycopg_pool pool, one connection): raw is
                the statement on the lent connection in autocommit

Then what a read's savepoint costs inside the transaction: a read's statement sent as the
engine sends it (named, ``SAVEPOINT``/``RELEASE`` in the same round trip), bare, bare and
unnamed (the alternative that needs no savepoint to survive a ``DEALLOCATE ALL``: parsed and
planned on every call), and through raw psycopg, alternating; round trip only.

Then the isolation bench's test body (``isolation_support/body.py``: 3 inserts, 4 reads) on an
open connection and under transaction isolation, with this tree's package and with the
``--baseline`` commit's (exported with ``git archive``, run in a subprocess against the same
database), best of ``--rounds`` interleaved rounds; beside them the body's floor: its own seven
statements sent through raw psycopg (no body can beat it, so the baseline's time over the floor
bounds any speed-up).

The database lives on a throwaway local cluster (as ``bench/isolation.py`` obtains one).
Targets: every call at most 1.3x its raw round trip; the body at least 3x faster than the
baseline on an open connection.

Usage: python bench/calls.py [--calls N] [--bodies N] [--rounds R] [--baseline REF]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from isolation_support.baseline import BASELINE, export
from isolation_support.bodies import body_figures, repositories_over
from isolation_support.body import exercise
from isolation_support.targets import machine, print_targets
from isolation_support.template import throwaway_database

from pytest_ampdb import postgres
from pytest_ampdb.models import (
    AuthScheme,
    Connection,
    Destination,
    DestinationType,
    Installation,
    Integration,
    Operation,
    OperationStatus,
    OperationType,
    ReadState,
)
from pytest_ampdb.postgres import engine as engine_module
from pytest_ampdb.postgres import wire
from pytest_ampdb.seeds import read_seeds
from pytest_ampdb.types import Repositories

BENCH_DIR = Path(__file__).resolve().parent

Statement = tuple[Any, Sequence[object]]


class _Captured(Exception):
    """Raised in place of sending a statement: it has been recorded."""

    def __init__(self, statement: Statement) -> None:
        self.statement = statement


def statement_of(call: Callable[[], object]) -> Statement:
    """The statement and parameters ``call`` makes the engine send (nothing is sent)."""
    try:
        _intercepted(call, send=False)
    except _Captured as captured:
        return captured.statement
    raise RuntimeError("the call sent no statement")


def statements_sent(call: Callable[[], object]) -> list[Statement]:
    """Every statement and its parameters ``call`` made the engine send (all were sent)."""
    return _intercepted(call, send=True)


def _intercepted(call: Callable[[], object], *, send: bool) -> list[Statement]:
    real = engine_module.execute
    sent: list[Statement] = []

    def record(conn: Any, query: Any, args: Sequence[object], *rest: Any) -> Any:
        if not send:
            raise _Captured((query, args))
        sent.append((query, args))
        return real(conn, query, args, *rest)

    engine_module.execute = record
    try:
        call()
    finally:
        engine_module.execute = real
    return sent


@dataclasses.dataclass
class Fixture:
    """Rows the calls work on, made through the repositories before anything is timed: each
    write of a kind touches its own row (updating one row over and over inside one transaction
    would time PostgreSQL walking that row's ever longer chain of versions, not the call)."""

    pid: str
    tag: str
    integration: Integration
    installation: Installation
    integrations: list[Integration]
    read_states: list[ReadState]
    pending: list[Operation]
    destinations: list[Destination]


def prepare(repos: Repositories, pid: str, calls: int, tag: str) -> Fixture:
    integration = repos.integrations.create(
        Integration(project_id=pid, name=f"{tag}-main", provider="salesforce")
    )
    connection = repos.connections.create(
        Connection(
            project_id=pid,
            provider=f"{tag}-filter",
            group_ref="g",
            group_name="G",
            consumer_ref="c",
            consumer_name="C",
            auth_scheme=AuthScheme.OAUTH2_AUTHORIZATION_CODE,
        )
    )
    installation = repos.installations.create(
        Installation(
            project_id=pid,
            integration_id=integration.id,
            connection_id=connection.id,
            group_ref="g",
            group_name="G",
            created_by="builder:calls",
        )
    )
    integrations = [
        repos.integrations.create(
            Integration(project_id=pid, name=f"{tag}-{i}", provider="salesforce")
        )
        for i in range(2 * calls)
    ]
    read_states = [
        repos.read_states.upsert(
            ReadState(project_id=pid, installation_id=installation.id, object_name=f"{tag}-{i}")
        )
        for i in range(2 * calls)
    ]
    pending = [
        repos.operations.create(
            Operation(
                project_id=pid,
                integration_id=integration.id,
                installation_id=installation.id,
                type=OperationType.READ,
            )
        )
        for _ in range(2 * calls)
    ]
    destinations = [
        repos.destinations.create(
            Destination(project_id=pid, name=f"{tag}-{i}", type=DestinationType.WEBHOOK)
        )
        for i in range(2 * calls)
    ]
    return Fixture(
        pid, tag, integration, installation, integrations, read_states, pending, destinations
    )


Kind = tuple[Callable[..., object], Callable[[int], tuple[object, ...]]]
"""A repository method, and the arguments of its call ``i`` (made before the call is timed,
as the raw side's parameters are)."""


def call_kinds(repos: Repositories, f: Fixture) -> dict[str, Kind]:
    """Each kind of call; even ``i`` are timed through the repositories, odd ``i`` only lend
    their statement to the raw side (so no two sends write the same row or name)."""
    pid = f.pid
    return {
        "get_by_id": (repos.integrations.get_by_id, lambda i: (pid, f.integration.id)),
        "get_by_name": (repos.integrations.get_by_name, lambda i: (pid, f"{f.tag}-main")),
        "list, page of 20": (partial(repos.integrations.list, page_size=20), lambda i: (pid,)),
        "list, filtered": (
            partial(repos.connections.list, provider=f"{f.tag}-filter", page_size=20),
            lambda i: (pid,),
        ),
        "create": (
            repos.integrations.create,
            lambda i: (Integration(project_id=pid, name=f"{f.tag}-c{i}", provider="salesforce"),),
        ),
        "update": (
            repos.integrations.update,
            lambda i: (dataclasses.replace(f.integrations[i], name=f"{f.tag}-u{i}"),),
        ),
        "upsert": (
            repos.read_states.upsert,
            lambda i: (dataclasses.replace(f.read_states[i], records_processed=i),),
        ),
        "transition": (
            repos.operations.transition,
            lambda i: (pid, f.pending[i].id, OperationStatus.RUNNING),
        ),
        "delete": (repos.destinations.delete, lambda i: (pid, f.destinations[i].id)),
    }


def send_raw(conn: psycopg.Connection[Any], statement: Statement) -> None:
    cur = conn.execute(*statement)
    if cur.description is not None:
        cur.fetchall()


def send_all(conn: psycopg.Connection[Any], statements: Sequence[Statement]) -> None:
    for statement in statements:
        send_raw(conn, statement)


@contextmanager
def autocommit(conn: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    conn.autocommit = True
    try:
        yield conn
    finally:
        conn.autocommit = False


def timed(call: Callable[..., object], *args: Any) -> float:
    started = time.perf_counter()
    call(*args)
    return (time.perf_counter() - started) * 1e6


def measure_calls(
    repos: Repositories, raw: Callable[[Statement], None], fixture: Fixture, calls: int
) -> dict[str, tuple[float, float]]:
    """Median microseconds per call: (repository, raw), each kind alternating the two."""
    kinds = call_kinds(repos, fixture)
    out: dict[str, tuple[float, float]] = {}
    for name, (method, args_of) in kinds.items():
        statements = [statement_of(partial(method, *args_of(i))) for i in range(1, 2 * calls, 2)]
        ours, floor = [], []
        for n in range(calls):
            args = args_of(2 * n)
            ours.append(timed(method, *args))
            floor.append(timed(raw, statements[n]))
        out[name] = (statistics.median(ours), statistics.median(floor))
    return out


@contextmanager
def without_savepoint() -> Iterator[None]:
    """The engine's reads sent bare inside the caller's transaction (not what it does)."""
    real = wire.savepointed
    wire.savepointed = lambda conn: False
    try:
        yield
    finally:
        wire.savepointed = real


@contextmanager
def unprepared(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """The engine's statements sent unnamed (parsed and planned on every call)."""
    threshold, conn.prepare_threshold = conn.prepare_threshold, None
    try:
        yield
    finally:
        conn.prepare_threshold = threshold


READ_WAYS = ("in a savepoint", "bare", "bare, unnamed", "raw psycopg")


def read_ways(
    conn: psycopg.Connection[Any], repos: Repositories, f: Fixture, calls: int
) -> dict[str, list[float]]:
    """What a read's savepoint costs inside the caller's transaction: two reads' statements
    sent through ``engine.execute`` as the engine sends them (named, SAVEPOINT and RELEASE in
    the same round trip), without the savepoint, unnamed without it, and through raw psycopg;
    median µs of each, the four alternating call by call (round trip only, no model built)."""
    reads: dict[str, Callable[[], object]] = {
        "get_by_id": partial(repos.integrations.get_by_id, f.pid, f.integration.id),
        "list, page of 20": partial(repos.integrations.list, f.pid, page_size=20),
    }
    out: dict[str, list[float]] = {}
    for name, call in reads.items():
        statement = statement_of(call)
        ways = [(True, True), (False, True), (False, False)]
        times: list[list[float]] = [[] for _ in READ_WAYS]
        for _ in range(calls):
            for (savepoint, prepared), spent in zip(ways, times, strict=False):
                spent.append(sent_as(conn, statement, savepoint=savepoint, prepared=prepared))
            times[-1].append(timed(send_raw, conn, statement))
        out[name] = [statistics.median(spent) for spent in times]
    return out


def sent_as(
    conn: psycopg.Connection[Any], statement: Statement, *, savepoint: bool, prepared: bool
) -> float:
    """µs of one ``engine.execute`` of ``statement``, sent as asked (set up outside the time)."""
    with ExitStack() as stack:
        if not savepoint:
            stack.enter_context(without_savepoint())
        if not prepared:
            stack.enter_context(unprepared(conn))
        return timed(engine_module.execute, conn, *statement)


def body_floor(dsn: str, pid: str, bodies: int) -> dict[str, float]:
    """Median ms of the body's own statements sent through raw psycopg, as ``body_figures``
    sends the body: the floor no repository layer can go under. The bodies are first run
    through the repositories with their statements recorded (in a transaction then rolled
    back), then each body's statements are sent again, timed, raw: each its own transaction on
    an autocommit connection, or all in one open transaction."""
    out: dict[str, float] = {}
    with psycopg.connect(dsn) as conn:
        postgres.configure_connection(conn)
        repos = repositories_over(conn)
        for mode in ("open", "transaction"):
            conn.execute("SELECT 1")
            try:
                sent = [statements_sent(partial(exercise, repos, pid)) for _ in range(bodies)]
            finally:
                conn.rollback()
            conn.autocommit = mode == "open"
            times = [timed(send_all, conn, body) / 1000.0 for body in sent]
            conn.rollback()
            conn.autocommit = False
            out[mode] = statistics.median(times)
    return out


BASELINE_SCRIPT = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import pytest_ampdb
from isolation_support.bodies import body_figures
assert pytest_ampdb.__file__.startswith(sys.argv[1]), pytest_ampdb.__file__
print(json.dumps(body_figures(sys.argv[3], sys.argv[4], int(sys.argv[5]))))
"""


def baseline_figures(package: Path, dsn: str, pid: str, bodies: int) -> dict[str, float]:
    """``body_figures`` with the baseline's package first on the path, in a subprocess."""
    args = [str(package), str(BENCH_DIR), dsn, pid, str(bodies)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", BASELINE_SCRIPT, *args],
        env=env,
        cwd=package,
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def report(
    modes: dict[str, dict[str, tuple[float, float]]],
    savepoints: dict[str, list[float]],
    bodies: dict[str, dict[str, float]],
    args: argparse.Namespace,
    load_before: float,
) -> None:
    print(
        f"pytest-ampdb call benchmark: {args.calls} calls of each kind per side (median), "
        f"PostgreSQL 15 (local throwaway cluster), {machine(load_before)}"
    )
    worst = 0.0
    for mode, figures in modes.items():
        print()
        print(f"{mode + ' (µs per call)':<32}{'repository':>12}{'raw psycopg':>13}{'ratio':>8}")
        for name, (ours, floor) in figures.items():
            ratio = ours / floor
            worst = max(worst, ratio)
            print(f"  {name:<30}{ours:>12.1f}{floor:>13.1f}{ratio:>8.2f}")
    print()
    print(f"{'a read in the transaction (µs)':<32}" + "".join(f"{w:>16}" for w in READ_WAYS))
    for name, read in savepoints.items():
        print(f"  {name:<30}" + "".join(f"{v:>16.1f}" for v in read))
    print()
    head = f"{'body: 3 inserts + 4 reads (ms)':<32}{'this tree':>12}{args.baseline:>13}"
    print(f"{head}{'speed-up':>10}{'raw floor':>11}{'baseline/floor':>16}")
    for mode, label in (("open", "open connection"), ("transaction", "transaction isolation")):
        now, then, floor = (bodies[side][mode] for side in ("now", "baseline", "floor"))
        row = f"  {label:<30}{now:>12.3f}{then:>13.3f}{then / now:>9.1f}x{floor:>11.3f}"
        print(f"{row}{then / floor:>15.1f}x")
    speedup = bodies["baseline"]["open"] / bodies["now"]["open"]
    print()
    print_targets(
        [
            (f"every call <= 1.3x raw: worst {worst:.2f}x", worst <= 1.3),
            (
                f"body on an open connection >= 3x faster than {args.baseline}: {speedup:.1f}x",
                speedup >= 3,
            ),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=300, help="timed calls per kind and side")
    parser.add_argument("--bodies", type=int, default=100, help="test bodies per run")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved body rounds (best)")
    parser.add_argument("--baseline", default=BASELINE, help="commit the body is compared with")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    pid = read_seeds().ids.project_id
    with tempfile.TemporaryDirectory() as tmp, throwaway_database() as dsn:
        package = export(args.baseline, Path(tmp))
        modes: dict[str, dict[str, tuple[float, float]]] = {}
        with psycopg.connect(dsn) as conn:
            postgres.configure_connection(conn)
            repos = repositories_over(conn)
            fixture = prepare(repos, pid, args.calls, "transaction")  # committed, as seeds are
            conn.execute("SELECT 1")  # the test's transaction, as transaction isolation opens it
            modes["transaction"] = measure_calls(
                repos, lambda s: send_raw(conn, s), fixture, args.calls
            )
            savepoints = read_ways(conn, repos, fixture, args.calls)
            conn.rollback()
        with postgres.connect(dsn, min_size=1, max_size=1) as pool:

            def pooled(statement: Statement) -> None:
                with pool.connection() as conn, autocommit(conn):
                    send_raw(conn, statement)

            repos = postgres.repositories(pool)
            fixture = prepare(repos, pid, args.calls, "pooled")
            modes["pooled"] = measure_calls(repos, pooled, fixture, args.calls)
        rounds: dict[str, list[dict[str, float]]] = {"now": [], "baseline": [], "floor": []}
        for _ in range(args.rounds):
            rounds["now"].append(body_figures(dsn, pid, args.bodies))
            rounds["floor"].append(body_floor(dsn, pid, args.bodies))
            rounds["baseline"].append(baseline_figures(package, dsn, pid, args.bodies))
    bodies = {
        side: {mode: min(r[mode] for r in runs) for mode in ("open", "transaction")}
        for side, runs in rounds.items()
    }
    report(modes, savepoints, bodies, args, load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
