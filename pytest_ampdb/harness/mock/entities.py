"""The twelve mock classes and builders: names only, the behaviour is in ``builder``.

Each mock subclasses its interface so mypy sees ``ConnectionBuilder().build()`` as a
``ConnectionRepository`` (with ``calls``); each builder names its mock as its type argument.
"""

from __future__ import annotations

from pytest_ampdb.harness.mock.builder import Builder, RepositoryMock
from pytest_ampdb.types import (
    ApiKeyRepository,
    ConnectionRepository,
    DestinationRepository,
    InstallationRepository,
    IntegrationRepository,
    JwtKeyRepository,
    OperationRepository,
    OrganizationRepository,
    ProjectRepository,
    ProviderAppRepository,
    ReadStateRepository,
    RevisionRepository,
)


class OrganizationMock(RepositoryMock, OrganizationRepository):
    """A mock OrganizationRepository: stubbed methods forward, others raise NotStubbedError."""


class OrganizationBuilder(Builder[OrganizationMock]):
    """Builds OrganizationMock objects: ``OrganizationBuilder().with_<method>(fn).build()``."""


class ProjectMock(RepositoryMock, ProjectRepository):
    """A mock ProjectRepository: stubbed methods forward, others raise NotStubbedError."""


class ProjectBuilder(Builder[ProjectMock]):
    """Builds ProjectMock objects: ``ProjectBuilder().with_<method>(fn).build()``."""


class IntegrationMock(RepositoryMock, IntegrationRepository):
    """A mock IntegrationRepository: stubbed methods forward, others raise NotStubbedError."""


class IntegrationBuilder(Builder[IntegrationMock]):
    """Builds IntegrationMock objects: ``IntegrationBuilder().with_<method>(fn).build()``."""


class RevisionMock(RepositoryMock, RevisionRepository):
    """A mock RevisionRepository: stubbed methods forward, others raise NotStubbedError."""


class RevisionBuilder(Builder[RevisionMock]):
    """Builds RevisionMock objects: ``RevisionBuilder().with_<method>(fn).build()``."""


class InstallationMock(RepositoryMock, InstallationRepository):
    """A mock InstallationRepository: stubbed methods forward, others raise NotStubbedError."""


class InstallationBuilder(Builder[InstallationMock]):
    """Builds InstallationMock objects: ``InstallationBuilder().with_<method>(fn).build()``."""


class OperationMock(RepositoryMock, OperationRepository):
    """A mock OperationRepository: stubbed methods forward, others raise NotStubbedError."""


class OperationBuilder(Builder[OperationMock]):
    """Builds OperationMock objects: ``OperationBuilder().with_<method>(fn).build()``."""


class ConnectionMock(RepositoryMock, ConnectionRepository):
    """A mock ConnectionRepository: stubbed methods forward, others raise NotStubbedError."""


class ConnectionBuilder(Builder[ConnectionMock]):
    """Builds ConnectionMock objects: ``ConnectionBuilder().with_<method>(fn).build()``."""


class ProviderAppMock(RepositoryMock, ProviderAppRepository):
    """A mock ProviderAppRepository: stubbed methods forward, others raise NotStubbedError."""


class ProviderAppBuilder(Builder[ProviderAppMock]):
    """Builds ProviderAppMock objects: ``ProviderAppBuilder().with_<method>(fn).build()``."""


class ApiKeyMock(RepositoryMock, ApiKeyRepository):
    """A mock ApiKeyRepository: stubbed methods forward, others raise NotStubbedError."""


class ApiKeyBuilder(Builder[ApiKeyMock]):
    """Builds ApiKeyMock objects: ``ApiKeyBuilder().with_<method>(fn).build()``."""


class DestinationMock(RepositoryMock, DestinationRepository):
    """A mock DestinationRepository: stubbed methods forward, others raise NotStubbedError."""


class DestinationBuilder(Builder[DestinationMock]):
    """Builds DestinationMock objects: ``DestinationBuilder().with_<method>(fn).build()``."""


class JwtKeyMock(RepositoryMock, JwtKeyRepository):
    """A mock JwtKeyRepository: stubbed methods forward, others raise NotStubbedError."""


class JwtKeyBuilder(Builder[JwtKeyMock]):
    """Builds JwtKeyMock objects: ``JwtKeyBuilder().with_<method>(fn).build()``."""


class ReadStateMock(RepositoryMock, ReadStateRepository):
    """A mock ReadStateRepository: stubbed methods forward, others raise NotStubbedError."""


class ReadStateBuilder(Builder[ReadStateMock]):
    """Builds ReadStateMock objects: ``ReadStateBuilder().with_<method>(fn).build()``."""
