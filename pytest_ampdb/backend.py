"""What the pytest glue needs from a backend: a per-test database, isolated from every other.

A backend is started once per session (lazily, on the first test that touches the database) and
opens one ``TestDatabase`` per test; closing it undoes what the test wrote. ``memory`` and
``postgres`` implement this; the plugin never knows which one it drives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from pytest_ampdb.seeds import SeedSet
from pytest_ampdb.settings import Settings
from pytest_ampdb.types import Repositories


@dataclass(frozen=True, slots=True)
class TestOptions:
    """Per-test choices, from the settings and the ``ampdb`` marker."""

    seed: bool = True
    isolation: str | None = None


class TestDatabase(Protocol):
    """The database one test sees."""

    @property
    def repos(self) -> Repositories: ...

    @property
    def dsn(self) -> str | None: ...

    def close(self, *, failed: bool) -> None:
        """Undo the test's writes (or keep them for a failed test, where the backend can)."""
        ...


class Backend(Protocol):
    """A started backend: opens test databases, describes itself for the report header."""

    name: str

    def open(self, options: TestOptions) -> TestDatabase: ...

    def describe(self) -> list[str]: ...

    def close(self) -> None: ...


SeedHook = Callable[[Repositories], None]


def start_backend(settings: Settings, seeds: SeedSet | None, seed_hook: SeedHook) -> Backend:
    """Start the backend the settings name."""
    if settings.backend == "memory":
        from pytest_ampdb.memory.backend import MemoryBackend

        return MemoryBackend(seeds, seed_hook)
    raise ValueError(f"unknown backend {settings.backend!r}")
