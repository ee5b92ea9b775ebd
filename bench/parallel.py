"""Does pytest-xdist speed up a ``database``-isolation suite here? ``-n 2`` against ``-n 0``.

Runs, each in a fresh pytest process and timed from launch to exit (what a user waits for):

  examples      the downstream suite in ``examples/`` (9 tests), copied to a scratch directory
  300 tests     the isolation benchmark's body (3 inserts + 4 reads through the repositories)

each with ``--ampdb-isolation=database`` under ``-n 0`` and ``-n 2``, and in memory mode under
both (what xdist itself costs: starting workers, shipping reports). Every postgres run uses
``--ampdb-reuse`` with one kept local cluster and template, so server start and template build
are paid once, before timing, and not by either side. Alongside the wall time it prints the
cores kept busy (CPU seconds of the whole machine over wall seconds, from ``/proc/stat``):
``-n 0`` already runs a background cloner and dropper, so it can use both cores of this
machine before xdist adds a second test process.

Usage: python bench/parallel.py [--repeat R] [--tests N]
The kept cluster is stopped and every temporary directory removed before it exits.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from isolation import BENCH_DIR, TEST_FILES, discard_kept_cluster, run_env

EXAMPLES = BENCH_DIR.parent / "examples"
COMMON = ["-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:pytest_postgresql"]
POSTGRES = ["--ampdb=postgres", "--ampdb-postgres=local", "--ampdb-reuse"]


@dataclass(frozen=True)
class Timing:
    wall: float
    """Launch to exit, seconds."""
    busy: float
    """CPU seconds of the whole machine over wall seconds: how many cores were kept busy."""


def _cpu_busy() -> float:
    """Busy CPU seconds of the whole machine so far (everything but idle and iowait)."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


class Suite:
    """A scratch project (its own rootdir, so its own kept cluster) and runs of pytest in it."""

    def __init__(self, root: Path, args: list[str], env: dict[str, str]) -> None:
        self.root = root
        self.args = args
        self.env = env

    def run(self, extra: list[str]) -> Timing:
        cmd = [sys.executable, "-m", "pytest", *COMMON, *extra, *self.args]
        busy, launched = _cpu_busy(), time.perf_counter()
        proc = subprocess.run(
            cmd, cwd=self.root, env=self.env, capture_output=True, text=True, check=False
        )
        wall = time.perf_counter() - launched
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
            raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{tail}")
        return Timing(wall, (_cpu_busy() - busy) / wall)

    def discard_kept_cluster(self) -> None:
        discard_kept_cluster(self.root)


def make_suites(workdir: Path, tests: int) -> dict[str, Suite]:
    env = run_env()
    examples = workdir / "examples"
    shutil.copytree(EXAMPLES, examples, ignore=shutil.ignore_patterns("__pycache__"))
    (examples / "pytest.ini").write_text("[pytest]\n")
    body = workdir / "body"
    body.mkdir()
    (body / "pytest.ini").write_text("[pytest]\n")
    (body / "test_body.py").write_text(textwrap.dedent(TEST_FILES["body"]).format(n=tests))
    body_env = {**env, "PYTHONPATH": str(BENCH_DIR)}
    return {
        "examples (9 tests)": Suite(examples, ["tests"], env),
        f"{tests} tests": Suite(body, ["-p", "isolation_support.ampdb_side", "."], body_env),
    }


VARIANTS = {
    "memory -n 0": ["-n", "0"],
    "memory -n 2": ["-n", "2"],
    "database -n 0": [*POSTGRES, "--ampdb-isolation=database", "-n", "0"],
    "database -n 2": [*POSTGRES, "--ampdb-isolation=database", "-n", "2"],
}


def measure(suite: Suite, repeat: int) -> dict[str, list[Timing]]:
    """Round-robin over the variants, so a burst of other work hits each alike."""
    suite.run(VARIANTS["database -n 0"])  # starts the kept cluster, builds the template
    runs: dict[str, list[Timing]] = {name: [] for name in VARIANTS}
    for _ in range(repeat):
        for name, extra in VARIANTS.items():
            runs[name].append(suite.run(extra))
    return runs


def report(name: str, runs: dict[str, list[Timing]]) -> bool:
    """Print one suite's table; True if ``-n 2`` beat ``-n 0`` in database mode."""
    print(f"{name:<22}{'median s':>10}{'best s':>9}{'cores busy':>12}")
    medians = {}
    for variant, timings in runs.items():
        walls = [t.wall for t in timings]
        medians[variant] = statistics.median(walls)
        busy = statistics.median(t.busy for t in timings)
        print(f"  {variant:<20}{medians[variant]:>10.3f}{min(walls):>9.3f}{busy:>12.2f}")
    xdist_cost = medians["memory -n 2"] - medians["memory -n 0"]
    faster = medians["database -n 2"] < medians["database -n 0"]
    verdict = "yes" if faster else "NO"
    print(
        f"  -n 2 faster than -n 0 in database mode: {verdict} "
        f"({medians['database -n 2']:.3f} s against {medians['database -n 0']:.3f} s); "
        f"xdist's own cost here (memory mode): {xdist_cost:+.3f} s"
    )
    print()
    return faster


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant (median kept)")
    parser.add_argument("--tests", type=int, default=300)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="ampdb-bench-xdist-"))
    results: dict[str, dict[str, list[Timing]]] = {}
    try:
        suites = make_suites(workdir, args.tests)
        for name, suite in suites.items():
            try:
                results[name] = measure(suite, args.repeat)
            finally:
                suite.discard_kept_cluster()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"pytest-ampdb under pytest-xdist: wall time launch to exit, median of {args.repeat} runs; "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, 1-min load average {load:.2f} "
        f"before, {os.getloadavg()[0]:.2f} after"
    )
    print()
    for name, runs in results.items():
        report(name, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
