"""What a production service pays to import the data layer, beyond psycopg's own import.

Each run is a fresh interpreter under ``python -X importtime`` executing what a service does:

  import psycopg, psycopg_pool              the reference: the driver and its pool
  import pytest_ampdb.database              the facade production code calls
  from pytest_ampdb import postgres         the PostgreSQL repositories over a (closed) pool

The figures are the medians, over the runs, of the cumulative import times ``-X importtime``
reports for the top-level imports of each group (modules the reference already loaded are not
counted again). The target is at most 30 ms beyond psycopg and psycopg_pool. The run also lists
the heaviest pytest_ampdb modules and any test-harness module the import loaded (expected: none).

Usage: python bench/import_time.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from collections import defaultdict

TARGET_MS = 30.0
SERVICE = (
    "import psycopg, psycopg_pool\n"
    "import pytest_ampdb.database\n"
    "from pytest_ampdb import postgres\n"
    "postgres.repositories(postgres.connect('postgresql://localhost/app', open=False))\n"
    "import sys\n"
    "print(' '.join(sorted(sys.modules)))\n"
)
HARNESS = ("pytest", "_pytest", "testcontainers", "docker", "factory", "faker", "filelock")
HARNESS_PACKAGES = ("pytest_ampdb.harness", "pytest_ampdb.preview")
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
"""Bytecode cached as an installed package has it (pip compiles on install): the first run
writes it, the rest of the runs read it, as psycopg's is read."""
LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def one_run() -> tuple[dict[str, float], dict[str, float], list[str]]:
    """Milliseconds per group (top-level imports only), self time per module, harness modules."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", SERVICE],
        check=True,
        capture_output=True,
        text=True,
        env=ENV,
    )
    groups: dict[str, float] = defaultdict(float)
    own: dict[str, float] = {}
    for match in LINE.finditer(result.stderr):
        self_us, cumulative_us, indent, name = match.groups()
        if name.startswith("pytest_ampdb"):
            own[name] = int(self_us) / 1000
        if len(indent) == 1:  # a top-level import of the script
            group = "pytest_ampdb" if name.startswith("pytest_ampdb") else "reference"
            groups[group] += int(cumulative_us) / 1000
    loaded = result.stdout.split()
    harness = [m for m in loaded if m.split(".")[0] in HARNESS or m.startswith(HARNESS_PACKAGES)]
    return groups, own, harness


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    runs = parser.parse_args().runs
    reference, ours = [], []
    own: dict[str, list[float]] = defaultdict(list)
    harness: set[str] = set()
    one_run()  # writes the bytecode cache
    for _ in range(runs):
        groups, modules, loaded = one_run()
        reference.append(groups["reference"])
        ours.append(groups["pytest_ampdb"])
        for name, ms in modules.items():
            own[name].append(ms)
        harness.update(loaded)
    ref_ms, ours_ms = statistics.median(reference), statistics.median(ours)
    print(f"import time, median of {runs} fresh interpreters (python -X importtime)")
    print(f"  {'psycopg + psycopg_pool (reference)':<44} {ref_ms:8.1f} ms")
    print(f"  {'pytest_ampdb.database + postgres, beyond it':<44} {ours_ms:8.1f} ms")
    verdict = "met" if ours_ms <= TARGET_MS else "NOT met"
    print(f"  {'target':<44} {TARGET_MS:8.1f} ms  ({verdict})")
    print("heaviest pytest_ampdb modules (self time, median):")
    heaviest = sorted(own.items(), key=lambda kv: -statistics.median(kv[1]))[:8]
    for name, values in heaviest:
        print(f"  {name:<44} {statistics.median(values):8.2f} ms")
    print("test-harness modules loaded:", ", ".join(sorted(harness)) or "none")


if __name__ == "__main__":
    main()
