"""Errors of the provisioning layer, so callers can tell "no PostgreSQL here" from a broken one.

``BinariesNotFoundError`` is separate because a test suite reacts to it differently (skip locally,
fail in CI) from a server that was found but would not start.
"""

from __future__ import annotations

from pytest_ampdb.errors import AmpdbError


class ProvisioningError(AmpdbError):
    """A PostgreSQL server could not be found, initialised, started, reached or stopped."""


class BinariesNotFoundError(ProvisioningError):
    """No PostgreSQL server binaries of the wanted major version were found in any place looked."""
