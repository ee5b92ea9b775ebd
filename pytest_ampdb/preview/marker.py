"""The preview mark: a JSON ``COMMENT ON DATABASE`` that says "this is an ampdb preview".

Only a database whose name has the preview shape *and* whose comment starts with :data:`PREFIX`
followed by a JSON object with a branch and a creation time is ever treated as a preview; any
other database on the shared server, whatever its name, is left alone. The comment lives in the
shared catalog, so the maintenance database reads every mark (with sizes and connection counts)
in one query, without connecting to each preview; a table inside the preview would add nothing
the comment does not already give.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, replace
from typing import Any

import psycopg

from pytest_ampdb import __version__
from pytest_ampdb.ownership import set_mark

PREFIX = "ampdb-preview:"
FORMAT = 1
CREATING = "creating"
READY = "ready"


@dataclass(frozen=True)
class Mark:
    """What a preview's comment records.

    ``state`` is ``creating`` from ``CREATE DATABASE`` until migrations and seeds are in, then
    ``ready``: a preview left ``creating`` by a crashed job is rebuilt by the next ensure.
    ``version`` is the last migration version applied, ``migrated`` when that last changed.
    """

    branch: str
    created: dt.datetime
    state: str = CREATING
    version: str = ""
    migrated: dt.datetime | None = None
    seeded: bool = False
    tool: str = f"pytest-ampdb {__version__}"
    format: int = FORMAT

    def text(self) -> str:
        """The comment text (ASCII JSON, so any branch name round-trips unchanged)."""
        data: dict[str, Any] = asdict(self)
        data["created"] = self.created.isoformat()
        data["migrated"] = self.migrated.isoformat() if self.migrated else None
        return PREFIX + json.dumps(data, ensure_ascii=True, sort_keys=True)

    def ready(self, version: str, at: dt.datetime, *, seeded: bool | None = None) -> Mark:
        """This mark after a migration to ``version`` at ``at``, state ``ready``."""
        return replace(
            self,
            state=READY,
            version=version,
            migrated=at,
            seeded=self.seeded if seeded is None else seeded,
        )


def parse(comment: object) -> Mark | None:
    """The mark in a database comment, or None when the comment is not a preview mark."""
    if not isinstance(comment, str) or not comment.startswith(PREFIX):
        return None
    try:
        data = json.loads(comment[len(PREFIX) :])
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    branch, created = data.get("branch"), data.get("created")
    if not isinstance(branch, str) or not branch or not isinstance(created, str):
        return None
    try:
        migrated_raw = data.get("migrated")
        return Mark(
            branch=branch,
            created=_aware(dt.datetime.fromisoformat(created)),
            state=str(data.get("state") or CREATING),
            version=str(data.get("version") or ""),
            migrated=(
                _aware(dt.datetime.fromisoformat(migrated_raw))
                if isinstance(migrated_raw, str)
                else None
            ),
            seeded=bool(data.get("seeded")),
            tool=str(data.get("tool") or ""),
            format=int(data.get("format") or FORMAT),
        )
    except (ValueError, TypeError):
        return None


def write(conn: psycopg.Connection[Any], database: str, mark: Mark) -> None:
    """Set ``database``'s comment to ``mark`` (identifier and text both quoted by psycopg)."""
    set_mark(conn, database, mark.text())


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
