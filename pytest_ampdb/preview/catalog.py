"""What the server's catalog says about previews: marks, sizes, live connections, one query.

Everything here runs on the maintenance database; a preview is only ever reported when its
name has the preview shape *and* its comment parses as a preview mark.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import psycopg

from pytest_ampdb import ownership
from pytest_ampdb.preview import marker
from pytest_ampdb.preview.errors import NotAPreviewError
from pytest_ampdb.preview.marker import Mark
from pytest_ampdb.preview.naming import is_preview_name

Connection = psycopg.Connection[Any]


@dataclass(frozen=True)
class PreviewInfo:
    """One marked preview on the server, as ``list`` shows it."""

    name: str
    branch: str
    created: dt.datetime
    age: dt.timedelta
    """Since creation, by the server's clock."""
    size: int | None
    """Bytes on disk (None when this role may not connect to it)."""
    version: str
    state: str
    connections: int
    """Live client connections to the preview right now."""
    migrated: dt.datetime | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields (``ampdb preview list --json``)."""
        return {
            "branch": self.branch,
            "database": self.name,
            "created": self.created.isoformat(),
            "age_seconds": round(self.age.total_seconds(), 3),
            "size_bytes": self.size,
            "version": self.version,
            "state": self.state,
            "connections": self.connections,
            "migrated": self.migrated.isoformat() if self.migrated else None,
        }


# -- server queries ---------------------------------------------------------------------------


_INFO_SQL = """
SELECT d.datname,
       shobj_description(d.oid, 'pg_database'),
       CASE WHEN has_database_privilege(d.oid, 'CONNECT') THEN pg_database_size(d.oid) END,
       (SELECT count(*) FROM pg_stat_activity a
         WHERE a.datid = d.oid AND a.backend_type = 'client backend'),
       now()
FROM pg_database d
WHERE d.datname LIKE 'pr-%%' AND shobj_description(d.oid, 'pg_database') LIKE %s
"""


def infos(conn: Connection, name: str | None = None) -> list[PreviewInfo]:
    """Every marked preview (or only ``name``), read from the catalog in one query."""
    query = _INFO_SQL + (" AND d.datname = %s" if name is not None else "")
    query += ' ORDER BY d.datname COLLATE "C"'
    params: tuple[object, ...] = (marker.PREFIX + "%",)
    if name is not None:
        params += (name,)
    out = []
    for datname, comment, size, connections, now in conn.execute(query, params).fetchall():
        mark = marker.parse(comment)
        if mark is None or not is_preview_name(str(datname)):
            continue
        out.append(
            PreviewInfo(
                name=str(datname),
                branch=mark.branch,
                created=mark.created,
                age=max(now - mark.created, dt.timedelta(0)),
                size=None if size is None else int(size),
                version=mark.version,
                state=mark.state,
                connections=int(connections),
                migrated=mark.migrated,
            )
        )
    return out


def info(conn: Connection, name: str) -> PreviewInfo | None:
    """The marked preview ``name``, or None (absent, or not a preview)."""
    found = infos(conn, name)
    return found[0] if found else None


def find(conn: Connection, name: str) -> tuple[Mark | None, int] | None:
    """None if no such database; else its mark (None when unmarked) and live connections."""
    row = conn.execute(
        "SELECT shobj_description(d.oid, 'pg_database'),"
        " (SELECT count(*) FROM pg_stat_activity a"
        "   WHERE a.datid = d.oid AND a.backend_type = 'client backend')"
        " FROM pg_database d WHERE d.datname = %s",
        (name,),
    ).fetchone()
    if row is None:
        return None
    return marker.parse(row[0]), int(row[1])


def live_connections(conn: Connection, name: str) -> int:
    """Client connections to the database ``name`` right now (autovacuum not counted)."""
    found = find(conn, name)
    return found[1] if found else 0


def drop_database(conn: Connection, name: str, *, force: bool) -> None:
    """DROP DATABASE of a database carrying the preview mark (checked on this connection, right
    before); without ``force`` PostgreSQL itself refuses one with live connections."""
    if ownership.drop_owned(conn, name, (marker.PREFIX,), force=force) is ownership.Drop.NOT_OURS:
        raise NotAPreviewError(name, "drop")


def server_now(conn: Connection) -> dt.datetime:
    """The server's clock: ages are measured by it, whatever the CI runner's clock says."""
    row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    value: dt.datetime = row[0]
    return value


def format_age(age: dt.timedelta) -> str:
    """``3d 4h``, ``2h 5m``, ``45s``: the two largest units of a duration."""
    seconds = int(age.total_seconds())
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
        if len(parts) == 2:
            break
    return " ".join(parts)
