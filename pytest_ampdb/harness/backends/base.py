"""What the pytest glue needs from a backend: a per-test database, isolated from every other.

A backend is started once per session (lazily, on the first test that touches the database) and
opens one ``TestDatabase`` per test; closing it undoes what the test wrote. ``memory`` and
``postgres`` implement this; the plugin never knows which one it drives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.models.declared import schema_tables
from pytest_ampdb.repositories.engine import Engine
from pytest_ampdb.types import Repositories

if TYPE_CHECKING:
    from pytest_ampdb.harness.settings import Settings


@dataclass(frozen=True, slots=True)
class TestOptions:
    """Per-test choices, from the settings and the ``ampdb`` marker."""

    seed: bool = True
    isolation: str | None = None


class TestDatabase(Protocol):
    """The database one test sees."""

    @property
    def engine(self) -> Engine:
        """The backend's engine over it (``TestEngine`` gives the test its own view)."""
        ...

    def share(self) -> str | None:
        """The URL other connections reach this database by (``ampdb_dsn``); None in memory. A
        backend then undoes at ``close`` what those connections committed, too."""
        ...

    def close(self, *, failed: bool) -> str | None:
        """Undo the test's writes; a backend that keeps a failed test's database returns its URL."""
        ...


class Backend(Protocol):
    """A started backend: opens test databases, describes itself for the report header."""

    name: str

    def open(self, options: TestOptions) -> TestDatabase: ...

    def describe(self) -> list[str]: ...

    def close(self) -> None: ...


ENDED = (
    "pytest-ampdb: a repository of a test that has ended was called (by a thread or task that "
    "outlived the test?): each test's repositories serve that test only"
)


class TestEngine:
    """One test's view of its backend's engine, refused once the test has ended.

    The engine outlives the test (in memory and under ``transaction`` isolation the next test
    works on the very same store or connection; under ``database`` isolation its connection is
    closed), so a repository a thread or task kept past the test's end would write into the next
    test, or be taken for a lost server that ends the run. Every mode refuses such a call alike.
    """

    __slots__ = ("_engine", "ended", "models")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.ended = False
        models = getattr(engine, "models", None)  # only where the engine has it (memory)
        if models is not None:
            self.models = models

    def __repr__(self) -> str:
        return f"TestEngine({self._engine!r}{', ended' if self.ended else ''})"


def _delegate(name: str) -> Callable[..., Any]:
    def call(self: TestEngine, *args: Any, **kwargs: Any) -> Any:
        if self.ended:
            raise AmpdbError(ENDED)
        return getattr(self._engine, name)(*args, **kwargs)

    call.__name__ = name
    return call


for _name in ("insert", "select", "page", "update", "delete", "upsert"):
    setattr(TestEngine, _name, _delegate(_name))


SeedHook = Callable[[Repositories], None]


@dataclass
class BackendContext:
    """What a backend needs from its surroundings (the pytest glue fills it in)."""

    seed_hook: SeedHook = field(default=lambda repos: None)
    """Adds rows after the JSON seeds (the ``pytest_ampdb_seed`` hook)."""
    on_ready: Callable[[str], None] = field(default=lambda dsn: None)
    """Told the URL of each database made ready for tests (``pytest_ampdb_database_ready``)."""
    fingerprint_files: Callable[[], tuple[Path, ...]] = field(default=lambda: ())
    """Source files of the seed hooks: a change to them rebuilds the template."""
    shared: dict[str, Any] | None = None
    """A server and template another process provisioned (the xdist controller's)."""
    worker: str = "main"
    processes: int = 1
    """Processes that will run tests against the server (xdist workers, else this one)."""
    project_root: Path = field(default_factory=Path.cwd)
    schema_line: str = ""
    """The report header's schema line, once the schema was checked."""


def schema_line(settings: Settings, version: str, checked: str) -> str:
    """The report header's line naming the schema and migration version a run uses."""
    tables = schema_tables(settings.schema)
    name = settings.schema or "packaged (pytest_ampdb.models.tables)"
    directory = settings.migrations or "packaged schema/migrations"
    return (
        f"schema {name}, {len(tables)} tables; migrations {directory} at version {version}, "
        f"{checked}"
    )


def check_memory_schema(settings: Settings) -> str:
    """Memory mode's schema check, without a server: the migration directory is valid and
    its snapshot says it builds the declared schema. Returns the report header's line."""
    from pytest_ampdb.migrations import snapshot
    from pytest_ampdb.paths import migrations_dir

    directory = settings.migrations or migrations_dir()
    version = snapshot.check(directory, schema_tables(settings.schema), settings.schema)
    return schema_line(settings, version, f"checked against {snapshot.SNAPSHOT_FILE}")
