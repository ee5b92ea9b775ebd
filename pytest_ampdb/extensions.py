"""What the test harness adds to data-layer commands, found through entry points.

The data layer never imports the harness. The distribution declares as entry points the pieces
of the harness a data-layer command can use: ``ampdb clean`` (group ``pytest_ampdb.commands``)
and a throwaway server for ``ampdb migrate lint`` without ``--dev-url`` (group
``pytest_ampdb.dev_servers``). A production install (no test tools) lists them but cannot load
them; ``load`` then says, in one line, which tool is missing.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pytest_ampdb.errors import AmpdbError

COMMANDS = "pytest_ampdb.commands"
DEV_SERVERS = "pytest_ampdb.dev_servers"


class NeedsTestToolsError(AmpdbError):
    """A harness piece was asked for in an install without pytest-ampdb's test tools."""


def found(group: str) -> list[EntryPoint]:
    """The entry points of ``group``, by name."""
    return sorted(entry_points(group=group), key=lambda point: point.name)


def load(point: EntryPoint, purpose: str) -> Any:
    """The object ``point`` names; ``NeedsTestToolsError`` when its imports are not installed."""
    try:
        return point.load()
    except ImportError as exc:
        missing = exc.name or "a test tool"
        raise NeedsTestToolsError(
            f"{purpose} needs pytest-ampdb's test tools ({missing} is not installed): "
            "install pytest-ampdb with its dependencies"
        ) from None
