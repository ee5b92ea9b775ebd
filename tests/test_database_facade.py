"""``pytest_ampdb.database``: context injection, the process default, and the lazy default.

The plugin installs each test's repositories as the process default (``set_default(provider=...)``)
and marks the run as testing; tests here that change either put back exactly what they found.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_ampdb import database, memory
from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.seeds import read_seeds
from pytest_ampdb.types import TABLE_NAMES, Repositories


def _fresh() -> Repositories:
    return memory.repositories(memory.MemoryStore())


@pytest.fixture
def first() -> Repositories:
    return _fresh()


@pytest.fixture
def second() -> Repositories:
    return _fresh()


def _in_effect() -> dict[str, Any]:
    return {table: getattr(database, table)() for table in TABLE_NAMES}


def test_use_puts_repositories_in_effect_inside_the_block_only(first: Repositories) -> None:
    outside = _in_effect()
    assert all(repo is not getattr(first, t) for t, repo in outside.items())
    with database.use(first) as given:
        assert given is first
        assert _in_effect() == first.by_table()
        assert database.repositories().connections is first.connections
    assert _in_effect() == outside


def test_use_undoes_the_injection_when_the_block_raises(first: Repositories) -> None:
    outside = database.connections()
    with pytest.raises(RuntimeError), database.use(first):
        raise RuntimeError("boom")
    assert database.connections() is outside


def test_a_nested_use_overrides_a_single_table(first: Repositories, second: Repositories) -> None:
    with database.use(first):
        with database.use(connections=second.connections):
            assert database.connections() is second.connections
            others = {t: r for t, r in _in_effect().items() if t != "connections"}
            assert others == {t: r for t, r in first.by_table().items() if t != "connections"}
        assert database.connections() is first.connections


def test_use_takes_a_bundle_and_single_tables_together(
    first: Repositories, second: Repositories
) -> None:
    with database.use(first, operations=second.operations):
        assert database.operations() is second.operations
        assert database.projects() is first.projects


def test_with_connection_repository_injects_one_repository(
    first: Repositories, second: Repositories
) -> None:
    outside = database.connections()
    with database.use(first):
        with database.with_connection_repository(second.connections) as injected:
            assert injected is second.connections
            assert database.connections() is second.connections
            assert database.projects() is first.projects
        assert database.connections() is first.connections
    assert database.connections() is outside


@pytest.mark.parametrize("table", TABLE_NAMES)
def test_every_table_has_an_accessor_and_an_injector(first: Repositories, table: str) -> None:
    singular = {
        "read_states": "read_state",
        "api_keys": "api_key",
        "jwt_keys": "jwt_key",
        "provider_apps": "provider_app",
    }.get(table, table[:-1])
    injector = getattr(database, f"with_{singular}_repository")
    repo = getattr(first, table)
    with injector(repo):
        assert getattr(database, table)() is repo
    assert getattr(database, table)() is not repo


def test_an_unknown_table_name_is_a_type_error(first: Repositories) -> None:
    outside = database.connections()
    with pytest.raises(TypeError, match="conections"), database.use(conections=first.connections):
        pass  # pragma: no cover - never entered
    assert database.connections() is outside


def test_a_thread_started_inside_the_block_sees_the_process_default(first: Repositories) -> None:
    default = database.default().connections
    seen: list[Any] = []
    with database.use(first):
        thread = threading.Thread(target=lambda: seen.append(database.connections()))
        thread.start()
        thread.join(timeout=10)
        assert database.connections() is first.connections
    assert seen == [default]
    assert seen[0] is not first.connections


def test_an_injection_in_one_thread_does_not_reach_another(first: Repositories) -> None:
    entered, checked = threading.Event(), threading.Event()

    def inject() -> None:
        with database.use(first):
            entered.set()
            checked.wait(timeout=10)

    thread = threading.Thread(target=inject)
    thread.start()
    try:
        assert entered.wait(timeout=10)
        assert database.connections() is database.default().connections
        assert database.connections() is not first.connections
    finally:
        checked.set()
        thread.join(timeout=10)


def test_an_injection_does_not_leak_to_a_sibling_asyncio_task(first: Repositories) -> None:
    async def scenario() -> tuple[Any, Any, Any]:
        entered, release = asyncio.Event(), asyncio.Event()

        async def injecting() -> Any:
            with database.use(first):
                entered.set()
                await release.wait()
                return database.connections()

        async def sibling() -> Any:
            return database.connections()

        inside = asyncio.create_task(injecting())
        await entered.wait()  # the first task is inside its block now
        beside = await asyncio.create_task(sibling())
        in_parent = database.connections()
        release.set()
        return await inside, beside, in_parent

    inside, beside, in_parent = asyncio.run(scenario())
    assert inside is first.connections
    assert beside is database.default().connections
    assert in_parent is database.default().connections


def test_a_task_created_inside_the_block_inherits_it(first: Repositories) -> None:
    async def scenario() -> Any:
        with database.use(first):
            return await asyncio.create_task(_connections_later())

    assert asyncio.run(scenario()) is first.connections


async def _connections_later() -> Any:
    await asyncio.sleep(0)
    return database.connections()


# -- the process default ------------------------------------------------------------------------


@pytest.fixture
def restore_state() -> Iterator[None]:
    """Put back the plugin's default and testing flag whatever the test does to them."""
    state = database.set_default(provider=None)
    database.restore_default(state)
    try:
        yield
    finally:
        database.restore_default(state)
        database.mark_testing(True)


def test_the_plugin_makes_the_tests_repositories_the_default(ampdb: Repositories) -> None:
    assert database.default() is ampdb
    assert database.connections() is ampdb.connections


@pytest.mark.usefixtures("restore_state")
def test_set_default_and_restore_default(first: Repositories, second: Repositories) -> None:
    before = database.default()
    previous = database.set_default(first)
    assert database.default() is first
    assert database.connections() is first.connections
    with database.use(second):
        assert database.connections() is second.connections  # injection beats the default
    inner = database.set_default(second)
    assert inner[0] is first
    database.restore_default(inner)
    assert database.default() is first
    database.restore_default(previous)
    assert database.default() is before


@pytest.mark.usefixtures("restore_state")
def test_a_default_provider_is_called_lazily_once(first: Repositories) -> None:
    calls: list[int] = []

    def provide() -> Repositories:
        calls.append(1)
        return first

    database.set_default(provider=provide)
    assert calls == []
    assert database.connections() is first.connections
    assert database.projects() is first.projects
    seen: list[Any] = []
    thread = threading.Thread(target=lambda: seen.append(database.operations()))
    thread.start()
    thread.join(timeout=10)
    assert seen == [first.operations]
    assert calls == [1]


@pytest.mark.usefixtures("restore_state")
def test_the_lazy_default_for_ampdb_backend_memory_is_seeded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AMPDB_BACKEND", "Memory ")
    monkeypatch.delenv("AMPDB_DSN", raising=False)
    monkeypatch.delenv("DB_DSN", raising=False)
    database.mark_testing(False)  # as in production: the environment alone decides
    database.set_default(None)
    ids = read_seeds().ids
    assert database.projects().get_by_id(ids.project_id).id == ids.project_id
    assert database.api_keys().get_by_key(ids.api_key).project_id == ids.project_id
    assert database.default() is database.default()  # created once, then kept


@pytest.mark.usefixtures("restore_state")
def test_an_invalid_ampdb_backend_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMPDB_BACKEND", "mongo")
    database.set_default(None)
    with pytest.raises(AmpdbError) as caught:
        database.connections()
    message = str(caught.value)
    assert "AMPDB_BACKEND" in message
    assert "mongo" in message
    assert "memory" in message
    assert "postgres" in message
    assert "\n" not in message


@pytest.mark.usefixtures("restore_state")
def test_ampdb_backend_postgres_without_a_dsn_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AMPDB_BACKEND", "postgres")
    monkeypatch.delenv("AMPDB_DSN", raising=False)
    monkeypatch.delenv("DB_DSN", raising=False)
    database.set_default(None)
    with pytest.raises(AmpdbError, match="AMPDB_DSN"):
        database.connections()


@pytest.mark.usefixtures("restore_state")
def test_nothing_configured_outside_tests_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AMPDB_BACKEND", "AMPDB_DSN", "DB_DSN"):
        monkeypatch.delenv(name, raising=False)
    database.mark_testing(False)
    database.set_default(None)
    with pytest.raises(AmpdbError) as caught:
        database.connections()
    message = str(caught.value)
    assert "AMPDB_DSN" in message
    assert "AMPDB_BACKEND=memory" in message
    assert "\n" not in message
    with pytest.raises(AmpdbError):  # still refused: no silent default was left behind
        database.default()


@pytest.mark.usefixtures("restore_state")
def test_nothing_configured_inside_a_test_run_is_the_seeded_memory_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AMPDB_BACKEND", "AMPDB_DSN", "DB_DSN"):
        monkeypatch.delenv(name, raising=False)
    database.mark_testing(True)
    database.set_default(None)
    ids = read_seeds().ids
    assert database.projects().get_by_id(ids.project_id).id == ids.project_id


@pytest.mark.usefixtures("restore_state")
def test_injecting_single_repositories_never_creates_the_default(first: Repositories) -> None:
    calls: list[int] = []

    def provide() -> Repositories:
        calls.append(1)
        return first

    database.set_default(provider=provide)
    with database.use(connections=first.connections) as given:
        assert given is None
        assert database.connections() is first.connections
    with database.with_operation_repository(first.operations):
        assert database.operations() is first.operations
    assert calls == []


@pytest.mark.usefixtures("restore_state")
def test_a_failed_lazy_default_does_not_stop_an_injection(
    monkeypatch: pytest.MonkeyPatch, first: Repositories
) -> None:
    monkeypatch.setenv("AMPDB_BACKEND", "mongo")
    database.set_default(None)
    with database.use(first):
        assert database.connections() is first.connections
