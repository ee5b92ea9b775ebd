"""factory_boy factories for the twelve entities, saving through ``pytest_ampdb.database``.

``XFactory.build()`` makes an unsaved model; ``XFactory.create()`` saves it (parents first)
through the repositories in effect, so the same call works on either backend and inside any
``database.use(...)`` block. ``reseed(n)`` makes every value that follows reproducible.

The repository keeps them in its top-level ``factories/`` folder; the wheel installs that folder
as ``pytest_ampdb.factories`` (a downstream project's own ``factories`` module stays its own).
"""

from __future__ import annotations

if __name__ == "factories":  # the checkout's folder on sys.path: a second copy, its own sequences
    raise ImportError("pytest-ampdb's factories are imported as pytest_ampdb.factories")

from .base import AmpdbFactory, factory_for, parent_id, project_id_from, reseed
from .entities import (
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
    "factory_for",
    "parent_id",
    "project_id_from",
    "reseed",
]
