"""Has a migration file that was applied been edited or removed since?

The revisions table keeps, per applied file, the running ``atlas.sum`` hash of that file. Those
hashes are compared with the directory's. Atlas skips an edited, fully applied file without a
word; ``ampdb migrate apply`` refuses it (the database no longer matches the files, and
re-hashing ``atlas.sum`` hid the edit), and a preview asks for a rebuild.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pytest_ampdb.migrations.checksum import compute_entries
from pytest_ampdb.migrations.directory import MigrationFile
from pytest_ampdb.migrations.revisions import Revision

Drift = tuple[str, Literal["changed", "removed"]]


def drift(files: Sequence[MigrationFile], revisions: Sequence[Revision]) -> Drift | None:
    """The first applied file that changed or is gone, and how; ``None`` when all match.

    Hashes are running hashes, so an edit also changes every later file's hash, and a file added
    *before* applied ones (out of order) changes the applied ones after it. The hashes are
    therefore compared twice: against the whole directory (the common case: everything matches),
    then, if anything differs, against a chain over the applied files alone, which ignores files
    added out of order (the engine reports those) and pins an edit on its own file.
    """
    by_version = {f.version: f for f in files}
    checked = [r for r in revisions if r.hash]
    for rev in revisions:
        if rev.version not in by_version:
            return revision_name(rev), "removed"
    if all(by_version[r.version].hash == r.hash for r in checked):
        return None
    applied = sorted(
        (f for f in files if f.version in {r.version for r in revisions}),
        key=lambda f: f.name.encode("utf-8", "surrogateescape"),
    )
    chain = {
        entry.name.decode("utf-8", "surrogateescape"): entry.hash
        for entry in compute_entries(
            [(f.name.encode("utf-8", "surrogateescape"), f.content) for f in applied]
        )
    }
    for rev in checked:
        f = by_version[rev.version]
        if chain.get(f.name, "") != rev.hash:
            return f.name, "changed"
    return None


def revision_name(rev: Revision) -> str:
    """The file name a revision row stands for."""
    return f"{rev.version}_{rev.description}.sql" if rev.description else f"{rev.version}.sql"
