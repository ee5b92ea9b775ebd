"""``migrate rebase``: move files to the end of the history with new versions.

After merging main, a branch's migration can sit before files main added meanwhile; a database
that already ran main's files then sees it as out of order. Rebasing gives the branch's files new
versions after every other file (keeping their descriptions and contents) and re-hashes
``atlas.sum``. A file some database already ran must keep its version, so such files are refused.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_ampdb.migrations.checksum import write_sum
from pytest_ampdb.migrations.directory import MigrationDir, MigrationFile
from pytest_ampdb.migrations.errors import DirectoryError, UsageError, go_quote

STAMP = "%Y%m%d%H%M%S"


@dataclass(frozen=True)
class Moved:
    """One rebased file: its old and new name."""

    old: str
    new: str


def rebase(
    directory: str | os.PathLike[str],
    versions: Sequence[str],
    *,
    applied: Collection[str] = (),
    now: dt.datetime | None = None,
) -> list[Moved]:
    """Give the files of ``versions`` new versions after every other file, in their order.

    ``applied`` holds the versions a database has run (refused: renaming them would run them
    again there). The directory must be valid first, as for ``migrate new``.
    """
    if not versions:
        raise UsageError("requires at least 1 arg(s), only received 0")
    mdir = MigrationDir(directory)
    mdir.validate()
    files = mdir.files()
    by_version = {f.version: f for f in files}
    for version in versions:
        if version not in by_version:
            raise UsageError(f"migration with version {go_quote(version)} not found")
        if version in applied:
            raise DirectoryError(
                f"migration file {go_quote(by_version[version].name)} was already applied to "
                "the database: rebasing it would run it there a second time"
            )
    moving = sorted({by_version[v].name: by_version[v] for v in versions}.values(), key=_sort_key)
    latest = max(f.version for f in files)
    moved: list[Moved] = []
    stamp = _first_stamp(latest, now or dt.datetime.now(dt.UTC))
    for f in moving:
        new = f"{stamp}_{f.description}.sql" if f.description else f"{stamp}.sql"
        moved.append(Moved(f.name, new))
        stamp = _next(stamp)
    path = Path(directory)
    for m in moved:
        (path / m.old).rename(path / m.new)
    write_sum(path)
    return moved


def _first_stamp(latest: str, now: dt.datetime) -> str:
    """A ``YYYYMMDDHHMMSS`` version after ``latest`` (now, or latest plus one)."""
    stamp = now.strftime(STAMP)
    if stamp > latest:
        return stamp
    if not latest.isdigit():
        raise DirectoryError(
            f"cannot choose a version after {go_quote(latest)}: it is not a number"
        )
    return _next(latest)


def _next(version: str) -> str:
    """The version one second (a timestamp) or one (any other number) after ``version``."""
    try:
        return (dt.datetime.strptime(version, STAMP) + dt.timedelta(seconds=1)).strftime(STAMP)
    except ValueError:
        return str(int(version) + 1).zfill(len(version))


def _sort_key(f: MigrationFile) -> bytes:
    return f.name.encode("utf-8", "surrogateescape")
