"""Errors of preview databases: each one line naming the preview, the branch or the file at fault.

All derive from :class:`pytest_ampdb.errors.AmpdbError`, so the CLI (and the plugin) print any of
them as one line without a traceback.
"""

from __future__ import annotations

from pytest_ampdb.errors import AmpdbError

RECREATE_HINT = "use --recreate to rebuild the preview from scratch"


class PreviewError(AmpdbError):
    """Base class of every error the preview layer raises on purpose."""


class BranchNotFoundError(PreviewError):
    """No branch name was given and none could be found in the environment or in git."""


class NotAPreviewError(PreviewError):
    """A database exists under a preview's name but carries no preview mark: never touched."""

    def __init__(self, database: str, what: str = "touch") -> None:
        self.database = database
        super().__init__(
            f"database {database!r} exists but is not marked as an ampdb preview; "
            f"refusing to {what} it"
        )


class PreviewNotFoundError(PreviewError):
    """The preview asked for does not exist on the server."""

    def __init__(self, database: str, branch: str | None = None) -> None:
        self.database = database
        self.branch = branch
        of = f" of branch {branch!r}" if branch is not None else ""
        super().__init__(f"no preview {database!r}{of} on this server")


class BranchCollisionError(PreviewError):
    """The preview under this name belongs to another branch whose name slugs the same."""

    def __init__(self, database: str, owner: str, branch: str, hint: str = RECREATE_HINT) -> None:
        self.database = database
        self.owner = owner
        self.branch = branch
        super().__init__(
            f"preview {database!r} belongs to branch {owner!r}, not {branch!r} "
            f"(both names map to the same database); {hint}"
        )


class HistoryDriftError(PreviewError):
    """A migration already applied to the preview was edited or removed since.

    ``reason`` is ``"changed"`` or ``"removed"``; ``file`` is the migration file name.
    Atlas would silently ignore an edited, fully applied file; a preview refuses on purpose,
    because its schema would no longer be what the branch's migrations describe.
    """

    def __init__(self, database: str, file: str, reason: str) -> None:
        self.database = database
        self.file = file
        self.reason = reason
        if reason == "removed":
            what = f"migration {file} was applied to preview {database!r} but is no longer there"
        else:
            what = f"migration {file} changed after it was applied to preview {database!r}"
        super().__init__(f"{what}; {RECREATE_HINT}")


class PreviewInUseError(PreviewError):
    """The preview has live connections and dropping it was not forced."""

    def __init__(self, database: str, connections: int) -> None:
        self.database = database
        self.connections = connections
        plural = "" if connections == 1 else "s"
        super().__init__(
            f"preview {database!r} has {connections} live connection{plural}; "
            "refusing to drop it (use --force to drop it anyway)"
        )


class PreviewLockTimeoutError(PreviewError):
    """Another process held the preview's lock (creating or migrating it) for too long."""

    def __init__(self, database: str, timeout: float) -> None:
        self.database = database
        self.timeout = timeout
        super().__init__(
            f"preview {database!r} is locked by another process (creating, migrating or "
            f"dropping it); gave up after {timeout:g}s"
        )
