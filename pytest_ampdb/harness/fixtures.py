"""The fixtures: ``ampdb``, ``ampdb_seed``, ``ampdb_dsn``, ``ampdb_mock``, and per entity
``<entity>_factory`` / ``<entity>`` (pytest-factoryboy naming). Thin: the work is in ``run.py``.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
from typing import Any

import pytest

from pytest_ampdb import async_database, database
from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.harness.backends.base import TestDatabase, TestOptions
from pytest_ampdb.harness.randomness import schedule_factory_seed, test_seed
from pytest_ampdb.harness.run import AmpdbRun, TestScope
from pytest_ampdb.harness.settings import BACKENDS, ISOLATIONS
from pytest_ampdb.models.declared import load_factories
from pytest_ampdb.models.schema import TableSpec
from pytest_ampdb.models.tables import TABLES
from pytest_ampdb.seeds import SeedIds
from pytest_ampdb.types import AsyncRepositories, Repositories
from pytest_ampdb.urls import redact_url

RUN_KEY = pytest.StashKey[AmpdbRun]()
BASE_SEED_KEY = pytest.StashKey[int]()
FAILED_KEY = pytest.StashKey[bool]()
MARKER_ERROR_KEY = pytest.StashKey[str]()

MARKER_VALUES: dict[str, tuple[Any, ...]] = {
    "isolation": (None, *ISOLATIONS),
    "seed": (True, False),
    "backend": (None, *BACKENDS),
}
"""The ``ampdb`` marker's keyword arguments and the values each accepts."""
MARKER_ARGS = frozenset(MARKER_VALUES)
KEPT_PROPERTY = "ampdb_kept_database"


def marker_error(item: pytest.Item) -> str | None:
    """What is wrong with the test's ``ampdb`` markers, as one line; None when nothing is.

    A misspelt value (``backend="postgress"``) would otherwise match neither backend and skip
    the test on both for ever, so it is an error of that test instead.
    """
    for marker in item.iter_markers("ampdb"):
        unknown = sorted(set(marker.kwargs) - MARKER_ARGS)
        if marker.args or unknown:
            return (
                f"@pytest.mark.ampdb takes only keyword arguments {', '.join(sorted(MARKER_ARGS))}"
                + (f"; got {', '.join(unknown)}" if unknown else "")
            )
        for name, value in marker.kwargs.items():
            allowed = MARKER_VALUES[name]
            if not any(type(value) is type(ok) and value == ok for ok in allowed):
                return f"@pytest.mark.ampdb({name}={value!r}): expected one of " + ", ".join(
                    repr(ok) for ok in allowed
                )
    return None


def marker_options(item: pytest.Item, run: AmpdbRun) -> TestOptions:
    """The test's options from its ``ampdb`` marker(s), closest first."""
    marker = item.get_closest_marker("ampdb")
    kwargs: dict[str, Any] = dict(marker.kwargs) if marker else {}
    return TestOptions(
        seed=bool(kwargs.get("seed", True)) and run.seeds is not None,
        isolation=kwargs.get("isolation"),
    )


@pytest.fixture(autouse=True)
def _ampdb_test(request: pytest.FixtureRequest) -> Iterator[TestScope]:
    """Every test: its own (lazily opened) database as the process default, seeded fake data."""
    run = request.config.stash[RUN_KEY]
    scope = TestScope(run, marker_options(request.node, run))
    schedule_factory_seed(test_seed(request.config.stash[BASE_SEED_KEY], request.node.nodeid))
    previous = database.set_default(provider=scope.repos)
    previous_async = async_database.set_default(provider=scope.async_repos)
    try:
        yield scope
    finally:
        async_database.restore_default(previous_async)
        database.restore_default(previous)
    kept: str | None = None
    message: str | None = None
    try:
        kept = scope.close(failed=request.node.stash.get(FAILED_KEY, False))
    except AmpdbError as exc:  # the server went away during the test: one line, no traceback
        message = f"pytest-ampdb: {exc}"
    if kept is not None:  # a report property reaches junit XML: never with the password
        request.node.user_properties.append((KEPT_PROPERTY, redact_url(kept)))
    if message is not None:
        pytest.fail(message, pytrace=False)  # outside the except: no "during handling" chain


def _database(scope: TestScope) -> TestDatabase:
    """The test's database; a backend that cannot give one fails the test with one line."""
    try:
        return scope.database()
    except AmpdbError as exc:
        message = f"pytest-ampdb: {exc}"
    pytest.fail(message, pytrace=False)  # outside the except: no "during handling" chain


@pytest.fixture
def ampdb(_ampdb_test: TestScope) -> Repositories:
    """The test's repositories, isolated from every other test and starting from the seeds."""
    _database(_ampdb_test)
    return _ampdb_test.repos()


@pytest.fixture
def ampdb_async(_ampdb_test: TestScope) -> AsyncRepositories:
    """The test's repositories for async tests: the same rows (and in PostgreSQL the same
    transaction) as ``ampdb``, each method awaited; also ``pytest_ampdb.async_database``'s
    default while the test runs."""
    _database(_ampdb_test)
    return _ampdb_test.async_repos()


@pytest.fixture
def ampdb_dsn(_ampdb_test: TestScope) -> str:
    """Postgres mode: the URL of the database this test sees (for subprocesses, other drivers)."""
    dsn = _database(_ampdb_test).share()
    if dsn is None:
        backend = _ampdb_test.run.settings.backend
        pytest.skip(f"ampdb_dsn needs a PostgreSQL backend (this run uses {backend})")
    return dsn


@pytest.fixture
def ampdb_seed(_ampdb_test: TestScope) -> SeedIds:
    """The seeded ids: ``project_id``, ``organization_id``, ``api_key``, ``admin_key``."""
    if _ampdb_test.run.seeds is None:
        pytest.fail("ampdb_seed: this run has no seeds (--ampdb-no-seed)", pytrace=False)
    if not _ampdb_test.options.seed:
        pytest.fail("ampdb_seed: this test is marked ampdb(seed=False)", pytrace=False)
    return _ampdb_test.run.seeds.ids


@pytest.fixture
def ampdb_mock() -> ModuleType:
    """The ``pytest_ampdb.harness.mock`` module: one builder per entity."""
    from pytest_ampdb.harness import mock

    return mock


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _factory_fixture(table: str, model_name: str) -> Callable[..., Any]:
    def fixture(request: pytest.FixtureRequest, ampdb: Repositories) -> Any:
        return _factory_of(request.config.stash[RUN_KEY], table)

    fixture.__doc__ = (
        f"The factory of ``{model_name}`` (``{table}``), writing to this test's repositories: "
        "the packaged one, or the project's for an entity its schema adds or extends."
    )
    return pytest.fixture(name=f"{_snake(model_name)}_factory")(fixture)


def _factory_of(run: AmpdbRun, table: str) -> Any:
    """The factory of ``table``'s model in the run's schema: the packaged factory of a packaged
    model; the project's factory (``factory_for``, after importing the schema's ``FACTORIES``)
    of a model its schema adds, or of its subclass of a packaged model, if it has one."""
    # through sys.modules, not an attribute of pytest_ampdb: pytester's inline runs drop
    # the modules a run imported (factory_boy too), and a stale attribute would mix them
    factories = importlib.import_module("pytest_ampdb.factories")
    model = run.tables[table].model
    packaged = TABLES.get(table)
    default = getattr(factories, f"{packaged.model.__name__}Factory") if packaged else None
    if packaged is not None and packaged.model is model:
        return default
    try:
        load_factories(run.settings.schema)
        return factories.factory_for(model, default)
    except (AmpdbError, LookupError) as exc:
        message = f"pytest-ampdb: {_snake(model.__name__)}_factory: {exc}"
    pytest.fail(message, pytrace=False)  # outside the except: no "during handling" chain


def _model_fixture(model_name: str) -> Callable[..., Any]:
    factory_name = f"{_snake(model_name)}_factory"

    def fixture(request: pytest.FixtureRequest) -> Any:
        return request.getfixturevalue(factory_name).create()

    fixture.__doc__ = f"A saved ``{model_name}`` made by ``{factory_name}`` (parents included)."
    return pytest.fixture(name=_snake(model_name))(fixture)


def _entity_fixtures(tables: Mapping[str, TableSpec[Any]]) -> dict[str, Callable[..., Any]]:
    """``<entity>_factory`` and ``<entity>`` for each table, named after its model."""
    made: dict[str, Callable[..., Any]] = {}
    for table, spec in tables.items():
        name = spec.model.__name__
        made[f"{_snake(name)}_factory"] = _factory_fixture(table, name)
        made[_snake(name)] = _model_fixture(name)
    return made


ENTITY_FIXTURES = _entity_fixtures(TABLES)
globals().update(ENTITY_FIXTURES)  # pytest finds fixtures as attributes of a plugin module


def declared_fixtures(tables: Mapping[str, TableSpec[Any]]) -> ModuleType:
    """A plugin holding ``<entity>_factory`` / ``<entity>`` for the entities a project's schema
    adds (``invoice_factory``, ``invoice``), as the packaged entities have theirs."""
    plugin = ModuleType("pytest_ampdb.harness.declared_fixtures")
    own = {name: spec for name, spec in tables.items() if name not in TABLES}
    vars(plugin).update(_entity_fixtures(own))
    return plugin


__all__ = [
    "BASE_SEED_KEY",
    "ENTITY_FIXTURES",
    "FAILED_KEY",
    "MARKER_ARGS",
    "MARKER_ERROR_KEY",
    "MARKER_VALUES",
    "RUN_KEY",
    "ampdb",
    "ampdb_async",
    "ampdb_dsn",
    "ampdb_mock",
    "ampdb_seed",
    "declared_fixtures",
    "marker_error",
    "marker_options",
]
