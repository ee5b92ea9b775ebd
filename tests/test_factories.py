"""Factories: valid unsaved models, creation through ``database`` parents first, one project."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, get_args

import pytest

from pytest_ampdb import database, factories, memory, mock
from pytest_ampdb.errors import NotFoundError
from pytest_ampdb.factories import (
    ALL_FACTORIES,
    ApiKeyFactory,
    ConnectionFactory,
    DestinationFactory,
    InstallationFactory,
    IntegrationFactory,
    JwtKeyFactory,
    OperationFactory,
    OrganizationFactory,
    ProjectFactory,
    ProviderAppFactory,
    ReadStateFactory,
    RevisionFactory,
)
from pytest_ampdb.factories.values import OBJECT_NAMES, PROVIDERS
from pytest_ampdb.models import OperationStatus
from pytest_ampdb.models.tables import PROJECT_NAME_PATTERN, SPEC_BY_MODEL
from pytest_ampdb.seeds import load_into_store, read_seeds
from pytest_ampdb.types import Repositories

SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@pytest.fixture
def repos() -> Iterator[Repositories]:
    """A fresh memory store's repositories, in effect for the test."""
    bundle = memory.repositories(memory.MemoryStore())
    with database.use(bundle):
        yield bundle


def table_of(model: Any) -> str:
    return SPEC_BY_MODEL[type(model)].name


def read_back(repos: Repositories, model: Any) -> Any:
    """The row as the repositories return it, looked up the way each table is."""
    repo = getattr(repos, table_of(model))
    if table_of(model) in ("organizations", "projects"):
        return repo.get_by_id(model.id)
    if table_of(model) == "api_keys":
        return repo.get_by_key(model.key)
    return repo.get_by_id(model.project_id, model.id)


def project_ids(repos: Repositories) -> list[str]:
    return [p.id for p in repos.projects.list().items]


@pytest.mark.parametrize("factory_class", ALL_FACTORIES, ids=lambda f: f.__name__)
def test_build_makes_an_unsaved_model_the_schema_accepts(factory_class: Any) -> None:
    with database.use(mock.repositories()):  # any repository call would raise NotStubbedError
        model = factory_class.build()

    spec = SPEC_BY_MODEL[type(model)]
    assert spec.model is factory_class._meta.model
    row = spec.to_row(model)
    assert row.get("create_time") is None
    assert row.get("update_time") is None
    saved_times = {c: datetime.now(UTC) for c in ("create_time", "update_time") if c in row}
    normalized = spec.normalize({**row, **saved_times})
    assert {k: v for k, v in normalized.items() if k not in saved_times} == {
        k: v for k, v in row.items() if k not in saved_times
    }


def test_build_values_are_realistic() -> None:
    factories.reseed(1234)
    project = ProjectFactory.build()
    assert PROJECT_NAME_PATTERN.fullmatch(project.name)
    assert project.name != ProjectFactory.build().name

    connection = ConnectionFactory.build()
    assert connection.provider in PROVIDERS
    assert SLUG.fullmatch(connection.group_ref)
    assert connection.group_name
    assert connection.consumer_name
    assert re.fullmatch(r"user-\d+", connection.consumer_ref)
    assert connection.auth_scheme == "oauth2/authorizationCode"

    installation = InstallationFactory.build()
    assert re.fullmatch(r"consumer:user-\d+|builder:[0-9a-f-]{36}", installation.created_by)
    (object_name,) = installation.config["read"]["objects"]
    assert installation.config["provider"] in PROVIDERS
    assert object_name in OBJECT_NAMES
    assert installation.config["read"]["objects"][object_name]["objectName"] == object_name

    revision = RevisionFactory.build()
    assert revision.content["provider"] in PROVIDERS
    assert revision.content["read"]["objects"][0]["destination"] == "defaultWebhook"

    destination = DestinationFactory.build()
    assert destination.type == "webhook"
    assert re.fullmatch(
        r"https://webhooks\.[a-z0-9.-]+/[A-Za-z]+-[a-z-]+", destination.metadata["url"]
    )

    key = ApiKeyFactory.build()
    assert key.scopes == ("full",)
    assert key.active
    assert re.fullmatch(r"[A-Za-z0-9]{40}", key.key)
    assert key.key not in repr(key)

    jwt = JwtKeyFactory.build()
    lines = jwt.public_key_pem.strip().splitlines()
    assert lines[0] == "-----BEGIN PUBLIC KEY-----"
    assert lines[-1] == "-----END PUBLIC KEY-----"
    der = base64.b64decode("".join(lines[1:-1]))
    assert len(der) == 294  # an RSA-2048 SubjectPublicKeyInfo
    assert jwt.algorithm == "RS256"

    read_state = ReadStateFactory.build()
    assert read_state.next_page_token is not None
    assert len(base64.b64decode(read_state.next_page_token, validate=True)) == 16

    pending = OperationFactory.build()
    assert pending.status == "pending"
    assert pending.result is None
    completed = OperationFactory.build(completed=True, type="read")
    assert completed.result == f"[{completed.metadata['objectName']}] No new data found"
    written = OperationFactory.build(completed=True, type="write")
    assert re.fullmatch(r"Batch write completed \(\d+ succeeded, 0 failed\)", written.result)
    assert OperationFactory.build(failed=True).result


@pytest.mark.parametrize("factory_class", ALL_FACTORIES, ids=lambda f: f.__name__)
def test_create_saves_through_the_repositories_in_effect(
    factory_class: Any, repos: Repositories
) -> None:
    created = factory_class.create()

    spec = SPEC_BY_MODEL[type(created)]
    assert getattr(created, spec.created_column or "update_time") is not None  # saved
    assert read_back(repos, created) == created


def test_create_makes_parents_first_in_one_new_project(repos: Repositories) -> None:
    order: list[str] = []

    def recording(table: str) -> mock.Builder[Any]:
        real = getattr(repos, table)
        return mock.builder_for(table).with_create(
            lambda entity: (order.append(table), real.create(entity))[1]
        )

    spy = mock.repositories(**{table: recording(table) for table in repos.by_table()})
    with database.use(spy):
        operation = OperationFactory.create()

    assert order == [
        "organizations",
        "projects",
        "integrations",
        "connections",
        "installations",
        "operations",
    ]
    assert project_ids(repos) == [operation.project_id]
    installation = repos.installations.get_by_id(operation.project_id, operation.installation_id)
    connection = repos.connections.get_by_id(operation.project_id, installation.connection_id)
    integration = repos.integrations.get_by_id(operation.project_id, operation.integration_id)
    assert installation.integration_id == integration.id
    assert connection.provider == integration.provider == installation.config["provider"]
    assert connection.group_ref == installation.group_ref
    consumer_or_builder = rf"consumer:{connection.consumer_ref}|builder:[0-9a-f-]{{36}}"
    assert re.fullmatch(consumer_or_builder, installation.created_by)
    project = repos.projects.get_by_id(operation.project_id)
    assert repos.organizations.get_by_id(project.organization_id)


def test_project_id_or_project_is_reused_by_the_whole_chain(repos: Repositories) -> None:
    project = ProjectFactory.create()

    by_id = InstallationFactory.create(project_id=project.id)
    by_object = ReadStateFactory.create(project=project)

    assert project_ids(repos) == [project.id]
    assert repos.integrations.get_by_id(project.id, by_id.integration_id).project_id == project.id
    assert repos.connections.get_by_id(project.id, by_id.connection_id).project_id == project.id
    assert by_object.project_id == project.id
    assert repos.installations.get_by_id(project.id, by_object.installation_id)


def test_given_parents_are_used_and_set_the_project(repos: Repositories) -> None:
    integration = IntegrationFactory.create()
    connection = ConnectionFactory.create(project_id=integration.project_id)

    installation = InstallationFactory.create(integration=integration, connection=connection)
    operation = OperationFactory.create(installation=installation)
    revision = RevisionFactory.create(integration=integration)
    second = OperationFactory.create(integration=integration)
    second_installation = repos.installations.get_by_id(
        integration.project_id, second.installation_id
    )

    assert installation.project_id == integration.project_id
    assert (installation.integration_id, installation.connection_id) == (
        integration.id,
        connection.id,
    )
    assert installation.group_ref == connection.group_ref
    assert installation.config["provider"] == integration.provider
    assert (operation.integration_id, operation.installation_id) == (
        integration.id,
        installation.id,
    )
    assert revision.integration_id == integration.id
    assert second.integration_id == second_installation.integration_id == integration.id
    assert revision.content["provider"] == integration.provider
    assert project_ids(repos) == [integration.project_id]
    assert repos.integrations.list(integration.project_id).items == [integration]


def test_organization_id_given_makes_no_organization(repos: Repositories) -> None:
    organization = OrganizationFactory.create()
    project = ProjectFactory.create(organization_id=organization.id)

    assert project.organization_id == organization.id
    assert [o.id for o in repos.organizations.list().items] == [organization.id]


def test_many_rows_in_one_project_do_not_collide(repos: Repositories) -> None:
    project = ProjectFactory.create()
    installation = InstallationFactory.create(project=project)
    integration = repos.integrations.get_by_id(project.id, installation.integration_id)

    for _ in range(len(PROVIDERS)):
        ProviderAppFactory.create(project=project)
    for _ in range(len(OBJECT_NAMES)):
        ReadStateFactory.create(installation=installation)
    for _ in range(5):
        IntegrationFactory.create(project=project)
        DestinationFactory.create(project=project)
        JwtKeyFactory.create(project=project)
        ApiKeyFactory.create(project=project)
        ConnectionFactory.create(project=project)
        InstallationFactory.create(integration=integration)
        ProjectFactory.create()

    assert len(repos.provider_apps.list(project.id).items) == len(PROVIDERS)
    assert len(repos.read_states.list(project.id).items) == len(OBJECT_NAMES)
    assert len(repos.installations.list(project.id).items) == 6


def test_rows_made_in_the_seeded_project_do_not_collide_with_the_seeds() -> None:
    """The README's ``ProviderAppFactory.create(project_id=ampdb_seed.project_id)``: the seeds
    hold apps (and cursors) whose keys the cycles would otherwise give first."""
    store, seeds = memory.MemoryStore(), read_seeds()
    load_into_store(store, seeds)
    bundle = memory.repositories(store)
    project_id = seeds.ids.project_id
    seeded_apps = {a.provider for a in bundle.provider_apps.list(project_id).items}
    installation = bundle.installations.list(project_id).items[0]
    seeded_objects = {
        r.object_name
        for r in bundle.read_states.list(project_id).items
        if r.installation_id == installation.id
    }
    assert seeded_apps & set(PROVIDERS[:2])
    assert seeded_objects & set(OBJECT_NAMES[:2])
    factories.reseed(7)  # the cycles start at their first values, which the seeds hold
    with database.use(bundle):
        apps = [ProviderAppFactory.create(project_id=project_id) for _ in range(3)]
        states = [
            ReadStateFactory.create(project_id=project_id, installation_id=installation.id)
            for _ in range(3)
        ]
    assert not {a.provider for a in apps} & seeded_apps
    assert not {s.object_name for s in states} & seeded_objects
    assert ProviderAppFactory.build(project_id=project_id).provider in PROVIDERS


def test_created_rows_are_usable_by_repository_operations(repos: Repositories) -> None:
    operation = OperationFactory.create()
    moved = repos.operations.transition(operation.project_id, operation.id, OperationStatus.RUNNING)
    assert moved.status == OperationStatus.RUNNING

    read_state = ReadStateFactory.create()
    advanced = repos.read_states.upsert(replace(read_state, records_processed=99_999))
    assert advanced.id == read_state.id


def test_create_in_two_use_blocks_writes_to_two_stores() -> None:
    first = memory.repositories(memory.MemoryStore())
    second = memory.repositories(memory.MemoryStore())

    with database.use(first):
        one = ConnectionFactory.create()
    with database.use(second):
        two = ConnectionFactory.create()

    assert first.connections.get_by_id(one.project_id, one.id) == one
    assert second.connections.get_by_id(two.project_id, two.id) == two
    with pytest.raises(NotFoundError):
        second.connections.get_by_id(one.project_id, one.id)
    with pytest.raises(NotFoundError):
        first.projects.get_by_id(two.project_id)


def test_reseed_reproduces_values_and_restarts_sequences() -> None:
    def everything() -> list[Any]:
        return [f.build() for f in ALL_FACTORIES] + [f.build() for f in ALL_FACTORIES]

    factories.reseed(42)
    first = everything()
    factories.reseed(42)
    again = everything()
    factories.reseed(43)
    other = everything()

    assert first == again
    assert all(a != b for a, b in zip(first, other, strict=True))
    assert first[1].name.endswith("-0")  # ProjectFactory's sequence restarted


def test_each_factory_is_typed_as_the_model_it_makes() -> None:
    for each in ALL_FACTORIES:
        for base in each.__orig_bases__:  # XFactory(ProjectScopedFactory[X]): create() -> X
            assert get_args(base) == (each._meta.model,), each.__name__


@pytest.mark.parametrize("strategy", ["build", "create"])
def test_an_unknown_field_is_one_line_listing_the_model_fields(strategy: str) -> None:
    with pytest.raises(TypeError) as info:
        getattr(ConnectionFactory, strategy)(nme="x")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("ConnectionFactory: unknown field 'nme'; Connection has the fields ")
    for name in ("id", "project_id", "provider", "group_ref", "consumer_ref", "status"):
        assert f" {name}," in message or f" {name} " in message
    assert "factory" not in type(info.value).__module__  # not a factory_boy error
    # the declarations and traits a factory takes besides the fields are still accepted
    assert OperationFactory.build(running=True).status.value == "running"
    project = ProjectFactory.build()
    assert ConnectionFactory.build(project=project).project_id == project.id
