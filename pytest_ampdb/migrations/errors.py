"""Errors of the migration engine, worded as Atlas words them.

Every class derives from :class:`pytest_ampdb.errors.AmpdbError`, so the CLI (and any caller) can
catch one base class and print one line. The message texts follow Atlas's own (``sql/migrate``,
``cmd/atlas``) without its ``sql/migrate:`` package prefixes, so a user who knows Atlas's output
recognises every failure.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from pytest_ampdb.errors import AmpdbError


class MigrationError(AmpdbError):
    """Base class of every error the migration engine raises on purpose.

    ``report`` is set to the partial :class:`~pytest_ampdb.migrations.executor.ApplyReport` when
    the error stops an apply midway, so a caller can still show what ran.
    """

    report: Any = None


class ChecksumError(MigrationError):
    """The directory and its ``atlas.sum`` disagree (or the sum file is missing or malformed).

    ``kind`` is one of ``"not_found"``, ``"format"``, ``"mismatch"``. For a mismatch located to a
    file, ``line`` (1-based line of atlas.sum), ``file`` and ``reason`` (``added``, ``edited``,
    ``removed``) are set, as in Atlas's ``ChecksumError``.
    """

    MESSAGES = {
        "not_found": "checksum file not found",
        "format": "checksum file format invalid",
        "mismatch": "checksum mismatch",
    }

    def __init__(
        self,
        kind: str,
        *,
        line: int | None = None,
        file: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.kind = kind
        self.line = line
        self.file = file
        self.reason = reason
        message = self.MESSAGES[kind]
        if file is not None:
            message = f"{message}: L{line}: {file} was {reason}"
        super().__init__(message)

    def atlas_report(self, directory: object = "DIR") -> list[str]:
        """The lines Atlas prints for this error (``atlas migrate validate`` and friends), the
        hint naming our own command for ``directory``, the one a user of ``ampdb`` has."""
        lines = ["You have a checksum error in your migration directory."]
        if self.file is not None:
            lines.append(f"L{self.line}: {self.file} was {self.reason}")
        lines.append(f"Please check your migration files and run {rehash_hint(directory)}")
        return lines


def rehash_hint(directory: object = "DIR") -> str:
    """What re-hashes ``directory`` after a deliberate edit: ``ampdb migrate hash --dir ...``."""
    quoted = shlex.quote(str(directory)) if directory != "DIR" else "DIR"
    return f"'ampdb migrate hash --dir {quoted}' to re-hash the contents"


class ScanError(MigrationError):
    """A statement of a migration file cannot be split (``L:C: unexpected ')'`` and friends)."""

    def __init__(self, line: int, column: int, message: str) -> None:
        self.line = line
        self.column = column
        self.detail = message
        super().__init__(f"{line}:{column}: {message}")


class FileScanError(MigrationError):
    """A :class:`ScanError` located in a named migration file."""

    def __init__(self, name: str, cause: ScanError) -> None:
        self.name = name
        self.cause = cause
        super().__init__(f"scanning statements from {go_quote(name)}: {cause}")


class DirectiveError(MigrationError):
    """A file directive (``atlas:txmode`` ...) is invalid or conflicts with the command line."""


class DirectoryError(MigrationError):
    """The migration directory is missing or unreadable, or a new file cannot be created."""


class UsageError(MigrationError):
    """An option value is invalid (unknown tx mode, baseline with allow-dirty ...)."""


class NotCleanError(MigrationError):
    """The database has objects but no revisions, and neither baseline nor allow-dirty was given."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"connected database is not clean: {reason}. "
            "baseline version or allow-dirty is required"
        )


class LockTimeoutError(MigrationError):
    """Another apply holds the advisory lock for longer than the lock timeout."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(
            f"acquiring database lock: lock is held by other session (waited {timeout:g}s)"
        )


class HistoryChangedError(MigrationError):
    """A statement already applied from a partially applied file was edited since."""

    def __init__(self, name: str, stmt: int) -> None:
        self.name = name
        self.stmt = stmt
        super().__init__(f"history changed: statement {stmt} from file {go_quote(name)} changed")


class AppliedFileEditedError(MigrationError):
    """A fully applied file was edited (and atlas.sum re-hashed) since it ran."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"migration file {go_quote(name)} was edited after it was applied: the database no "
            "longer matches it; restore the file and add a new migration for the change"
        )


class HistoryNonLinearError(MigrationError):
    """Files were added before the last applied version (exec order ``linear``)."""

    def __init__(self, out_of_order: Sequence[str], pending: Sequence[str]) -> None:
        self.out_of_order = list(out_of_order)
        self.pending = list(pending)
        if len(self.out_of_order) == 1:
            what = f"file {self.out_of_order[0]} was"
        else:
            what = f"files {', '.join(self.out_of_order)} were"
        super().__init__(
            f"migration {what} added out of order. "
            "See: https://atlasgo.io/versioned/apply#non-linear-error"
        )


class MissingMigrationError(MigrationError):
    """The last revision is partial but its file is gone from the directory."""

    def __init__(self, version: str, description: str) -> None:
        self.version = version
        self.description = description
        name = f"{version}_{description}.sql"
        super().__init__(
            f"missing migration: revision {go_quote(name)} is partially applied "
            "but migration file was not found"
        )


class StatementError(MigrationError):
    """A statement of a migration file failed on PostgreSQL."""

    def __init__(self, stmt: str, version: str, name: str, pg_error: str, sqlstate: str | None):
        self.stmt = stmt
        self.version = version
        self.name = name
        self.pg_error = pg_error
        self.sqlstate = sqlstate
        super().__init__(
            f"executing statement {go_quote(stmt)} from version {go_quote(version)}: {pg_error}"
        )


def go_quote(text: str) -> str:
    """Quote like Go's ``%q``: double quotes, backslash escapes, one line whatever the input."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\a":
            out.append("\\a")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\v":
            out.append("\\v")
        elif 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable() and code > 0x7F:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)
