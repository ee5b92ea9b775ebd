"""Per-test cost of pytest-ampdb's PostgreSQL isolation modes against pytest-postgresql.

Every variant runs the same generated test file (N tests, default 300) in a fresh pytest
process, with the same schema, seeds and test body (``isolation_support/body.py``: create an
integration, a connection and a destination in the seeded project, read them back by id and
list) through the same repository calls; only the plugin giving each test its ``repos`` differs:

  no database          N trivial tests, both plugins disabled: pytest's own cost per test
  open connection      the body against one already-open connection, no per-test isolation:
                       the body's own database cost
  ampdb <mode>         ``--ampdb=postgres --ampdb-postgres=local --ampdb-isolation=<mode>``
  ampdb database,      as ``database``, each test first sleeping (default 30 ms, not counted),
    pool keeps up      so the background cloner and dropper finish before the body runs; compared
                       with the open connection running the same sleeping tests (a process
                       that just slept runs its queries slower: wake-up latency, cold caches);
                       only medians are read from these two, over N/3 tests
  pytest-postgresql    its ``postgresql_proc`` (template loaded with the same migrations and
                       seeds) and ``postgresql`` (a database cloned per test), ampdb disabled

Session start is measured from process launch to the end of the first test's setup (a server
or template started lazily by that setup is start-up, not test time): cold (a throwaway local
cluster, initdb cache present), cold with an empty initdb cache (first run on a machine), and
warm (``--ampdb-reuse``, second run, kept cluster and template).

The runs write bytecode caches (``PYTHONDONTWRITEBYTECODE`` is dropped from their environment),
as a normal setup does; otherwise every start re-runs pytest's assertion rewriting of every
plugin module. Run as root, pytest-postgresql's ``pg_ctl`` is given as a wrapper that runs it as the
``postgres`` user (initdb and postgres refuse root). Nothing outlives the bench: the kept
cluster is stopped and every temporary directory removed.

Usage: python bench/isolation.py [--tests N] [--repeat R] [--slow-repeat R] [--sleep-ms S]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from isolation_support.targets import print_targets

from pytest_ampdb.harness.provisioning.binaries import find_binaries
from pytest_ampdb.harness.provisioning.local import discard_kept

BENCH_DIR = Path(__file__).resolve().parent
MODES = ("transaction", "database", "truncate")

TEST_FILES = {
    "trivial": """
        import pytest

        @pytest.mark.parametrize("i", range({n}))
        def test_body(i):
            assert i >= 0
        """,
    "body": """
        import pytest
        from isolation_support.body import exercise

        @pytest.mark.parametrize("i", range({n}))
        def test_body(i, repos, project_id):
            exercise(repos, project_id)
        """,
    "sleep": """
        import time
        import pytest
        from isolation_support.body import exercise

        @pytest.mark.parametrize("i", range({n}))
        def test_body(i, repos, project_id, record_property):
            started = time.perf_counter()
            time.sleep({sleep})
            record_property("slept", time.perf_counter() - started)
            exercise(repos, project_id)
        """,
}
SENTINEL = '''

        def test_zz_end():
            """Its start marks the end of the measured tests."""
        '''

PG_CTL_WRAPPER = """#!/bin/sh
# pg_ctl refuses to run as root: run it as the postgres user, from a directory it can read,
# after handing it pytest's temporary directory (where pytest-postgresql puts data and log).
if [ "$1" = initdb ] || [ "$1" = start ]; then
    chmod 0711 "$BENCH_PG_BASETEMP"
    chown -R postgres: "$BENCH_PG_BASETEMP"
fi
cd /
exec setpriv --reuid=postgres --regid=postgres --init-groups {pg_ctl} "$@"
"""

LEGEND = (
    "wall       (start of the closing test - end of the first test's setup) / N",
    "overhead   wall - baseline wall: the isolation plus the body's database work",
    "isolation  wall - open-connection wall: the isolation alone (plugin included)",
    "median     median of each test's setup + call + teardown",
    "med.iso    median - the open connection's median (with the same sleep, for * rows):",
    "           the isolation's share of a test",
    "fixture    median of setup + teardown only: the isolation work on the test's path",
    "*          each test sleeps first (not counted) so the pool keeps up; wall figures n/a",
)

COMMON = ["-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "isolation_support.timer"]
NO_AMPDB = ["-p", "no:ampdb"]
NO_PGPG = ["-p", "no:pytest_postgresql"]


def run_env() -> dict[str, str]:
    """The environment the measured pytest processes get: none of the caller's ``PG*``,
    ``AMPDB_*`` or ``PYTEST_*`` settings, and bytecode caching on, as in a normal setup (with
    ``PYTHONDONTWRITEBYTECODE`` pytest re-runs its assertion rewriting of every plugin module at
    every start, ~0.3 s here)."""
    skip = ("PG", "AMPDB_", "PYTEST_", "PYTHONDONTWRITEBYTECODE")
    return {k: v for k, v in os.environ.items() if not k.startswith(skip)}


def discard_kept_cluster(project: Path) -> None:
    """Stop and remove the cluster ``--ampdb-reuse`` keeps for the project rooted at ``project``."""
    discard_kept(project)


@dataclass(frozen=True)
class Result:
    """One pytest process: per-test figures in ms, session start in s."""

    per_test: float
    """(start of the closing test - end of the first test's setup) / N."""
    median: float
    """Median of each test's setup + call + teardown."""
    median_fixture: float
    """Median of each test's setup + teardown: the isolation work on the test's own path."""
    start: float
    """Process launch to the end of the first test's setup."""


def best(results: Sequence[Result]) -> Result:
    """Each figure's best (lowest) value over the repeats."""
    return Result(
        per_test=min(r.per_test for r in results),
        median=min(r.median for r in results),
        median_fixture=min(r.median_fixture for r in results),
        start=min(r.start for r in results),
    )


class Bench:
    """A scratch directory with the test files, and the runs made in it."""

    def __init__(self, workdir: Path, tests: int, sleep_ms: float) -> None:
        self.workdir = workdir
        # Only medians are read from the sleeping tests: a third of them is plenty (and saves
        # a minute of sleeping).
        self.counts = {
            kind: max(tests // 3, 1) if kind == "sleep" else tests for kind in TEST_FILES
        }
        self.pgtmp = workdir / "pgtmp"
        (workdir / "pytest.ini").write_text("[pytest]\n")  # the scratch dir is the rootdir
        for kind, text in TEST_FILES.items():
            n = self.counts[kind]
            body = textwrap.dedent(text + SENTINEL).format(n=n, sleep=sleep_ms / 1000.0)
            (workdir / f"test_{kind}.py").write_text(body)
        self.pg_ctl = str(find_binaries(15).bindir / "pg_ctl")
        if os.geteuid() == 0:
            wrapper = workdir / "pg_ctl_as_postgres"
            wrapper.write_text(PG_CTL_WRAPPER.format(pg_ctl=self.pg_ctl))
            wrapper.chmod(0o755)
            workdir.chmod(0o711)  # the postgres user must reach pytest's basetemp below it
            self.pg_ctl = str(wrapper)
        self.env = run_env()
        self.env["PYTHONPATH"] = str(BENCH_DIR)
        self.env["BENCH_PG_BASETEMP"] = str(self.pgtmp)

    def run(self, kind: str, args: list[str], env: dict[str, str] | None = None) -> Result:
        """One pytest process over ``test_<kind>.py``; fails loudly if any test failed."""
        out = self.workdir / "timer.json"
        out.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "pytest", *COMMON, *args, f"test_{kind}.py"]
        run_env = {**self.env, "BENCH_OUT": str(out), **(env or {})}
        launched = time.time()
        proc = subprocess.run(
            cmd, cwd=self.workdir, env=run_env, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0 or not out.exists():
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
            raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{tail}")
        data = json.loads(out.read_text())
        tests = self.counts[kind]
        if data["failed"] or data["tests"] != tests or data["end"] is None:
            raise RuntimeError(f"{' '.join(cmd)}: {data['tests']} tests; {data['failed'][:1]}")
        phases = zip(data["setup"], data["call"], data["teardown"], strict=True)
        totals = [s + c + t for s, c, t in phases]
        fixtures = [s + t for s, t in zip(data["setup"], data["teardown"], strict=True)]
        return Result(
            per_test=(data["end"] - data["first_ready"]) / tests * 1000.0,
            median=statistics.median(totals) * 1000.0,
            median_fixture=statistics.median(fixtures) * 1000.0,
            start=data["first_ready"] - launched,
        )

    def ampdb(self, kind: str, mode: str, *extra: str, env: dict[str, str] | None = None) -> Result:
        args = ["-p", "isolation_support.ampdb_side", *NO_PGPG, "--ampdb=postgres"]
        args += ["--ampdb-postgres=local", f"--ampdb-isolation={mode}", *extra]
        return self.run(kind, args, env)

    def pytest_postgresql(self) -> Result:
        args = ["-p", "isolation_support.pgpg_side", *NO_AMPDB, f"--basetemp={self.pgtmp}"]
        try:
            return self.run("body", [*args, f"--postgresql-exec={self.pg_ctl}"])
        finally:
            shutil.rmtree(self.pgtmp, ignore_errors=True)

    def discard_kept_cluster(self) -> None:
        discard_kept_cluster(self.workdir)


def measure(bench: Bench, repeat: int, slow_repeat: int) -> dict[str, Result]:
    """Every variant; the fast ones round-robin ``repeat`` times (warm starts among them, so a
    burst of other work on the machine hits every variant alike), pytest-postgresql
    ``slow_repeat`` times; the best of each figure is kept."""
    cache = bench.workdir / "empty-cache"
    runs: dict[str, list[Result]] = {
        "cold-empty-cache": [bench.ampdb("body", "transaction", env={"XDG_CACHE_HOME": str(cache)})]
    }
    shutil.rmtree(cache, ignore_errors=True)
    open_args = ["-p", "isolation_support.open_side", *NO_AMPDB, *NO_PGPG]
    variants: dict[str, Callable[[], Result]] = {
        "baseline": partial(bench.run, "trivial", [*NO_AMPDB, *NO_PGPG]),
        "open": partial(bench.run, "body", open_args),
        **{mode: partial(bench.ampdb, "body", mode) for mode in MODES},
        "database-keepup": partial(bench.ampdb, "sleep", "database"),
        "open-sleep": partial(bench.run, "sleep", open_args),
        "warm": partial(bench.ampdb, "body", "transaction", "--ampdb-reuse"),
    }
    try:
        runs["reuse-first"] = [bench.ampdb("body", "transaction", "--ampdb-reuse")]
        runs.update({name: [] for name in variants})
        for _ in range(repeat):
            for name, variant in variants.items():
                runs[name].append(variant())
    finally:
        bench.discard_kept_cluster()
    runs["pytest-postgresql"] = [bench.pytest_postgresql() for _ in range(slow_repeat)]
    return {name: best(results) for name, results in runs.items()}


def report(
    r: dict[str, Result],
    *,
    tests: int,
    repeat: int,
    slow: int,
    sleep_ms: float,
    load: tuple[float, float],
) -> None:
    base, body = r["baseline"], r["open"]
    pgpg = r["pytest-postgresql"]
    print(
        f"pytest-ampdb isolation benchmark: {tests} tests per run ({max(tests // 3, 1)} for * "
        f"rows), each 3 inserts + 4 reads through the repositories; best of {repeat} runs "
        f"(pytest-postgresql: {slow})"
    )
    print(
        f"PostgreSQL 15 (local binaries), {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"1-min load average {load[0]:.2f} before, {load[1]:.2f} after (other work skews figures)"
    )
    print()
    header = (
        f"{'per test (ms)':<34}{'wall':>8}{'overhead':>10}{'isolation':>11}"
        f"{'median':>9}{'med.iso':>9}{'fixture':>9}"
    )
    print(header)
    rows = [
        ("no database (baseline)", "baseline"),
        ("body on one open connection", "open"),
        ("ampdb transaction", "transaction"),
        ("ampdb database", "database"),
        (f"open connection, sleep {sleep_ms:g} ms*", "open-sleep"),
        (f"ampdb database, sleep {sleep_ms:g} ms*", "database-keepup"),
        ("ampdb truncate", "truncate"),
        ("pytest-postgresql postgresql", "pytest-postgresql"),
    ]
    for label, key in rows:
        x = r[key]
        slept = key.endswith(("sleep", "keepup"))
        ref = r["open-sleep"] if slept else body
        plain = key not in ("baseline", "open", "open-sleep")
        wall = "-" if slept else f"{x.per_test:.3f}"
        overhead = "-" if slept or key == "baseline" else f"{x.per_test - base.per_test:.3f}"
        isolation = f"{x.per_test - body.per_test:.3f}" if plain and not slept else "-"
        med_iso = f"{x.median - ref.median:.3f}" if plain else "-"
        print(
            f"  {label:<32}{wall:>8}{overhead:>10}{isolation:>11}"
            f"{x.median:>9.3f}{med_iso:>9}{x.median_fixture:>9.3f}"
        )
    for line in LEGEND:
        print(f"  {line}")
    print()
    print(f"{'session start (s), launch to first test ready':<52}{'total':>8}{'ampdb':>8}")
    starts = [
        ("no database (python, pytest, collection)", "baseline"),
        ("ampdb cold, empty initdb cache (first run)", "cold-empty-cache"),
        ("ampdb cold (throwaway cluster)", "transaction"),
        ("ampdb --ampdb-reuse, first run (keeps cluster)", "reuse-first"),
        ("ampdb warm (--ampdb-reuse, kept cluster)", "warm"),
        ("pytest-postgresql (initdb, start, template)", "pytest-postgresql"),
    ]
    for label, key in starts:
        share = "-" if key == "baseline" else f"{r[key].start - base.start:.3f}"
        print(f"  {label:<50}{r[key].start:>8.3f}{share:>8}")
    print()

    tx_iso = r["transaction"].per_test - body.per_test
    pgpg_iso = pgpg.per_test - body.per_test
    ratio = pgpg_iso / tx_iso if tx_iso > 0 else float("inf")
    whole = pgpg.per_test / r["transaction"].per_test
    db_iso = r["database"].median - body.median
    keep_iso = r["database-keepup"].median - r["open-sleep"].median
    cold, warm = r["transaction"].start, r["warm"].start
    targets = [
        (f"transaction isolation <= 1 ms/test: {tx_iso:.3f} ms", tx_iso <= 1.0),
        (
            f"transaction >= 100x faster per test than pytest-postgresql: {ratio:.0f}x "
            f"(isolation only; whole test incl. body and pytest: {whole:.1f}x)",
            ratio >= 100,
        ),
        (f"database median <= 15 ms/test (isolation share): {db_iso:.3f} ms", db_iso <= 15),
        (
            f"database median when the pool keeps up <= 1 ms (isolation share): "
            f"{keep_iso:.3f} ms (setup+teardown {r['database-keepup'].median_fixture:.3f} ms)",
            keep_iso <= 1.0,
        ),
        (
            f"warm session start <= 0.5 s: {warm:.3f} s ({warm - base.start:.3f} s of it ampdb)",
            warm <= 0.5,
        ),
        (
            f"cold session start <= 3 s: {cold:.3f} s ({cold - base.start:.3f} s of it ampdb)",
            cold <= 3.0,
        ),
    ]
    print_targets(targets)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tests", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3, help="runs per fast variant (best kept)")
    parser.add_argument("--slow-repeat", type=int, default=1, help="pytest-postgresql runs")
    parser.add_argument("--sleep-ms", type=float, default=30.0, help="pool-keeps-up test sleep")
    args = parser.parse_args()
    if shutil.which("setpriv") is None and os.geteuid() == 0:
        parser.error("running as root needs setpriv (util-linux) to run pg_ctl as postgres")
    load_before = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="ampdb-bench-isolation-"))
    try:
        bench = Bench(workdir, args.tests, args.sleep_ms)
        results = measure(bench, args.repeat, args.slow_repeat)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    load = (load_before, os.getloadavg()[0])
    report(
        results,
        tests=args.tests,
        repeat=args.repeat,
        slow=args.slow_repeat,
        sleep_ms=args.sleep_ms,
        load=load,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
