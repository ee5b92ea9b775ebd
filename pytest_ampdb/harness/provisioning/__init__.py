"""Provisioning: where the PostgreSQL server behind a test run comes from.

Library code, usable without pytest. ``local`` runs a cluster from the PostgreSQL binaries on this
machine, ``container`` a testcontainers PostgresContainer (imported only when used: Docker's
libraries cost start-up time), ``preview`` a branch's preview database on a shared server;
``select`` picks one of them (or a given DSN); each ends as a ``server.Server``.
"""

from pytest_ampdb.harness.provisioning.binaries import PgBinaries, find_binaries
from pytest_ampdb.harness.provisioning.errors import BinariesNotFoundError, ProvisioningError
from pytest_ampdb.harness.provisioning.local import (
    DEFAULT_SETTINGS,
    InitdbCache,
    LocalCluster,
    default_base_dir,
    default_cache_dir,
    ensure_initdb_cache,
    sweep_orphans,
)

__all__ = [
    "DEFAULT_SETTINGS",
    "BinariesNotFoundError",
    "InitdbCache",
    "LocalCluster",
    "PgBinaries",
    "ProvisioningError",
    "default_base_dir",
    "default_cache_dir",
    "ensure_initdb_cache",
    "find_binaries",
    "sweep_orphans",
]
