"""Per-call cost as tables grow: the memory store against PostgreSQL, side by side in one run.

One project holds N rows each of integrations, connections, installations, operations and read
states (installation i belongs to integration i and connection i; operation i and read state i
to installation i; connections spread over four providers), for N = 100, 1,000, 10,000 and
100,000. The same rows (same ids and times) are loaded into a ``MemoryStore`` and, with COPY,
into a PostgreSQL database on a throwaway local cluster (as ``bench/isolation.py`` obtains one),
which is ANALYZEd at each size. Then each operation is called ``--calls`` times on both sides,
on the same targets, the sides taking turns in blocks of ``--block`` calls (25: memory's 25,
then PostgreSQL's 25 on the same targets, then the next 25 ...):

  get              operations.get_by_id
  list page        operations.list, 5 at a time, following the page tokens
  filtered list    connections.list(provider=...), 5 at a time, following the page tokens
  create           operations.create
  update           connections.update
  upsert           read_states.upsert of an existing (installation, object)
  transition       operations.transition pending -> running
  cascading delete integrations.delete: the integration, its installation, operation, read state

A provider holds a quarter of the connections, so even at 100 rows a filtered list is five
pages: one call in five reads the last page, which has no page token to encode (with ten
providers, every other call did at 100 rows, and that size's figure was the lower for it).

Why blocks: turns keep both sides in the same run, so a load drift on the machine hits both;
but turns call by call put a psycopg round trip (and the server's work on the same two cores)
between every two memory calls, which evicts the CPU caches the memory call runs from and
raises its figure 1.4 to 2 times (measured at 10,000 rows). A test in memory mode never
interleaves with psycopg, so blocks measure what a test sees; ``--block 1`` gives the
call-by-call figures.

The memory store keeps each stored row's model (built when the row is written, or on the row's
first read), so a read hands back kept models: the repositories exist before the rows are
loaded here, so every row has its model, as every row a test writes through them has.

PostgreSQL is reached through the repositories two ways, each on its own copy of the database:
one open connection (each call its own transaction, the cheapest PostgreSQL path), and inside a
transaction as ``transaction`` isolation runs a test (writes in savepoints; rolled back after
each size, which only brings back rows no later call targets). Figures are medians in
microseconds per call. Targets: memory at least 10x faster than PostgreSQL for every operation
at every size (judged against the open connection), and flat (memory's per-call cost at 100,000
rows at most 2x its cost at 100).

Usage: python bench/scaling.py [--sizes 100,1000,10000,100000] [--calls N] [--block N]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from isolation_support.targets import print_targets
from isolation_support.template import throwaway_database
from psycopg import sql
from psycopg.conninfo import make_conninfo

from pytest_ampdb import memory, postgres
from pytest_ampdb.harness.isolation import repositories_over
from pytest_ampdb.models import (
    AuthScheme,
    Connection,
    Installation,
    Integration,
    Operation,
    OperationStatus,
    OperationType,
    ReadState,
    new_id,
    new_uuid7,
)
from pytest_ampdb.models.schema import Row, TableSpec
from pytest_ampdb.models.tables import SPEC_BY_MODEL
from pytest_ampdb.postgres.convert import row_params
from pytest_ampdb.seeds import load_into_store, read_seeds
from pytest_ampdb.types import Repositories

PROVIDERS = 4
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclasses.dataclass
class Family:
    """Row i of every table: an integration with its connection, installation, operation and
    read state."""

    integration: Integration
    connection: Connection
    installation: Installation
    operation: Operation
    read_state: ReadState

    @classmethod
    def make(cls, pid: str, i: int) -> Family:
        at = START + timedelta(microseconds=i)
        integration = Integration(
            id=new_id(), project_id=pid, name=f"int-{i}", provider="salesforce", create_time=at
        )
        connection = Connection(
            id=new_id(),
            project_id=pid,
            provider=f"provider-{i % PROVIDERS}",
            group_ref=f"g{i}",
            group_name="Group",
            consumer_ref=f"c{i}",
            consumer_name="Consumer",
            auth_scheme=AuthScheme.OAUTH2_AUTHORIZATION_CODE,
            create_time=at,
        )
        installation = Installation(
            id=new_id(),
            project_id=pid,
            integration_id=integration.id,
            connection_id=connection.id,
            group_ref="g",
            group_name="Group",
            created_by="builder:bench",
            create_time=at,
        )
        operation = Operation(
            id=new_uuid7(),
            project_id=pid,
            integration_id=integration.id,
            installation_id=installation.id,
            type=OperationType.READ,
            create_time=at,
        )
        read_state = ReadState(
            id=new_id(),
            project_id=pid,
            installation_id=installation.id,
            object_name="contact",
            update_time=at,
        )
        return cls(integration, connection, installation, operation, read_state)

    def entities(self) -> tuple[Any, ...]:
        """Parents first."""
        return (self.integration, self.connection, self.installation, self.operation,
                self.read_state)  # fmt: skip


def stored(entity: Any) -> tuple[TableSpec[Any], Row]:
    spec = SPEC_BY_MODEL[type(entity)]
    return spec, spec.normalize(spec.to_row(entity))


def load(
    store: memory.MemoryStore, conns: list[psycopg.Connection[Any]], families: list[Family]
) -> None:
    """The same rows into every side: the store row by row, each PostgreSQL with COPY."""
    by_table: dict[str, list[list[object]]] = {}
    specs: dict[str, TableSpec[Any]] = {}
    for family in families:
        for entity in family.entities():
            spec, row = stored(entity)
            store.insert(spec, row)
            specs[spec.name] = spec
            by_table.setdefault(spec.name, []).append(row_params(spec, row))
    for conn in conns:
        with conn.transaction():
            for name, rows in by_table.items():
                columns = sql.SQL(", ").join(map(sql.Identifier, specs[name].column_names))
                copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(name), columns)
                with conn.cursor().copy(copy_sql) as copy:
                    for values in rows:
                        copy.write_row(values)
        with conn.transaction():
            conn.execute("ANALYZE")


class Sides:
    """The operations, each a function of (repositories, call number, shared state)."""

    def __init__(self, pid: str, families: list[Family], rng: random.Random) -> None:
        self.pid = pid
        self.families = families
        self.rng = rng
        self.alive = list(range(len(families)))
        self.pending = set(self.alive)

    def grow(self, families: list[Family]) -> None:
        start = len(self.families)
        self.families += families
        new = range(start, len(self.families))
        self.alive += new
        self.pending.update(new)

    def targets(self, calls: int) -> dict[str, list[Any]]:
        """Per operation, the argument of each call (the same on both sides)."""
        pick = self.rng.sample(self.alive, 3 * calls)
        doomed = pick[:calls]  # deleted at the end, so no other operation uses them after
        moving = [i for i in pick[calls:] if i in self.pending][:calls]
        others = pick[calls:]
        self.pending.difference_update(moving)
        gone = set(doomed)
        self.alive = [i for i in self.alive if i not in gone]
        f = self.families
        return {
            "get": [f[i].operation.id for i in others[:calls]],
            "list page": [None] * calls,
            "filtered list": [None] * calls,
            "create": [
                dataclasses.replace(
                    f[i].operation, id=new_uuid7(), create_time=None, status=OperationStatus.PENDING
                )
                for i in others[:calls]
            ],
            "update": [
                dataclasses.replace(f[i].connection, group_name=f"renamed-{n}")
                for n, i in enumerate(others[:calls])
            ],
            "upsert": [
                dataclasses.replace(f[i].read_state, records_processed=n)
                for n, i in enumerate(others[:calls])
            ],
            "transition": [f[i].operation.id for i in moving],
            "cascading delete": [f[i].integration.id for i in doomed],
        }


def operation(name: str, pid: str) -> Callable[[Repositories, Any, dict[str, Any]], object]:
    """Operation ``name`` on one side; ``state`` holds that side's page tokens."""

    def page(repos: Repositories, state: dict[str, Any], key: str) -> None:
        if key == "list page":
            found = repos.operations.list(pid, page_size=5, page_token=state.get(key))
        else:
            found = repos.connections.list(
                pid, provider="provider-3", page_size=5, page_token=state.get(key)
            )
        state[key] = found.next_page_token

    calls: dict[str, Callable[[Repositories, Any, dict[str, Any]], object]] = {
        "get": lambda r, a, s: r.operations.get_by_id(pid, a),
        "list page": lambda r, a, s: page(r, s, "list page"),
        "filtered list": lambda r, a, s: page(r, s, "filtered list"),
        "create": lambda r, a, s: r.operations.create(a),
        "update": lambda r, a, s: r.connections.update(a),
        "upsert": lambda r, a, s: r.read_states.upsert(a),
        "transition": lambda r, a, s: r.operations.transition(pid, a, OperationStatus.RUNNING),
        "cascading delete": lambda r, a, s: r.integrations.delete(pid, a),
    }
    return calls[name]


def measure(
    sides: dict[str, Repositories], targets: dict[str, list[Any]], pid: str, block: int
) -> dict[str, dict[str, float]]:
    """Median µs per call, per operation and side, the sides taking turns every ``block`` calls
    over the same targets."""
    out: dict[str, dict[str, float]] = {}
    for name, arguments in targets.items():
        call = operation(name, pid)
        times: dict[str, list[float]] = {side: [] for side in sides}
        states: dict[str, dict[str, Any]] = {side: {} for side in sides}
        for start in range(0, len(arguments), block):
            for side, repos in sides.items():
                for argument in arguments[start : start + block]:
                    started = time.perf_counter()
                    call(repos, argument, states[side])
                    times[side].append((time.perf_counter() - started) * 1e6)
        out[name] = {side: statistics.median(t) for side, t in times.items()}
    return out


def families_for(pid: str, start: int, stop: int) -> list[Family]:
    return [Family.make(pid, i) for i in range(start, stop)]


def report(
    results: dict[int, dict[str, dict[str, float]]],
    loads: dict[int, float],
    calls: int,
    block: int,
    load: tuple[float, float],
) -> None:
    sizes = list(results)
    print(
        f"pytest-ampdb scaling benchmark: median µs per call over {calls} calls per operation "
        f"and size (fewer where the table is smaller); PostgreSQL 15 (local throwaway cluster, one "
        f"open connection); {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, 1-min load "
        f"average {load[0]:.2f} before, {load[1]:.2f} after"
    )
    print(
        f"method: the sides take turns in blocks of {block} calls over the same targets (memory, "
        "postgres, in a transaction, repeat), all in one run so load drifts hit every side; "
        "blocks rather than call by call because a psycopg call between two memory calls evicts "
        "the CPU caches memory runs from, which a memory-mode test never does (--block 1 "
        "alternates call by call)"
    )
    print(
        "rows per table: "
        + ", ".join(f"{n:,} (loaded in {loads[n]:.1f} s, both sides)" for n in sizes)
    )
    print()
    head = f"{'operation':<18}{'rows':>9}{'memory':>9}{'postgres':>10}{'ratio':>7}"
    print(f"{head}{'in a transaction':>18}{'ratio':>7}")
    worst_ratio, worst_tx, worst_growth = float("inf"), float("inf"), 0.0
    for name in results[sizes[0]]:
        for n in sizes:
            mem, pg, tx = (results[n][name][side] for side in ("memory", "postgres", "transaction"))
            worst_ratio = min(worst_ratio, pg / mem)
            worst_tx = min(worst_tx, tx / mem)
            print(
                f"{name:<18}{n:>9,}{mem:>9.1f}{pg:>10.1f}{pg / mem:>6.0f}x"
                f"{tx:>18.1f}{tx / mem:>6.0f}x"
            )
        growth = results[sizes[-1]][name]["memory"] / results[sizes[0]][name]["memory"]
        worst_growth = max(worst_growth, growth)
        print(f"{'':<18}{'growth':>9}{growth:>8.2f}x")
    print()
    flat = f"flat: memory per call at {sizes[-1]:,} rows <= 2x at {sizes[0]:,}"
    print_targets(
        [
            (
                f"memory >= 10x faster than PostgreSQL everywhere: least {worst_ratio:.0f}x "
                f"(in a transaction: {worst_tx:.0f}x)",
                worst_ratio >= 10,
            ),
            (f"{flat}: most {worst_growth:.2f}x", worst_growth <= 2),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100,1000,10000,100000")
    parser.add_argument("--calls", type=int, default=200, help="calls per operation and size")
    parser.add_argument(
        "--block", type=int, default=25, help="calls of one side before the next takes its turn"
    )
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    load_before = os.getloadavg()[0]
    seeds = read_seeds()
    pid = seeds.ids.project_id
    store = memory.MemoryStore()
    load_into_store(store, seeds)
    results: dict[int, dict[str, dict[str, float]]] = {}
    loads: dict[int, float] = {}
    with throwaway_database() as dsn:
        with psycopg.connect(make_conninfo(dsn, dbname="postgres"), autocommit=True) as admin:
            admin.execute("CREATE DATABASE bench_tx TEMPLATE bench")
        with psycopg.connect(dsn) as conn, psycopg.connect(dsn, dbname="bench_tx") as tx:
            for c in (conn, tx):
                postgres.configure_connection(c)
            sides = {
                "memory": memory.repositories(store),
                "postgres": postgres.repositories(conn),
                "transaction": repositories_over(tx),
            }
            plan = Sides(pid, [], random.Random(args.seed))
            for n in sizes:
                started = time.perf_counter()
                families = families_for(pid, len(plan.families), n)
                load(store, [conn, tx], families)
                plan.grow(families)
                loads[n] = time.perf_counter() - started
                calls = min(args.calls, n // 4)
                tx.execute("SELECT 1")  # the test's transaction
                results[n] = measure(sides, plan.targets(calls), pid, max(args.block, 1))
                tx.rollback()
    report(results, loads, args.calls, max(args.block, 1), (load_before, os.getloadavg()[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
