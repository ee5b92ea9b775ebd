"""Timer plugin for the benchmark subprocesses (``-p isolation_support.timer``).

Records, in wall-clock seconds (``time.time``, comparable with the parent's launch time):
when the first measured test finished its setup (so a backend or server started lazily by that
setup counts as session start, not as a test), when the closing ``test_zz_end`` test started,
and every measured test's setup, call and teardown durations (the call without the time the
test reports as ``slept`` with ``record_property``, for tests that sleep on purpose). Writes
them as JSON to ``$BENCH_OUT`` at the end of the session.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

MEASURED = "::test_body["
SENTINEL = "test_zz_end"

_phases: dict[str, dict[str, float]] = {}
_marks: dict[str, float] = {}
_failed: list[str] = []


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    if nodeid.endswith(SENTINEL):
        _marks["end"] = time.time()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if MEASURED not in report.nodeid:
        return
    slept = 0.0
    if report.when == "call":
        slept = sum(v for k, v in report.user_properties if k == "slept" and isinstance(v, float))
    _phases.setdefault(report.nodeid, {})[report.when] = report.duration - slept
    if report.when == "setup" and "first_ready" not in _marks:
        _marks["first_ready"] = report.stop
    if report.failed:
        _failed.append(f"{report.nodeid} ({report.when}): {report.longreprtext[-2000:]}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    complete = [p for p in _phases.values() if len(p) == 3]
    result = {
        "tests": len(complete),
        "first_ready": _marks.get("first_ready"),
        "end": _marks.get("end"),
        "setup": [p["setup"] for p in complete],
        "call": [p["call"] for p in complete],
        "teardown": [p["teardown"] for p in complete],
        "failed": _failed,
    }
    with open(os.environ["BENCH_OUT"], "w", encoding="utf-8") as out:
        json.dump(result, out)
