"""An async repository call against the sync one and against raw psycopg async, same connection.

Three sides, calls alternating, medians printed side by side:

  async repo    ``postgres.async_repositories(AsyncConnection)``: the repository code run under
                the greenlet bridge, its round trip awaited on psycopg's AsyncConnection
  raw async     the same statement and parameters through ``AsyncConnection.execute`` and
                ``fetchall`` alone, on that same connection: the floor of one async round trip
  sync repo     ``postgres.repositories(Connection)`` on a sync connection to the same database

for a lookup by key (``api_keys.get_by_key``), by id (``projects.get_by_id``) and a list page
(``connections.list``). Both connections are in autocommit (as a pool lends them idle). The
async sides alternate call by call inside one event loop; the sync side runs its own pass
outside it (a sync PostgreSQL call inside a running loop is refused: it would block it).
The database lives on a throwaway local cluster (as ``bench/isolation.py`` obtains one).
Target: every async repository call at most 1.3x its raw async round trip.

Usage: python bench/async_calls.py [--calls N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psycopg
from isolation_support.targets import machine, print_targets
from isolation_support.template import throwaway_database

from pytest_ampdb import postgres
from pytest_ampdb.models import tables as t
from pytest_ampdb.postgres import statements
from pytest_ampdb.postgres.convert import params
from pytest_ampdb.seeds import read_seeds

TARGET = 1.3


def _select(spec: Any, where: dict[str, object], limit: int) -> tuple[bytes, list[object]]:
    """The engine's statement and parameters for a lookup (``PostgresEngine.select``)."""
    names = tuple(where)
    args = [*params(spec, names, [where[n] for n in names]), limit]
    return statements.select(spec, names, False, True), args


async def _timed(call: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await call()
    return time.perf_counter() - start


def _timed_sync(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


Case = tuple[str, Callable[[Any], Any], tuple[bytes, list[object]]]


def cases() -> Sequence[Case]:
    """The calls measured, each with the statement and parameters the engine sends for it."""
    ids = read_seeds().ids
    project = ids.project_id
    return [
        (
            "api_keys.get_by_key",
            lambda r: r.api_keys.get_by_key(ids.api_key),
            _select(t.API_KEYS, {"key": ids.api_key}, 1),
        ),
        (
            "projects.get_by_id",
            lambda r: r.projects.get_by_id(project),
            _select(t.PROJECTS, {"id": project}, 1),
        ),
        (
            "connections.list",
            lambda r: r.connections.list(project, page_size=20),
            _select(t.CONNECTIONS, {"project_id": project}, 21),
        ),
    ]


async def measure_async(dsn: str, calls: int) -> dict[str, tuple[float, float]]:
    """Per call: the medians of the async repository and of raw psycopg async, alternating."""
    aconn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    await postgres.aconfigure_connection(aconn)
    arepos = postgres.async_repositories(aconn)
    results = {}
    for label, call, (query, args) in cases():

        async def raw(query: bytes = query, args: list[object] = args) -> Any:
            cur = await aconn.execute(query, args)
            return await cur.fetchall()

        repo: list[float] = []
        floor: list[float] = []
        for _ in range(calls // 10):  # warm up both sides
            await call(arepos)
            await raw()
        for _ in range(calls):
            repo.append(await _timed(lambda call=call: call(arepos)))
            floor.append(await _timed(raw))
        results[label] = (statistics.median(repo) * 1e6, statistics.median(floor) * 1e6)
    await aconn.close()
    return results


def measure_sync(dsn: str, calls: int) -> dict[str, float]:
    """Per call: the median of the sync repository on a sync connection."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        postgres.configure_connection(conn)
        repos = postgres.repositories(conn)
        results = {}
        for label, call, _ in cases():
            for _ in range(calls // 10):
                call(repos)
            times = [_timed_sync(lambda call=call: call(repos)) for _ in range(calls)]
            results[label] = statistics.median(times) * 1e6
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=2000)
    options = parser.parse_args()
    load_before = os.getloadavg()[0]
    with throwaway_database("bench_async") as dsn:
        measured = asyncio.run(measure_async(dsn, options.calls))
        sync = measure_sync(dsn, options.calls)
    results = [(label, *measured[label], sync[label]) for label in measured]
    print(f"median of {options.calls} calls each, microseconds; {machine(load_before)}")
    print(f"{'call':<22}{'async repo':>12}{'raw async':>12}{'sync repo':>12}{'async/raw':>11}")
    for label, arepo, raw, sync in results:
        print(f"{label:<22}{arepo:>12.1f}{raw:>12.1f}{sync:>12.1f}{arepo / raw:>10.2f}x")
    print_targets(
        (
            f"{label}: async repository {arepo / raw:.2f}x raw async (<= {TARGET}x)",
            arepo <= raw * TARGET,
        )
        for label, arepo, raw, _ in results
    )


if __name__ == "__main__":
    main()
