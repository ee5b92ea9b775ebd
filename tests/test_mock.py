"""Mock builders: stubs forwarded and checked, calls recorded, injection through ``database``."""

from __future__ import annotations

import fnmatch
import inspect
import os
import subprocess
import sys
import textwrap
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_ampdb import database, mock
from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.models import Connection, OperationStatus
from pytest_ampdb.types import TABLE_NAMES, Repositories

INTERFACES: dict[str, type[Any]] = typing.get_type_hints(Repositories)
BUILDER_NAMES = {
    "organizations": "OrganizationBuilder",
    "projects": "ProjectBuilder",
    "integrations": "IntegrationBuilder",
    "revisions": "RevisionBuilder",
    "installations": "InstallationBuilder",
    "operations": "OperationBuilder",
    "connections": "ConnectionBuilder",
    "provider_apps": "ProviderAppBuilder",
    "api_keys": "ApiKeyBuilder",
    "destinations": "DestinationBuilder",
    "jwt_keys": "JwtKeyBuilder",
    "read_states": "ReadStateBuilder",
}


def interface_method_names(interface: type[Any]) -> set[str]:
    """Public methods of a Protocol and its Protocol bases, read independently of the mock."""
    names: set[str] = set()
    for cls in interface.__mro__:
        if getattr(cls, "_is_protocol", False) and cls is not typing.Protocol:
            names |= {n for n, v in vars(cls).items() if inspect.isfunction(v) and n[0] != "_"}
    return names


@pytest.fixture
def mocked_default() -> Iterator[Repositories]:
    """A process-wide default made of empty mocks, restored afterwards."""
    repos = mock.repositories()
    previous = database.set_default(repos)
    try:
        yield repos
    finally:
        database.restore_default(previous)


def test_stub_is_called_and_its_result_returned() -> None:
    sentinel = object()
    seen: list[tuple[str, str]] = []

    def get_by_id(project_id: str, id: str) -> Any:
        seen.append((project_id, id))
        return sentinel

    built = mock.ConnectionBuilder().with_get_by_id(get_by_id).build()

    assert built.get_by_id("proj-1", "conn-1") is sentinel
    assert built.get_by_id(project_id="proj-2", id="conn-2") is sentinel
    assert seen == [("proj-1", "conn-1"), ("proj-2", "conn-2")]


def test_calls_are_recorded_exactly_as_passed() -> None:
    built = (
        mock.ConnectionBuilder()
        .with_get_by_id(lambda project_id, id: None)
        .with_list(lambda *args, **kwargs: None)
        .build()
    )
    built.get_by_id("p", id="c")
    built.list("p", provider="hubspot")
    built.get_by_id(project_id="p", id="d")

    assert built.calls == [
        ("get_by_id", ("p",), {"id": "c"}),
        ("list", ("p",), {"provider": "hubspot"}),
        ("get_by_id", (), {"project_id": "p", "id": "d"}),
    ]
    assert [c.args for c in built.calls_to("get_by_id")] == [("p",), ()]


def test_stub_receives_positionals_by_position_and_keyword_only_by_name() -> None:
    received: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def transition(*args: Any, **kwargs: Any) -> str:
        received.append((args, kwargs))
        return "moved"

    built = mock.OperationBuilder().with_transition(transition).build()
    assert built.transition(project_id="p", id="o", status=OperationStatus.RUNNING) == "moved"
    built.transition("p", "o", OperationStatus.FAILED, result="boom")

    assert received == [
        (("p", "o", OperationStatus.RUNNING), {"result": None}),
        (("p", "o", OperationStatus.FAILED), {"result": "boom"}),
    ]


def test_unstubbed_method_raises_not_stubbed_error_naming_interface_and_method() -> None:
    built = mock.ConnectionBuilder().with_get_by_id(lambda project_id, id: None).build()

    with pytest.raises(mock.NotStubbedError) as info:
        built.delete("p", "c")

    assert isinstance(info.value, AmpdbError)
    assert "ConnectionRepository.delete" in str(info.value)
    assert "with_delete" in str(info.value)
    assert (info.value.interface, info.value.method) == ("ConnectionRepository", "delete")
    assert built.calls == [("delete", ("p", "c"), {})]


def test_calling_a_mock_unlike_the_interface_is_a_type_error() -> None:
    built = mock.ProjectBuilder().with_get_by_id(lambda id: None).build()

    with pytest.raises(TypeError, match=r"ProjectRepository\.get_by_id\(id: str\)"):
        built.get_by_id("a", "b")
    with pytest.raises(TypeError, match="unexpected keyword argument 'project_id'"):
        built.get_by_id(id="a", project_id="x")
    assert built.calls == []


@pytest.mark.parametrize(
    ("stub", "problem"),
    [
        (lambda project_id: None, "too many positional arguments"),
        (lambda project_id, id, extra: None, "missing a required*argument: 'extra'"),
        # Python 3.12+ says "keyword-only argument" here
        (lambda project_id, id, *, extra: None, "missing a required*argument: 'extra'"),
        (lambda: None, "too many positional arguments"),
        (42, "must be callable"),
    ],
)
def test_stub_that_cannot_take_the_call_is_rejected_when_stubbed(stub: Any, problem: str) -> None:
    builder = mock.ConnectionBuilder()
    with pytest.raises(TypeError) as info:
        builder.with_get_by_id(stub)

    message = str(info.value)
    assert fnmatch.fnmatch(message, f"*{problem}*")
    assert "ConnectionRepository.get_by_id(project_id: str, id: str) -> Connection" in message


def test_stub_missing_a_keyword_only_parameter_is_rejected() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'result'"):
        mock.OperationBuilder().with_transition(lambda project_id, id, status: None)
    with pytest.raises(TypeError, match="unexpected keyword argument 'group_ref'"):
        mock.ConnectionBuilder().with_list(lambda project_id, *, provider=None: None)


@pytest.mark.parametrize(
    "stub",
    [
        lambda *args, **kwargs: None,
        lambda project_id, *args, **kwargs: None,
        lambda p, i, s, *, result: None,
        lambda p, i, s, result=None, extra=1: None,
    ],
)
def test_stubs_that_can_take_the_call_are_accepted(stub: Any) -> None:
    built = mock.OperationBuilder().with_transition(stub).build()
    assert built.transition("p", "o", OperationStatus.RUNNING) is None


def test_with_a_method_the_interface_lacks_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"ApiKeyRepository has no method 'get_by_name'"):
        mock.ApiKeyBuilder().with_get_by_name(lambda project_id, name: None)
    with pytest.raises(AttributeError, match="OrganizationRepository"):
        mock.OrganizationBuilder().stub("upsert", lambda entity: None)


@pytest.mark.parametrize("table", TABLE_NAMES)
def test_every_builder_stubs_every_interface_method(table: str) -> None:
    interface = INTERFACES[table]
    builder_class = getattr(mock, BUILDER_NAMES[table])
    methods = interface_method_names(interface)
    assert methods >= {"create", "get_by_id", "list", "update", "delete"}

    builder = builder_class()
    for name in methods:
        getattr(builder, f"with_{name}")(lambda *args, _name=name, **kwargs: (_name, args))
    built = builder.build()
    for name in methods:
        params = list(inspect.signature(getattr(interface, name)).parameters.values())[1:]
        positional = [p for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
        args = tuple(f"arg{i}" for i in range(len(positional)))
        assert getattr(built, name)(*args) == (name, args)
    assert {call.method for call in built.calls} == methods
    assert mock.builder_for(table).interface is interface
    assert mock.builder_for(interface).interface is interface


def test_unstubbed_builder_methods_all_raise() -> None:
    built = mock.ReadStateBuilder().build()
    for name in interface_method_names(INTERFACES["read_states"]):
        params = list(inspect.signature(getattr(built, name)).parameters.values())
        args = [None] * sum(p.kind is p.POSITIONAL_OR_KEYWORD for p in params)
        with pytest.raises(mock.NotStubbedError, match=rf"ReadStateRepository\.{name} "):
            getattr(built, name)(*args)


def test_builders_are_reusable_and_built_mocks_independent() -> None:
    builder = mock.ConnectionBuilder().with_get_by_id(lambda project_id, id: "first")
    one = builder.build()
    builder.with_get_by_id(lambda project_id, id: "second")
    two = builder.build()

    assert one.get_by_id("p", "c") == "first"
    assert two.get_by_id("p", "c") == "second"
    assert len(one.calls) == 1
    assert len(two.calls) == 1
    assert one is not two


def test_builder_for_accepts_table_interface_and_model_and_rejects_unknown() -> None:
    assert isinstance(mock.builder_for("connections"), mock.ConnectionBuilder)
    assert isinstance(mock.builder_for(INTERFACES["jwt_keys"]), mock.JwtKeyBuilder)
    assert isinstance(mock.builder_for(Connection), mock.ConnectionBuilder)
    with pytest.raises(ValueError, match="no mock builder for 'connection'"):
        mock.builder_for("connection")


def test_repositories_bundle_fills_unnamed_tables_with_empty_mocks() -> None:
    given = mock.ProjectBuilder().with_get_by_name(lambda name: f"project {name}").build()
    repos = mock.repositories(
        connections=mock.ConnectionBuilder().with_delete(lambda project_id, id: "deleted"),
        projects=given,
    )

    assert repos.projects is given
    assert repos.connections.delete("p", "c") == "deleted"
    assert repos.projects.get_by_name("acme") == "project acme"
    with pytest.raises(mock.NotStubbedError, match=r"OperationRepository\.get_by_id"):
        repos.operations.get_by_id("p", "o")
    with pytest.raises(TypeError, match=r"unknown table name.*connection\b"):
        mock.repositories(connection=given)


def test_built_mock_is_in_effect_inside_with_connection_repository_only(
    mocked_default: Repositories,
) -> None:
    built = mock.ConnectionBuilder().with_get_by_id(lambda project_id, id: "from mock").build()

    assert database.connections() is mocked_default.connections
    with database.with_connection_repository(built) as injected:
        assert injected is built
        assert database.connections() is built
        assert database.connections().get_by_id("p", "c") == "from mock"
        assert database.projects() is mocked_default.projects
    assert database.connections() is mocked_default.connections
    assert built.calls == [("get_by_id", ("p", "c"), {})]


def test_mock_bundle_through_database_use() -> None:
    repos = mock.repositories(
        operations=mock.OperationBuilder().with_transition(lambda p, i, s, *, result: s)
    )
    with database.use(repos):
        moved = database.operations().transition("p", "o", OperationStatus.COMPLETED)
        assert moved == OperationStatus.COMPLETED
        with pytest.raises(mock.NotStubbedError):
            database.connections().get_by_id("p", "c")


TYPED_USER_MODULE = """
    from pytest_ampdb import database, mock
    from pytest_ampdb.models import Connection, Operation, OperationStatus
    from pytest_ampdb.types import ConnectionRepository, OperationRepository


    def check(sample: Connection, op: Operation) -> None:
        built = mock.ConnectionBuilder().with_get_by_id(lambda project_id, id: sample).build()
        repo: ConnectionRepository = built
        conn: Connection = repo.get_by_id("p", "c")
        method, args, kwargs = built.calls[0]
        with database.with_connection_repository(built):
            assert database.connections().get_by_id("p", "c") is conn

        def transition(
            project_id: str, id: str, status: OperationStatus, *, result: str | None
        ) -> Operation:
            return op

        ops: OperationRepository = mock.OperationBuilder().with_transition(transition).build()
        with database.use(mock.repositories(operations=ops, projects=mock.ProjectBuilder())):
            database.operations().transition("p", "o", OperationStatus.RUNNING)
"""


def test_user_code_using_builders_is_clean_under_mypy_strict(tmp_path: Path) -> None:
    user = tmp_path / "test_user.py"
    user.write_text(textwrap.dedent(TYPED_USER_MODULE))
    wrong = tmp_path / "test_wrong.py"
    wrong.write_text("from pytest_ampdb import mock\n\nx: int = mock.ConnectionBuilder().build()\n")

    root = Path(mock.__file__).resolve().parents[2]  # where the pytest_ampdb package lives
    env = dict(os.environ)
    if root.name != "site-packages":  # a source checkout: point mypy at it
        env["MYPYPATH"] = str(root)

    def mypy(path: Path) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent"]
        command += ["--no-incremental", "--config-file=", str(path)]
        return subprocess.run(
            command, capture_output=True, text=True, check=False, cwd=tmp_path, env=env
        )

    ok = mypy(user)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = mypy(wrong)
    assert bad.returncode == 1
    assert '"ConnectionMock"' in bad.stdout
