"""Fixtures of the migration tests (helpers live in ``_support``); the tests that read Atlas's
own source tree are left out, and the run says so, where no copy of it is at hand."""

from __future__ import annotations

import pytest

from ._atlas_source import ATLAS_COMMIT, named_or_found
from ._support import make_dir, other_database

__all__ = ["make_dir", "other_database"]

_LEFT_OUT = pytest.StashKey[int]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if named_or_found():
        return
    needing = [item for item in items if item.get_closest_marker("atlas_source")]
    if needing:
        config.hook.pytest_deselected(items=needing)
        items[:] = [item for item in items if not item.get_closest_marker("atlas_source")]
    config.stash[_LEFT_OUT] = len(needing)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    left_out = terminalreporter.config.stash.get(_LEFT_OUT, 0)
    if left_out:
        terminalreporter.write_line(
            f"{left_out} tests that read Atlas's own source tree were deselected: set "
            f"AMPDB_ATLAS_SOURCE to a clone of github.com/ariga/atlas holding {ATLAS_COMMIT[:12]}"
        )
