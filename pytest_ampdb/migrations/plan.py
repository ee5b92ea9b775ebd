"""Which files are pending: Atlas's ``Executor.Pending`` rules, without touching the database.

Kept apart from execution so ``status`` (no lock, no writes) and ``apply`` (lock, writes) compute
pending files with exactly the same rules: first run on an empty database, checkpoints, baseline,
partially applied files, and files added out of order under each execution order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pytest_ampdb.migrations.directory import MigrationFile
from pytest_ampdb.migrations.errors import (
    HistoryNonLinearError,
    MissingMigrationError,
    UsageError,
)
from pytest_ampdb.migrations.revisions import Revision

LINEAR = "linear"
LINEAR_SKIP = "linear-skip"
NON_LINEAR = "non-linear"
EXEC_ORDERS = (LINEAR, LINEAR_SKIP, NON_LINEAR)


@dataclass
class Plan:
    """The outcome of the pending computation.

    ``baseline`` is the file a first run must record as baseline (the caller writes the row).
    ``out_of_order`` lists files added before the last revision (run first under non-linear,
    ignored under linear-skip; under linear the computation raises instead).
    """

    pending: list[MigrationFile] = field(default_factory=list)
    baseline: MigrationFile | None = None
    out_of_order: list[MigrationFile] = field(default_factory=list)
    from_checkpoint: bool = False


def files_from_last_checkpoint(files: Sequence[MigrationFile]) -> tuple[list[MigrationFile], bool]:
    """All files from the last checkpoint file on (all files if there is none)."""
    for i in range(len(files) - 1, -1, -1):
        if files[i].is_checkpoint:
            return list(files[i:]), True
    return list(files), False


def compute_plan(
    files: Sequence[MigrationFile],
    revisions: Sequence[Revision],
    *,
    exec_order: str = LINEAR,
    baseline: str | None = None,
) -> Plan:
    """Pending files for ``revisions`` (ordered by version), as Atlas computes them.

    The clean-database check belongs to the caller (it needs the database); this function
    assumes it passed.
    """
    if exec_order not in EXEC_ORDERS:
        raise UsageError(f"unknown execution order: {exec_order!r}")
    migrations = [f for f in files if not f.is_checkpoint]
    if not revisions:
        if baseline:
            idx = _last_index(migrations, lambda f: f.version == baseline)
            if idx == -1:
                raise UsageError(f'baseline version "{baseline}" not found')
            return Plan(pending=migrations[idx + 1 :], baseline=migrations[idx])
        pending, from_ck = files_from_last_checkpoint(files)
        return Plan(pending=pending, from_checkpoint=from_ck)

    last = revisions[-1]
    if last.partial and files:
        for i, f in enumerate(files):
            if f.version == last.version and f.is_checkpoint:
                # A partially applied checkpoint: it and every later regular file are pending.
                return Plan(pending=[f, *(g for g in files[i + 1 :] if not g.is_checkpoint)])
    if not migrations:
        return Plan()

    if last.partial:
        idx = _last_index(migrations, lambda f: f.version == last.version)
    else:
        idx = _last_index(migrations, lambda f: f.version <= last.version)
    if idx == -1:
        if last.partial:
            raise MissingMigrationError(last.version, last.description)
        return Plan(pending=list(migrations))
    if not last.partial:
        idx += 1
    pending = migrations[idx:]
    first = next(
        (i for i, f in enumerate(migrations[:idx]) if f.version >= revisions[0].version), -1
    )
    plan = Plan(pending=list(pending))
    if first != -1:
        known = {r.version for r in revisions}
        skipped = [f for f in migrations[first:idx] if f.version not in known]
        plan.out_of_order = skipped
        if skipped and exec_order == NON_LINEAR:
            plan.pending = [*skipped, *pending]
        elif skipped and exec_order == LINEAR:
            raise HistoryNonLinearError([f.name for f in skipped], [f.name for f in pending])
    return plan


def _last_index(files: Sequence[MigrationFile], pred: Callable[[MigrationFile], bool]) -> int:
    for i in range(len(files) - 1, -1, -1):
        if pred(files[i]):
            return i
    return -1
