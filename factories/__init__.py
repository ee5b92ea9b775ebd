"""factory_boy factories for the twelve entities, saving through ``pytest_ampdb.database``.

``XFactory.build()`` makes an unsaved model; ``XFactory.create()`` saves it (parents first)
through the repositories in effect, so the same call works on either backend and inside any
``database.use(...)`` block. ``reseed(n)`` makes every value that follows reproducible.
"""

from __future__ import annotations

from factories.base import AmpdbFactory, reseed
from factories.entities import (
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
    ProjectScopedFactory,
    ProviderAppFactory,
    ReadStateFactory,
    RevisionFactory,
)

__all__ = [
    "ALL_FACTORIES",
    "AmpdbFactory",
    "ApiKeyFactory",
    "ConnectionFactory",
    "DestinationFactory",
    "InstallationFactory",
    "IntegrationFactory",
    "JwtKeyFactory",
    "OperationFactory",
    "OrganizationFactory",
    "ProjectFactory",
    "ProjectScopedFactory",
    "ProviderAppFactory",
    "ReadStateFactory",
    "RevisionFactory",
    "reseed",
]
