"""Benchmark: apply 1,000 trivial migration files to an empty database over one connection.

Targets on the reference machine (2 cores): the apply in at most 1 s, and deciding "nothing
pending" on the migrated database in at most 50 ms. Each trivial file holds one small DDL
statement (``CREATE TABLE t_NNNN (id integer);``), so the number measures the engine's per-file
overhead (reading, hashing, splitting, round trips, revision rows) plus PostgreSQL's own DDL cost.

    python bench/migrate_apply.py               # a throwaway local PostgreSQL 15 cluster
    python bench/migrate_apply.py --url URL     # an existing server (a database is created there)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from pytest_ampdb.migrations import apply, write_sum

FILES = 1000
APPLY_TARGET = 1.0
NOOP_TARGET = 0.050


@contextmanager
def server(url: str | None) -> Iterator[str]:
    """The admin URL of the server to use: ``--url``, or a throwaway local cluster."""
    if url:
        yield url
        return
    from pytest_ampdb.harness.provisioning.local import LocalCluster

    cluster = LocalCluster.start()
    try:
        yield cluster.dsn("postgres")
    finally:
        cluster.stop()


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A new empty database on the server, dropped afterwards; yields its URL."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        info = psycopg.conninfo.conninfo_to_dict(admin_url)
        info["dbname"] = name
        yield psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def write_migrations(directory: Path, count: int) -> None:
    """``count`` one-statement files and their atlas.sum."""
    for i in range(1, count + 1):
        (directory / f"{i:04d}_t{i}.sql").write_text(f"CREATE TABLE t_{i:04d} (id integer);\n")
    write_sum(directory)


def run(admin_url: str, files: int, rounds: int) -> tuple[list[float], list[float]]:
    """Time ``rounds`` applies (each into a new database) and the no-op apply after each."""
    applies: list[float] = []
    noops: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        write_migrations(directory, files)
        for _ in range(rounds):
            with scratch_database(admin_url) as url, psycopg.connect(url) as conn:
                started = time.perf_counter()
                report = apply(conn, directory)
                applies.append(time.perf_counter() - started)
                assert len(report.applied) == files, report.message
                for _ in range(5):
                    started = time.perf_counter()
                    again = apply(conn, directory)
                    noops.append(time.perf_counter() - started)
                    assert not again.pending, again.message
    return applies, noops


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the timings against their targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="admin URL of an existing server (default: local cluster)")
    parser.add_argument("--files", type=int, default=FILES)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with server(args.url) as admin_url:
        applies, noops = run(admin_url, args.files, args.rounds)
    best_apply, best_noop = min(applies), min(noops)
    print(
        f"apply {args.files} files: best {best_apply:.3f} s, "
        f"median {statistics.median(applies):.3f} s over {len(applies)} rounds "
        f"(target <= {APPLY_TARGET:.1f} s) {'OK' if best_apply <= APPLY_TARGET else 'SLOW'}"
    )
    print(
        f"nothing pending on the migrated database: best {best_noop * 1000:.1f} ms, "
        f"median {statistics.median(noops) * 1000:.1f} ms "
        f"(target <= {NOOP_TARGET * 1000:.0f} ms) {'OK' if best_noop <= NOOP_TARGET else 'SLOW'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
