"""Mock builders for unit tests: one per entity, stubs checked against the interface.

``mock.ConnectionBuilder().with_get_by_id(fn).build()`` gives an object usable as a
``ConnectionRepository``: stubbed methods forward to their stub, the others raise
``NotStubbedError``, and every call is recorded in ``built.calls``.
"""

from pytest_ampdb.harness.mock.builder import Builder, Call, RepositoryMock
from pytest_ampdb.harness.mock.entities import (
    ApiKeyBuilder,
    ApiKeyMock,
    ConnectionBuilder,
    ConnectionMock,
    DestinationBuilder,
    DestinationMock,
    InstallationBuilder,
    InstallationMock,
    IntegrationBuilder,
    IntegrationMock,
    JwtKeyBuilder,
    JwtKeyMock,
    OperationBuilder,
    OperationMock,
    OrganizationBuilder,
    OrganizationMock,
    ProjectBuilder,
    ProjectMock,
    ProviderAppBuilder,
    ProviderAppMock,
    ReadStateBuilder,
    ReadStateMock,
    RevisionBuilder,
    RevisionMock,
)
from pytest_ampdb.harness.mock.errors import NotStubbedError
from pytest_ampdb.harness.mock.helpers import builder_for, repositories

__all__ = [
    "ApiKeyBuilder",
    "ApiKeyMock",
    "Builder",
    "Call",
    "ConnectionBuilder",
    "ConnectionMock",
    "DestinationBuilder",
    "DestinationMock",
    "InstallationBuilder",
    "InstallationMock",
    "IntegrationBuilder",
    "IntegrationMock",
    "JwtKeyBuilder",
    "JwtKeyMock",
    "NotStubbedError",
    "OperationBuilder",
    "OperationMock",
    "OrganizationBuilder",
    "OrganizationMock",
    "ProjectBuilder",
    "ProjectMock",
    "ProviderAppBuilder",
    "ProviderAppMock",
    "ReadStateBuilder",
    "ReadStateMock",
    "RepositoryMock",
    "RevisionBuilder",
    "RevisionMock",
    "builder_for",
    "repositories",
]
