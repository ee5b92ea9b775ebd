"""factory_boy factories for the twelve entities, saving through ``pytest_ampdb.database``.

``XFactory.build()`` makes an unsaved model; ``XFactory.create()`` saves it (parents first)
through the repositories in effect, so the same call works on either backend and inside any
``database.use(...)`` block. ``reseed(n)`` makes every value that follows reproducible.
"""

from __future__ import annotations

from factories._boy import factory
from factories.base import AmpdbFactory
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


def reseed(seed: int) -> None:
    """Seed Faker and factory_boy's random generator and restart every factory's sequence.

    The plugin calls this before each test with a per-test seed, so a failing test's values
    (names, ids, tokens) are the same when it is run again with the same seed.
    """
    factory.random.reseed_random(seed)
    for each in ALL_FACTORIES:
        each.reset_sequence()


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
