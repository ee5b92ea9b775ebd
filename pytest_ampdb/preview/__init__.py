"""Preview databases: one ``pr-<branch>`` database per branch on a shared PostgreSQL server.

Library API (no pytest): :func:`branch_name` finds the branch, :func:`database_name` names its
preview, :func:`ensure` creates, migrates and seeds it (or applies only what is pending),
:func:`migrate`, :func:`drop`, :func:`list_previews` and :func:`prune` manage them. Only
databases carrying the preview mark (a JSON ``COMMENT ON DATABASE``) are ever touched.
"""

from pytest_ampdb.preview.catalog import PreviewInfo, format_age
from pytest_ampdb.preview.errors import (
    BranchCollisionError,
    BranchNotFoundError,
    HistoryDriftError,
    NotAPreviewError,
    PreviewError,
    PreviewInUseError,
    PreviewLockTimeoutError,
    PreviewNotFoundError,
)
from pytest_ampdb.preview.lifecycle import (
    DEFAULT_LOCK_TIMEOUT,
    SERVER_ENV,
    EnsureReport,
    PruneReport,
    drop,
    ensure,
    list_previews,
    migrate,
    prune,
)
from pytest_ampdb.preview.locking import lock_key
from pytest_ampdb.preview.naming import BRANCH_ENV, branch_name, database_name, printable

__all__ = [
    "BRANCH_ENV",
    "DEFAULT_LOCK_TIMEOUT",
    "SERVER_ENV",
    "BranchCollisionError",
    "BranchNotFoundError",
    "EnsureReport",
    "HistoryDriftError",
    "NotAPreviewError",
    "PreviewError",
    "PreviewInUseError",
    "PreviewInfo",
    "PreviewLockTimeoutError",
    "PreviewNotFoundError",
    "PruneReport",
    "branch_name",
    "database_name",
    "drop",
    "ensure",
    "format_age",
    "list_previews",
    "lock_key",
    "migrate",
    "printable",
    "prune",
]
