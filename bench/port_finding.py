"""Port finding for local clusters: the harness's own helper against ``port-for``, side by side.

A local cluster needs one free TCP port on 127.0.0.1 per start. Two ways are measured in the
same run:

  ours       bind a socket to port 0 and read the port the kernel gave (``local._free_port``)
  port-for   ``port_for.select_random()``: a random unassigned port outside the ephemeral range,
             checked free by a connect and a bind

Printed per way: the median time to find one port, the import cost in a fresh interpreter
(``-X importtime``, cumulative, median over the runs), and the share of the ports found that lie
in the kernel's ephemeral range (``/proc/sys/net/ipv4/ip_local_port_range``), where an outgoing
connection may take the port between the pick and PostgreSQL's bind. The reference is what one
local cluster start costs the session in the same run (copy of the cached initdb, postgres
start, first connection).

Usage: python bench/port_finding.py [--ports N] [--runs N] [--no-cluster]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import port_for

from pytest_ampdb.harness.provisioning.local import LocalCluster, _free_port

LINE = re.compile(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)")


def per_port(find: Callable[[], int], count: int) -> tuple[float, list[int]]:
    """Median microseconds per port, and the ports found."""
    times, ports = [], []
    for _ in range(count):
        started = time.perf_counter()
        ports.append(find())
        times.append((time.perf_counter() - started) * 1e6)
    return statistics.median(times), ports


def import_ms(module: str, runs: int) -> float:
    """Median cumulative import time of ``module`` in a fresh interpreter, in milliseconds."""
    found = []
    for _ in range(runs):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            check=True,
            capture_output=True,
            text=True,
        )
        top = [
            int(us)
            for us, indent, name in LINE.findall(result.stderr)
            if len(indent) == 1 and name == module
        ]
        found.append(top[-1] / 1000 if top else 0.0)
    return statistics.median(found)


def ephemeral_range() -> tuple[int, int]:
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return int(low), int(high)


def cluster_start_ms() -> float:
    """One local cluster start, as a session pays it (the initdb cache already built)."""
    LocalCluster.start(major=15).stop()  # builds the initdb cache if missing: not counted
    started = time.perf_counter()
    cluster = LocalCluster.start(major=15)
    seconds = time.perf_counter() - started
    cluster.stop()
    return seconds * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ports", type=int, default=500, help="ports found per way")
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per import")
    parser.add_argument("--no-cluster", action="store_true", help="skip the cluster reference")
    args = parser.parse_args()

    low, high = ephemeral_range()
    ways = {
        "ours (bind port 0)": (_free_port, "socket"),
        f"port-for {port_for.__version__}": (port_for.select_random, "port_for"),
    }
    print(f"{'way':<22} {'per port':>10} {'import':>10} {'in ephemeral range':>20}")
    for name, (find, module) in ways.items():
        micro, ports = per_port(find, args.ports)
        inside = sum(low <= p <= high for p in ports) / len(ports)
        print(
            f"{name:<22} {micro:>7.1f} us {import_ms(module, args.runs):>7.2f} ms {inside:>19.0%}"
        )
    print(f"(ephemeral range {low}-{high}; {args.ports} ports per way, {args.runs} imports)")
    if not args.no_cluster:
        print(f"reference: one local cluster start {cluster_start_ms():.0f} ms")


if __name__ == "__main__":
    main()
