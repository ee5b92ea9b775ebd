"""Insert order derived from the foreign keys, so no hand-kept list can go stale.

A reference that closes a cycle (``integrations.latest_revision_id`` -> ``revisions``, which
references ``integrations``) must be nullable; rows are first written with it empty and the
value is set once every table is loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_ampdb.models.schema import ForeignKey, TableSpec


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """Tables parents-first, and the nullable references to fill in afterwards."""

    order: tuple[str, ...]
    deferred: Mapping[str, tuple[ForeignKey, ...]]


def load_plan(specs: Iterable[TableSpec[Any]]) -> LoadPlan:
    """Topological order over the references; cycles are broken at nullable columns."""
    by_name = {spec.name: spec for spec in specs}
    edges = {
        name: {fk.table: fk for fk in spec.foreign_keys if fk.table != name and fk.table in by_name}
        for name, spec in by_name.items()
    }
    deferred: dict[str, list[ForeignKey]] = {}
    order: list[str] = []
    remaining = list(by_name)  # keep declaration order among equals
    while remaining:
        ready = [n for n in remaining if not (set(edges[n]) & set(remaining))]
        if not ready:
            name, fk = _breakable(remaining, edges, by_name)
            deferred.setdefault(name, []).append(fk)
            del edges[name][fk.table]
            continue
        order.extend(ready)
        remaining = [n for n in remaining if n not in ready]
    return LoadPlan(tuple(order), {k: tuple(v) for k, v in deferred.items()})


def _breakable(
    remaining: list[str],
    edges: Mapping[str, Mapping[str, ForeignKey]],
    by_name: Mapping[str, TableSpec[Any]],
) -> tuple[str, ForeignKey]:
    for name in remaining:
        nullable = {c.name for c in by_name[name].columns if c.nullable}
        for parent, fk in edges[name].items():
            if parent in remaining and fk.column in nullable:
                return name, fk
    raise ValueError(f"foreign keys form a cycle with no nullable column: {', '.join(remaining)}")
