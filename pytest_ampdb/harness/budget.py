"""How many connections a run holds on its server, and whether the server has them to spare.

Per process that runs tests, the plugin holds at most ``per_process``: under ``transaction`` and
``truncate`` isolation the one connection to its database (plus one for a moment, to clone or
drop it); under ``database`` isolation one admin connection and one per database cloned ahead
(the running test's among them). The process that provisioned the run holds one more for the
whole run (the template's use lock). ``plan`` reads what the server has free at start, clones
fewer databases ahead when that is short, and says so once when even that is too many.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

AHEAD = 3
"""Databases cloned ahead of demand under ``database`` isolation, when the server has room."""


@dataclass(frozen=True)
class Budget:
    ahead: int
    """Databases each process clones ahead (``database`` isolation)."""
    note: str = ""
    """Why the server cannot hold the run ("" when it can)."""


def per_process(isolation: str, ahead: int) -> int:
    """The most connections one test process holds at once."""
    return 1 + ahead if isolation == "database" else 2


def plan(conn: psycopg.Connection[Any], isolation: str, processes: int) -> Budget:
    """The run's budget, read on ``conn`` (a connection of this run, closed after the check)."""
    row = conn.execute(
        "SELECT current_setting('max_connections')::int,"
        " current_setting('superuser_reserved_connections')::int,"
        " (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),"
        " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
    ).fetchone()
    assert row is not None
    most, reserved, superuser, in_use = int(row[0]), int(row[1]), bool(row[2]), int(row[3]) - 1
    usable = most if superuser else most - reserved
    free = usable - in_use
    ahead = AHEAD
    while ahead > 1 and processes * per_process(isolation, ahead) > free:
        ahead -= 1
    needed = processes * per_process(isolation, ahead)
    if needed <= free:
        return Budget(ahead)
    spare = "" if superuser else f" - superuser_reserved_connections {reserved}"
    return Budget(
        ahead,
        f"the server has {max(free, 0)} connection{'' if free == 1 else 's'} free "
        f"(max_connections {most}{spare} - "
        f"{in_use} in use) and this run needs up to {needed} ({processes} process"
        f"{'es' if processes != 1 else ''} x {per_process(isolation, ahead)}, isolation "
        f"{isolation}): tests may fail with 'too many clients'; use fewer xdist workers, "
        "--ampdb-isolation=transaction, or raise max_connections",
    )
