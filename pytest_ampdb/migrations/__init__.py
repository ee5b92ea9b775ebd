"""An Atlas-compatible migration engine for PostgreSQL, usable without pytest.

A directory that ``atlas`` manages can be hashed, validated and applied here with the same
``atlas.sum``, the same statements, the same revisions table and the same advisory lock, so the
two tools can take turns on one database.
"""

from __future__ import annotations

from pytest_ampdb.migrations.checksum import hash_dir, write_sum
from pytest_ampdb.migrations.directory import MigrationDir, MigrationFile, new_file, validate_dir
from pytest_ampdb.migrations.errors import (
    AppliedFileEditedError,
    ChecksumError,
    DirectiveError,
    DirectoryError,
    FileScanError,
    HistoryChangedError,
    HistoryNonLinearError,
    LockTimeoutError,
    MigrationError,
    MissingMigrationError,
    NotCleanError,
    ScanError,
    StatementError,
    UsageError,
)
from pytest_ampdb.migrations.executor import (
    AppliedFile,
    ApplyReport,
    SetReport,
    Status,
    apply,
    set_revision,
    status,
)
from pytest_ampdb.migrations.rebase import Moved, rebase
from pytest_ampdb.migrations.revisions import Revision
from pytest_ampdb.migrations.splitter import Statement, split_statements
from pytest_ampdb.paths import migrations_dir as default_migrations_dir

__all__ = [
    "AppliedFile",
    "AppliedFileEditedError",
    "ApplyReport",
    "ChecksumError",
    "DirectiveError",
    "DirectoryError",
    "FileScanError",
    "HistoryChangedError",
    "HistoryNonLinearError",
    "LockTimeoutError",
    "MigrationDir",
    "MigrationError",
    "MigrationFile",
    "MissingMigrationError",
    "Moved",
    "NotCleanError",
    "Revision",
    "ScanError",
    "SetReport",
    "Statement",
    "StatementError",
    "Status",
    "UsageError",
    "apply",
    "default_migrations_dir",
    "hash_dir",
    "new_file",
    "rebase",
    "set_revision",
    "split_statements",
    "status",
    "validate_dir",
    "write_sum",
]
