"""Benchmark: ``ampdb migrate diff`` on the packaged schema (nothing differs, nothing written).

Targets on the reference machine (2 cores): under 3 s with a cold throwaway local cluster (the
default without ``--dev-url``: initdb, start, replay, build the declared schema, compare, stop),
under 1 s with ``--dev-url``. Printed beside ``migrate validate --dev-url`` (the replay alone) on
the same server, the reference for what the comparison adds.

    python bench/migrate_diff.py                # dev URL rounds on a throwaway local cluster
    python bench/migrate_diff.py --url URL      # dev URL rounds on an existing server
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from migrate_apply import scratch_database, server  # bench/ is on sys.path when run

from pytest_ampdb.migrations import default_migrations_dir
from pytest_ampdb.migrations.devdb import replay
from pytest_ampdb.migrations.schemadiff import migrate_diff
from pytest_ampdb.models.tables import TABLES

COLD_TARGET = 3.0
DEV_URL_TARGET = 1.0


def timed(action: Callable[[], object], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return times


def line(label: str, times: list[float], target: float | None) -> str:
    best = min(times)
    verdict = (
        ""
        if target is None
        else f" (target < {target:.0f} s) " + ("OK" if best < target else "SLOW")
    )
    return (
        f"{label}: best {best:.3f} s, median {statistics.median(times):.3f} s "
        f"over {len(times)} rounds{verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the timings against their targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="admin URL of an existing server (default: local cluster)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "migrations"
        shutil.copytree(default_migrations_dir(), directory)

        def diff(dev_url: str | None) -> None:
            result = migrate_diff(directory, "bench", TABLES, dev_url=dev_url)
            assert result.path is None, "the packaged schema must be synced"

        cold = timed(lambda: diff(None), args.rounds)
        with server(args.url) as admin_url, scratch_database(admin_url) as dev_url:
            warm = timed(lambda: diff(dev_url), args.rounds * 3)
            reference = timed(lambda: replay(dev_url, directory), args.rounds * 3)
    print(line("migrate diff, cold local cluster", cold, COLD_TARGET))
    print(line("migrate diff --dev-url", warm, DEV_URL_TARGET))
    print(line("reference: migrate validate --dev-url (replay only)", reference, None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
