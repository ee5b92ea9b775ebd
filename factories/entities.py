"""The twelve entity factories: only their field values; saving and parents are in ``base``.

Every project-scoped factory takes ``project_id=...`` or ``project=<Project>``; a child also takes
its parents as objects (``InstallationFactory(integration=..., connection=...)``) or as ids.
Without them it makes a new project and the parents it needs, all in that one project.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pytest_ampdb.models import (
    ApiKey,
    ApiKeyScope,
    AuthScheme,
    Connection,
    ConnectionStatus,
    Destination,
    DestinationType,
    HealthStatus,
    Installation,
    Integration,
    JwtAlgorithm,
    JwtKey,
    Operation,
    OperationStatus,
    OperationType,
    Organization,
    Project,
    ProviderApp,
    ReadState,
    Revision,
)

from . import values
from ._boy import factory
from .base import (
    AmpdbFactory,
    M,
    ParentId,
    UnusedInProject,
    given_or,
    parent_id,
    project_id_from,
    rng,
)


def _provider() -> Any:
    return factory.Faker("random_element", elements=values.PROVIDERS)


def _object_name() -> Any:
    return factory.Faker("random_element", elements=values.OBJECT_NAMES)


def _schedule() -> Any:
    return factory.Faker("random_element", elements=values.SCHEDULES)


class OrganizationFactory(AmpdbFactory[Organization]):
    """An organization named after a company."""

    class Meta:
        model = Organization

    label = factory.Faker("company")
    default_team_id = factory.Faker("uuid4")


class ProjectFactory(AmpdbFactory[Project]):
    """A project with a unique slug name, in a new organization unless one is given."""

    class Meta:
        model = Project

    class Params:
        organization = None
        company = factory.Faker("company")

    name = factory.LazyAttributeSequence(lambda o, n: f"{values.slugify(o.company)}-{n}")
    app_name = factory.LazyAttribute(lambda o: f"{o.company} Sync")
    organization_id = given_or(
        "organization",
        "id",
        ParentId(OrganizationFactory, label=factory.SelfAttribute("..company")),
    )


class ProjectScopedFactory(AmpdbFactory[M]):
    """Base of the factories whose rows live in a project (``project=`` or ``project_id=``)."""

    class Meta:
        abstract = True

    class Params:
        project = None

    project_id = project_id_from()


class IntegrationFactory(ProjectScopedFactory[Integration]):
    """An integration reading one object from a provider."""

    class Meta:
        model = Integration

    class Params:
        object_name = _object_name()

    name = factory.LazyAttributeSequence(lambda o, n: f"read-{o.object_name}s-{n}")
    provider = _provider()
    latest_revision_id = None


class RevisionFactory(ProjectScopedFactory[Revision]):
    """A revision of an integration (given as ``integration=`` or made in the project)."""

    class Meta:
        model = Revision

    class Params:
        integration = None
        provider = given_or("integration", "provider", _provider())
        object_name = _object_name()
        schedule = _schedule()

    project_id = project_id_from("integration")
    integration_id = parent_id(
        "integration", "IntegrationFactory", provider=factory.SelfAttribute("..provider")
    )
    spec_version = "1.0.0"
    content = factory.LazyAttribute(
        lambda o: values.revision_content(o.provider, o.object_name, o.schedule)
    )


class ConnectionFactory(ProjectScopedFactory[Connection]):
    """A working OAuth connection of one customer (group) and end user (consumer)."""

    class Meta:
        model = Connection

    class Params:
        provider_app = None
        company = factory.Faker("company")

    project_id = project_id_from("provider_app")
    provider = given_or("provider_app", "provider", _provider())
    provider_app_id = given_or("provider_app", "id", None)
    group_ref = factory.LazyAttributeSequence(lambda o, n: f"{values.slugify(o.company)}-{n}")
    group_name = factory.SelfAttribute("company")
    consumer_ref = factory.Sequence(lambda n: f"user-{n + 100}")
    consumer_name = factory.Faker("name")
    auth_scheme = AuthScheme.OAUTH2_AUTHORIZATION_CODE
    status = ConnectionStatus.WORKING
    provider_workspace_ref = None
    provider_metadata = None


class InstallationFactory(ProjectScopedFactory[Installation]):
    """An installation of an integration for one customer, over that customer's connection."""

    class Meta:
        model = Installation

    class Params:
        integration = None
        connection = None
        provider = given_or(
            "integration", "provider", given_or("connection", "provider", _provider())
        )
        company = factory.Faker("company")
        consumer_ref = given_or(
            "connection",
            "consumer_ref",
            factory.LazyAttributeSequence(lambda o, n: f"user-{n + 100}"),
        )
        object_name = _object_name()
        schedule = _schedule()

    project_id = project_id_from("integration", "connection")
    group_ref = given_or(
        "connection",
        "group_ref",
        factory.LazyAttributeSequence(lambda o, n: f"{values.slugify(o.company)}-{n}"),
    )
    group_name = given_or("connection", "group_name", factory.SelfAttribute("company"))
    integration_id = parent_id(
        "integration", "IntegrationFactory", provider=factory.SelfAttribute("..provider")
    )
    connection_id = parent_id(
        "connection",
        "ConnectionFactory",
        provider=factory.SelfAttribute("..provider"),
        group_ref=factory.SelfAttribute("..group_ref"),
        company=factory.SelfAttribute("..group_name"),
        consumer_ref=factory.SelfAttribute("..consumer_ref"),
    )
    health_status = HealthStatus.HEALTHY
    last_operation_status = None
    config = factory.LazyAttribute(
        lambda o: values.installation_config(o.provider, o.object_name, o.schedule)
    )
    created_by = factory.LazyAttribute(lambda o: values.created_by(rng(), o.consumer_ref))


class OperationFactory(ProjectScopedFactory[Operation]):
    """A pending operation of an installation; traits ``running``, ``completed``, ``failed``."""

    class Meta:
        model = Operation

    class Params:
        installation = None
        integration = None
        provider = given_or("integration", "provider", _provider())
        object_name = _object_name()
        running = factory.Trait(status=OperationStatus.RUNNING)
        completed = factory.Trait(status=OperationStatus.COMPLETED)
        failed = factory.Trait(status=OperationStatus.FAILED)

    id = factory.Sequence(lambda n: values.uuid7(rng(), n))
    project_id = project_id_from("installation", "integration")
    integration_id = given_or(
        "installation",
        "integration_id",
        parent_id(
            "integration", "IntegrationFactory", provider=factory.SelfAttribute("..provider")
        ),
    )
    installation_id = parent_id(
        "installation",
        "InstallationFactory",
        integration_id=factory.SelfAttribute("..integration_id"),
        provider=factory.SelfAttribute("..provider"),
        object_name=factory.SelfAttribute("..object_name"),
    )
    type = factory.Faker("random_element", elements=tuple(OperationType))
    status = OperationStatus.PENDING
    result = factory.LazyAttribute(
        lambda o: values.operation_result(
            rng(), OperationType(o.type), OperationStatus(o.status), o.object_name
        )
    )
    metadata = factory.LazyAttribute(lambda o: {"objectName": o.object_name})


class ProviderAppFactory(UnusedInProject[ProviderApp], ProjectScopedFactory[ProviderApp]):
    """A provider OAuth app; providers cycle, skipping those the project already has an app for."""

    class Meta:
        model = ProviderApp

    _cycled = "provider"
    _choices = values.PROVIDERS

    provider = factory.Sequence(lambda n: values.PROVIDERS[n % len(values.PROVIDERS)])
    client_id = factory.LazyFunction(lambda: values.secret(rng(), 32))
    client_secret = factory.LazyFunction(lambda: values.secret(rng(), 48))
    scopes = factory.LazyAttribute(
        lambda o: values.PROVIDER_SCOPES.get(o.provider, values.DEFAULT_SCOPES)
    )
    external_ref = None
    metadata = None


class ApiKeyFactory(ProjectScopedFactory[ApiKey]):
    """An active ``full`` API key with a random secret."""

    class Meta:
        model = ApiKey

    class Params:
        owner = factory.Faker("first_name")

    key = factory.LazyFunction(lambda: values.secret(rng(), 40))
    label = factory.LazyAttribute(lambda o: f"{o.owner}'s key")
    active = True
    scopes = (ApiKeyScope.FULL.value,)


class DestinationFactory(ProjectScopedFactory[Destination]):
    """A webhook destination with an https URL."""

    class Meta:
        model = Destination

    class Params:
        event = factory.Faker("random_element", elements=values.WEBHOOK_EVENTS)
        provider = _provider()
        domain = factory.Faker("domain_name")

    name = factory.LazyAttributeSequence(lambda o, n: f"{o.event}-webhook-{n}")
    type = DestinationType.WEBHOOK
    metadata = factory.LazyAttribute(
        lambda o: {"url": f"https://webhooks.{o.domain}/{o.provider}-{o.event}"}
    )


class JwtKeyFactory(ProjectScopedFactory[JwtKey]):
    """An active RS256 verification key in PEM form."""

    class Meta:
        model = JwtKey

    class Params:
        company = factory.Faker("company")

    label = factory.LazyAttributeSequence(lambda o, n: f"{o.company} signing key {n}"[-255:])
    algorithm = JwtAlgorithm.RS256.value
    public_key_pem = factory.LazyFunction(lambda: values.public_key_pem(rng()))
    active = True


class ReadStateFactory(UnusedInProject[ReadState], ProjectScopedFactory[ReadState]):
    """How far an installation has read one object; objects cycle, skipping those the
    installation already has a cursor for."""

    class Meta:
        model = ReadState

    _cycled = "object_name"
    _choices = values.OBJECT_NAMES
    _alongside = ("installation_id",)

    class Params:
        installation = None

    project_id = project_id_from("installation")
    installation_id = parent_id("installation", "InstallationFactory")
    object_name = factory.Sequence(lambda n: values.OBJECT_NAMES[n % len(values.OBJECT_NAMES)])
    next_page_token = factory.LazyFunction(lambda: values.page_token(rng()))
    since_time = factory.Faker(
        "date_time_between_dates",
        datetime_start=datetime(2025, 1, 1, tzinfo=UTC),
        datetime_end=datetime(2026, 1, 1, tzinfo=UTC),
        tzinfo=UTC,
    )
    records_processed = factory.Faker("random_int", min=0, max=5000)


ALL_FACTORIES: tuple[type[AmpdbFactory[Any]], ...] = (
    OrganizationFactory,
    ProjectFactory,
    IntegrationFactory,
    RevisionFactory,
    InstallationFactory,
    OperationFactory,
    ConnectionFactory,
    ProviderAppFactory,
    ApiKeyFactory,
    DestinationFactory,
    JwtKeyFactory,
    ReadStateFactory,
)
"""The twelve factories, in the public order of ``Repositories``."""
