"""Per-test overhead of pytest-ampdb in memory mode.

Runs the same trivial test N times (default 2,000) in three variants, each in a fresh pytest
process, and prints the time per test measured from the first test's setup to the end of the
session (collection and start-up excluded):

  disabled  the trivial test with the plugin disabled (-p no:ampdb): pytest's own cost
  plain     the trivial test, no ampdb fixture (the plugin's autouse fixture still runs)
  ampdb     the trivial test taking ``ampdb`` (fixture setup, a store reset to the seeded
            state, teardown): the overhead target is at most 0.2 ms per test
  factory   as ``ampdb`` plus one ``connection_factory.create()`` (org, project, connection)

and ``ampdb`` and ``factory`` again with the ``--baseline`` commit's package (exported with
``git archive``, first on the path), interleaved with the rest, so a change to the store's
reset is measured against what it replaced in the same run.

Usage: python bench/memory_overhead.py [--tests N] [--repeat R] [--baseline REF]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from isolation_support.baseline import BASELINE, export

TIMER_PLUGIN = textwrap.dedent(
    """
    import json, os, time
    _start = []
    _fixtures = []

    def pytest_runtest_logstart(nodeid, location):
        if not _start:
            _start.append(time.perf_counter())

    def pytest_runtest_logreport(report):
        if report.when in ("setup", "teardown"):
            _fixtures.append(report.duration)

    def pytest_sessionfinish(session):
        with open(os.environ["BENCH_OUT"], "w") as out:
            seconds = time.perf_counter() - _start[0]
            tests = session.testscollected
            json.dump({"seconds": seconds, "fixtures": sum(_fixtures), "tests": tests}, out)
    """
)

VARIANTS = {
    "disabled": "def test_trivial(i):\n    assert i >= 0\n",
    "plain": "def test_trivial(i):\n    assert i >= 0\n",
    "ampdb": "def test_trivial(i, ampdb):\n    assert i >= 0\n",
    "factory": (
        "def test_trivial(i, ampdb, connection_factory):\n"
        "    assert connection_factory.create().id\n"
    ),
}


def run_variant(
    workdir: Path, name: str, tests: int, package: Path | None = None
) -> tuple[float, float]:
    """(ms per test for the whole run, ms per test spent in setup and teardown phases);
    ``package``: a directory holding another version of pytest_ampdb to run instead."""
    body = f"import pytest\n\n@pytest.mark.parametrize('i', range({tests}))\n" + VARIANTS[name]
    (workdir / f"test_{name}.py").write_text(body)
    out = workdir / f"{name}.json"
    path = str(workdir) if package is None else f"{package}{os.pathsep}{workdir}"
    env = {**os.environ, "BENCH_OUT": str(out), "PYTHONPATH": path}
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "bench_timer",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        f"test_{name}.py",
    ]
    if name == "disabled":
        cmd[3:3] = ["-p", "no:ampdb"]
    subprocess.run(cmd, cwd=workdir, env=env, check=True, stdout=subprocess.DEVNULL)
    result = json.loads(out.read_text())
    assert result["tests"] == tests, result
    return (
        float(result["seconds"]) / tests * 1000.0,
        float(result["fixtures"]) / tests * 1000.0,
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant; the best is kept")
    parser.add_argument("--baseline", default=BASELINE, help="commit to compare the reset with")
    args = parser.parse_args()
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in VARIANTS}
    then = ("ampdb", "factory")
    runs.update({f"{name}@": [] for name in then})
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as old:
        workdir = Path(tmp)
        package = export(args.baseline, Path(old))
        (workdir / "bench_timer.py").write_text(TIMER_PLUGIN)
        for _ in range(args.repeat):  # interleaved, so a burst of load hits every variant alike
            for name in VARIANTS:
                runs[name].append(run_variant(workdir, name, args.tests))
            for name in then:
                runs[f"{name}@"].append(run_variant(workdir, name, args.tests, package))
    best = {name: min(r[0] for r in results) for name, results in runs.items()}
    phases = {name: min(r[1] for r in results) for name, results in runs.items()}
    overhead = phases["ampdb"] - phases["disabled"]
    print(f"memory mode, {args.tests} tests per variant, best of {args.repeat} interleaved runs")
    print("                                   whole run   setup+teardown phases")
    for name, label in (
        ("disabled", "plugin disabled"),
        ("plain", "plain test, plugin active"),
        ("ampdb", "with ampdb fixture"),
        ("factory", "with ampdb + factory create()"),
        ("ampdb@", f"with ampdb fixture, {args.baseline}"),
        ("factory@", f"with ampdb + create(), {args.baseline}"),
    ):
        print(f"  {label:<32} {best[name]:6.3f} ms   {phases[name]:6.3f} ms")
    verdict = "OK" if overhead <= 0.2 else "OVER TARGET"
    print(
        "ampdb fixture overhead (setup, reset to seeds, teardown), from the phase times: "
        f"{overhead:.3f} ms/test (target <= 0.200) {verdict}"
    )
    print(
        "whole-run difference, ampdb vs plugin disabled: "
        f"{best['ampdb'] - best['disabled']:.3f} ms/test (noisier: includes the test bodies)"
    )
    print(
        f"the same at {args.baseline}: {phases['ampdb@'] - phases['disabled']:.3f} ms/test "
        f"(with one create(): {phases['factory@'] - phases['disabled']:.3f} ms/test)"
    )
    print(
        "cost to a test that does not use the database (phases): "
        f"{phases['plain'] - phases['disabled']:.3f} ms/test"
    )
    print(
        "setup and teardown with one factory create() (phases): "
        f"{phases['factory'] - phases['disabled']:.3f} ms/test; whole run "
        f"{best['factory'] - best['disabled']:.3f} ms/test"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
