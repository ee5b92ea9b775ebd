"""Has a migration file that was applied been edited or removed since?

The revisions table keeps, per applied file, the running ``atlas.sum`` hash of that file. Those
hashes are compared with the directory's. Atlas skips an edited, fully applied file without a
word; ``ampdb migrate apply`` refuses it (the database no longer matches the files, and
re-hashing ``atlas.sum`` hid the edit), and a preview asks for a rebuild.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal

from pytest_ampdb.migrations.checksum import compute_entries
from pytest_ampdb.migrations.directory import MigrationFile
from pytest_ampdb.migrations.revisions import Revision

Drift = tuple[str, Literal["changed", "removed"]]


def drift(files: Sequence[MigrationFile], revisions: Sequence[Revision]) -> Drift | None:
    """The first applied file that changed or is gone, and how; ``None`` when all match.

    A revision stores the running ``atlas.sum`` hash of its file as it was when it ran, over the
    files that preceded it *then*. Files added before it later (out of order, run with
    ``--exec-order non-linear`` or skipped) change the running hash without any edit, so each
    file is judged by its own hash: it matches if its stored hash is the running hash over some
    set of predecessors it can have had when it ran (see :func:`_predecessor_sets`).
    """
    by_version = {f.version: f for f in files}
    for rev in revisions:
        if rev.version not in by_version:
            return revision_name(rev), "removed"
    checked = [r for r in revisions if r.hash and by_version[r.version].hash != r.hash]
    if not checked:  # the common case: the directory's own hashes match every row
        return None
    ran_at = {r.version: (r.executed_at, _key(r.version)) for r in revisions}
    ordered = sorted(files, key=lambda f: _key(f.name))
    for rev in checked:
        f = by_version[rev.version]
        before = [g for g in ordered if _key(g.name) < _key(f.name)]
        if not any(
            _running_hash([*preds, f]) == rev.hash
            for preds in _predecessor_sets(before, ran_at, ran_at[rev.version])
        ):
            return f.name, "changed"
    return None


def _predecessor_sets(
    before: Sequence[MigrationFile],
    ran_at: dict[str, tuple[dt.datetime, bytes]],
    when: tuple[dt.datetime, bytes],
) -> list[list[MigrationFile]]:
    """The files that may have preceded a file when it ran, most likely first.

    Files that ran later than it were added after it (out of order); files never applied were
    either there all along (before a checkpoint, or skipped) or added later and skipped.
    """
    not_later = [g for g in before if ran_at.get(g.version, when) <= when]
    applied_earlier = [g for g in not_later if g.version in ran_at]
    return [not_later, applied_earlier]


def _running_hash(chain: Sequence[MigrationFile]) -> str:
    entries = compute_entries([(_key(g.name), g.content) for g in chain])
    return entries[-1].hash if entries else ""


def _key(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def revision_name(rev: Revision) -> str:
    """The file name a revision row stands for."""
    return f"{rev.version}_{rev.description}.sql" if rev.description else f"{rev.version}.sql"
