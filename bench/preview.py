"""Benchmark: preview databases on a shared server (the twelve-table schema and its seeds).

Targets on the reference machine (2 cores): ensuring an up-to-date preview in at most 200 ms
(median; what every CI job of a branch pays), and creating one from nothing (CREATE DATABASE,
every migration, every seed row) in at most 2 s (median).

    python bench/preview.py                  # a throwaway local PostgreSQL 15 cluster
    python bench/preview.py --durable        # the same with fsync on, like a real shared server
    python bench/preview.py --server URL     # an existing server (maintenance database URL)

Every preview it makes is dropped before it exits.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from pytest_ampdb import preview
from pytest_ampdb.errors import AmpdbError

ENSURE_TARGET = 0.200
CREATE_TARGET = 2.0
DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


@contextmanager
def server(url: str | None, *, durable: bool) -> Iterator[str]:
    """The maintenance URL of the server to use: ``--server``, or a throwaway local cluster."""
    if url:
        yield url
        return
    from pytest_ampdb.harness.provisioning.local import LocalCluster

    cluster = LocalCluster.start(extra_settings=DURABLE if durable else None)
    try:
        yield cluster.dsn("postgres")
    finally:
        cluster.stop()


def time_create(server_dsn: str, rounds: int) -> list[float]:
    """Wall time of ``ensure`` creating a preview from nothing, each round a new branch."""
    timings = []
    for _ in range(rounds):
        branch = f"bench/create-{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        try:
            report = preview.ensure(server_dsn, branch)
            timings.append(time.perf_counter() - started)
            assert report.created, report
            assert report.seeded > 0, report
        finally:
            with suppress(AmpdbError):
                preview.drop(server_dsn, branch, force=True)
    return timings


def time_ensure(server_dsn: str, rounds: int) -> list[float]:
    """Wall time of ``ensure`` on a preview that is already up to date."""
    branch = f"bench/ensure-{uuid.uuid4().hex[:8]}"
    try:
        preview.ensure(server_dsn, branch)
        timings = []
        for _ in range(rounds):
            started = time.perf_counter()
            report = preview.ensure(server_dsn, branch)
            timings.append(time.perf_counter() - started)
            assert not report.changed, report
        return timings
    finally:
        with suppress(AmpdbError):
            preview.drop(server_dsn, branch, force=True)


def verdict(value: float, target: float) -> str:
    return "OK" if value <= target else "OVER"


def main(argv: list[str] | None = None) -> int:
    """Run both measurements and print them against their targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", help="maintenance URL of an existing server")
    parser.add_argument("--durable", action="store_true", help="local cluster with fsync on")
    parser.add_argument("--ensure-rounds", type=int, default=20)
    parser.add_argument("--create-rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with server(args.server, durable=args.durable) as dsn:
        ensures = time_ensure(dsn, args.ensure_rounds)
        creates = time_create(dsn, args.create_rounds)
    ensure_median, create_median = statistics.median(ensures), statistics.median(creates)
    print(
        f"ensure up-to-date preview: median {ensure_median * 1000:.1f} ms, "
        f"best {min(ensures) * 1000:.1f} ms over {len(ensures)} rounds "
        f"(target <= {ENSURE_TARGET * 1000:.0f} ms) {verdict(ensure_median, ENSURE_TARGET)}"
    )
    print(
        f"create preview from nothing (12 tables + seeds): median {create_median:.3f} s, "
        f"best {min(creates):.3f} s over {len(creates)} rounds "
        f"(target <= {CREATE_TARGET:.1f} s) {verdict(create_median, CREATE_TARGET)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
