"""Waiting for a local cluster to accept connections: the harness's way against PostgreSQL's.

Each round copies the cached initdb data directory (not timed), then times from launching the
server to the moment a client may connect, three ways, in the same run:

  ours         ``postgres`` started directly; ``wait_until`` probes the socket file and a psycopg
               connection every 10 ms (``LocalCluster._wait_ready``)
  pg_isready   ``postgres`` started directly; ``wait_until`` runs ``pg_isready`` every 10 ms
  pg_ctl -w    ``pg_ctl start -w``: PostgreSQL's own wait (it polls ``postmaster.pid``)

Printed: the median and the slowest milliseconds to ready per way, over the rounds.

Usage: python bench/cluster_readiness.py [--rounds N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pytest_ampdb.harness.provisioning import local
from pytest_ampdb.harness.provisioning.binaries import PgBinaries, find_binaries
from pytest_ampdb.waiting import wait_until

Started = tuple[Path, Path, int]
"""A copied data directory, its socket directory and its port."""


def prepared(binaries: PgBinaries, run_as: local._RunAs, base: Path) -> Started:
    """A fresh copy of the initdb cache, owned by the server's user, and a port to listen on."""
    cache = local.ensure_initdb_cache(binaries)
    root = Path(tempfile.mkdtemp(dir=base))
    data, host = root / "data", root / "sock"
    shutil.copytree(cache.data_dir, data, symlinks=True)
    host.mkdir()
    run_as.chown(root)
    run_as.chown(host)
    run_as.chown_tree(data)
    return data, host, local._free_port()


def server_options(host: Path, port: int) -> list[str]:
    options = ["-k", str(host), "-p", str(port)]
    for name, value in local.DEFAULT_SETTINGS.items():
        options += ["-c", f"{name}={value}"]
    return options


def run(args: list[str], run_as: local._RunAs, cwd: Path) -> subprocess.Popen[bytes]:
    return local._popen(args, run_as, cwd=cwd, log=subprocess.DEVNULL, new_session=True)


def direct(
    probe: Callable[[Path, int], bool],
) -> Callable[[PgBinaries, local._RunAs, Started], None]:
    """Start ``postgres`` directly and poll ``probe`` every 10 ms until it says ready."""

    def start(binaries: PgBinaries, run_as: local._RunAs, at: Started) -> None:
        data, host, port = at
        run([str(binaries.postgres), "-D", str(data), *server_options(host, port)], run_as, data)
        if wait_until(lambda: True if probe(host, port) else None, timeout=30) is None:
            raise RuntimeError("postgres did not become ready")

    return start


def by_connection(host: Path, port: int) -> bool:
    dsn = f"postgresql://postgres@/postgres?host={host}&port={port}"
    return (host / f".s.PGSQL.{port}").exists() and local._can_connect(dsn)


def by_pg_isready(bindir: Path) -> Callable[[Path, int], bool]:
    def probe(host: Path, port: int) -> bool:
        args = [str(bindir / "pg_isready"), "-q", "-h", str(host), "-p", str(port)]
        return subprocess.run(args, check=False).returncode == 0

    return probe


def by_pg_ctl(binaries: PgBinaries, run_as: local._RunAs, at: Started) -> None:
    data, host, port = at
    options = " ".join(f"'{o}'" for o in server_options(host, port))
    args = [str(binaries.path("pg_ctl")), "start", "-w", "-t", "30", "-D", str(data)]
    if run([*args, "-o", options], run_as, data).wait() != 0:
        raise RuntimeError("pg_ctl start failed")


def stop(binaries: PgBinaries, run_as: local._RunAs, at: Started) -> None:
    data = at[0]
    run(
        [str(binaries.path("pg_ctl")), "stop", "-m", "immediate", "-w", "-D", str(data)],
        run_as,
        data,
    ).wait()
    shutil.rmtree(data.parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=9, help="starts per way")
    args = parser.parse_args()
    binaries, run_as = find_binaries(15), local._run_as()
    ways = {
        "ours (connect, 10 ms)": direct(by_connection),
        "pg_isready (10 ms)": direct(by_pg_isready(binaries.bindir)),
        "pg_ctl start -w": by_pg_ctl,
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    base = Path(tempfile.mkdtemp(prefix="ampdb-bench-ready-"))
    run_as.chown(base)
    try:
        for _ in range(args.rounds):  # interleaved: a busy moment of the machine hits every way
            for name, start in ways.items():
                at = prepared(binaries, run_as, base)
                began = time.perf_counter()
                try:
                    start(binaries, run_as, at)
                    times[name].append((time.perf_counter() - began) * 1000)
                finally:
                    stop(binaries, run_as, at)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"{'way':<24} {'median':>9} {'slowest':>9}   (PostgreSQL {binaries.version})")
    for name, found in times.items():
        print(f"{name:<24} {statistics.median(found):>6.0f} ms {max(found):>6.0f} ms")
    print(f"({args.rounds} starts per way, interleaved)")


if __name__ == "__main__":
    main()
