"""What pytest-ampdb keeps on a server past a run, and for which checkout.

Two things outlive a run on purpose: a template kept by ``--ampdb-reuse`` and a database kept
for a failed test (``database`` isolation). Each carries, in the plugin's own mark, the checkouts
(project keys, ``provisioning.server.project_key``) it is kept for: ``kept-by=<key>,<key>`` at the
end of a template's ready mark, ``project=<key>`` in a kept database's. So two checkouts reusing
one server never prune each other's template (a checkout lets go only of its own claim, and a
template goes when no checkout claims it and no run uses it), and ``ampdb clean`` finds what is
this checkout's. Nothing without the plugin's mark is ever listed or dropped.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from pytest_ampdb.harness import template as tpl
from pytest_ampdb.ownership import (
    Drop,
    comment_of,
    drop_owned,
    is_ours,
    set_mark,
    try_lock,
    unlock,
)
from pytest_ampdb.urls import redact_url

Connection = psycopg.Connection[Any]

_KEEPERS = re.compile(r" kept-by=(?P<keys>[0-9a-f,]*)$")
_PROJECT = re.compile(r"\bproject=(?P<key>[0-9a-f]+)\b")
FAILED_TEST = "for a failed test"


def keepers(mark: str) -> frozenset[str]:
    """The checkouts a template's mark says it is kept for."""
    found = _KEEPERS.search(mark)
    return frozenset(k for k in found["keys"].split(",") if k) if found else frozenset()


def _with_keepers(mark: str, keys: frozenset[str]) -> str:
    base = _KEEPERS.sub("", mark)
    return f"{base} kept-by={','.join(sorted(keys))}" if keys else base


@contextmanager
def _build_locked(conn: Connection, name: str) -> Iterator[None]:
    """Under the template's build lock (server-wide): no run builds or drops it meanwhile."""
    tpl.build_lock(conn, name)
    try:
        yield
    finally:
        unlock(conn, tpl._lock_key(name))


def _dropped(conn: Connection, name: str, mark: str) -> bool:
    return drop_owned(conn, name, (mark,)) is Drop.DROPPED


# -- templates --------------------------------------------------------------------------------


def keep_template(conn: Connection, name: str, key: str) -> None:
    """Record that the checkout ``key`` keeps the ready template ``name`` (``--ampdb-reuse``)."""
    with _build_locked(conn, name):
        mark = comment_of(conn, name)
        if mark is not None and mark.startswith(tpl.READY):
            wanted = _with_keepers(mark, keepers(mark) | {key})
            if wanted != mark:
                set_mark(conn, name, wanted)


def withdraw(
    conn: Connection, name: str, keys: frozenset[str] | None, *, dry_run: bool = False
) -> frozenset[str] | None:
    """Withdraw the claims of the checkouts ``keys`` (None: every claim) on the template
    ``name``; the claims of other checkouts that remain (None: not a ready template of ours).

    A run without ``--ampdb-reuse`` withdraws its own checkout's claim and drops the template
    at exit only when no other checkout claims it.
    """
    with _build_locked(conn, name):
        mark = comment_of(conn, name)
        if mark is None or not mark.startswith(tpl.READY):
            return None
        others = frozenset() if keys is None else keepers(mark) - keys
        if others != keepers(mark) and not dry_run:
            set_mark(conn, name, _with_keepers(mark, others))
        return others


def let_go(
    conn: Connection, name: str, keys: frozenset[str] | None, *, dry_run: bool = False
) -> str:
    """Withdraw the claims of the checkouts ``keys`` (None: every claim) on the template
    ``name`` and drop it when no checkout claims it any more and no run uses it.

    Returns what happened (with ``dry_run``: would happen, nothing changed): ``dropped``,
    ``still kept by N other checkouts``, ``in use by a run``, or ``not ours`` (no ready mark).
    """
    with _build_locked(conn, name):  # nobody claims it between withdraw and drop
        others = withdraw(conn, name, keys, dry_run=dry_run)
        if others is None:
            return "not ours"
        if others:
            return f"still kept by {len(others)} other checkout{'s' if len(others) > 1 else ''}"
        use = tpl._use_key(name)
        if not try_lock(conn, use, server_wide=True):  # held by a run, in any database
            return "in use by a run"
        try:
            if dry_run:
                return "dropped"
            return "dropped" if _dropped(conn, name, tpl.READY) else "not ours"
        finally:
            unlock(conn, use)


def prune(conn: Connection, keep: str, key: str) -> list[str]:
    """``--ampdb-reuse``: let go of this checkout's other templates (and of unclaimed ones, a
    crashed run's), dropping those nobody claims or uses; other checkouts' stay. Returns the
    names dropped."""
    dropped = []
    for name, mark in _marked(conn, tpl.TEMPLATE_PREFIX, tpl.READY):
        claims = keepers(mark)
        mine = name != keep and (key in claims or not claims)
        if mine and let_go(conn, name, frozenset({key})) == "dropped":
            dropped.append(name)
    return dropped


def _marked(conn: Connection, prefix: str, mark: str) -> list[tuple[str, str]]:
    """(name, mark) of the databases named ``prefix...`` whose comment starts with ``mark``."""
    rows = conn.execute(
        "SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database"
        ' WHERE datname LIKE %s ORDER BY datname COLLATE "C"',
        (prefix.replace("_", "\\_") + "%",),
    ).fetchall()
    return [(str(n), str(m)) for n, m in rows if str(m).startswith(mark)]


# -- databases kept for failed tests ----------------------------------------------------------


def mark_kept_for(conn: Connection, name: str, key: str) -> None:
    """Mark a failed test's database kept, for the checkout ``key`` (``ampdb clean`` finds it)."""
    tpl.mark_kept(conn, name, f"{FAILED_TEST} project={key}")


def clean_hint(admin_dsn: str, root: object) -> str:
    """The command that removes a run's kept databases (shown in its summary, password hidden:
    ``$AMPDB_DSN`` works as well when it holds the URL)."""
    shown = redact_url(admin_dsn)
    command = (
        f"remove them with: cd {shlex.quote(str(root))} && ampdb clean --what databases "
        f"--url {shlex.quote(shown)}"
    )
    if shown != admin_dsn:  # copied as printed, it would fail to log in
        command += " (give the URL the run was given, with its password, which is not shown)"
    return command


# -- what clean lists -------------------------------------------------------------------------


@dataclass(frozen=True)
class Kept:
    """One thing the plugin keeps on a server."""

    kind: str
    """``template`` or ``database``."""
    name: str
    mark: str

    @property
    def detail(self) -> str:
        if self.kind == "template":
            claims = keepers(self.mark)
            return f"kept by {len(claims)} checkout{'s' if len(claims) != 1 else ''}"
        return _PROJECT.sub("", self.mark.removeprefix(tpl.KEPT_MARK)).strip() or "kept"


def on_server(conn: Connection, keys: frozenset[str] | None) -> list[Kept]:
    """The templates and kept databases of the checkouts ``keys`` (None: of every checkout)."""
    found = []
    for name, mark in _marked(conn, tpl.TEMPLATE_PREFIX, tpl.READY):
        if keys is None or keepers(mark) & keys:
            found.append(Kept("template", name, mark))
    for name, mark in _marked(conn, "", tpl.KEPT_MARK):
        project = _PROJECT.search(mark)
        if keys is None or (project is not None and project["key"] in keys):
            found.append(Kept("database", name, mark))
    return found


def remove(
    conn: Connection, item: Kept, keys: frozenset[str] | None, *, dry_run: bool = False
) -> str:
    """Remove one kept thing (a template: let go of these checkouts' claims); what happened
    (``dropped`` or why not), or with ``dry_run`` what would, changing nothing."""
    if item.kind == "template":
        return let_go(conn, item.name, keys, dry_run=dry_run)
    if dry_run:
        return "dropped" if comment_of(conn, item.name) == item.mark else "not ours"
    return "dropped" if _dropped(conn, item.name, tpl.KEPT_MARK) else "not ours"


def look_alikes(conn: Connection) -> list[str]:
    """Databases named like the plugin's (``ampdb_tpl_...``, ``ampdb_run_...``) without its
    mark (nor its birth OID): never touched, but named so a user sees why they stay."""
    rows = conn.execute(
        "SELECT datname, oid, coalesce(shobj_description(oid, 'pg_database'), '')"
        " FROM pg_database WHERE datname LIKE 'ampdb\\_tpl\\_%' OR datname LIKE 'ampdb\\_run\\_%'"
        ' ORDER BY datname COLLATE "C"'
    ).fetchall()
    return [str(n) for n, o, m in rows if not is_ours(str(n), int(o), str(m), ("pytest-ampdb ",))]


# -- half-built templates ---------------------------------------------------------------------


def unfinished_builds(conn: Connection) -> list[str]:
    """Templates a run stopped building (``ampdb_tpl_..._build``, or renamed but never marked
    ready): our building mark, or no comment but our birth OID. They belong to no checkout; a
    run building one now holds its build lock, and ``remove_build`` leaves it alone."""
    rows = conn.execute(
        "SELECT datname, oid, coalesce(shobj_description(oid, 'pg_database'), '')"
        ' FROM pg_database WHERE datname LIKE %s ORDER BY datname COLLATE "C"',
        (tpl.TEMPLATE_PREFIX.replace("_", "\\_") + "%",),
    ).fetchall()
    return [str(n) for n, o, m in rows if is_ours(str(n), int(o), str(m), (tpl.BUILDING,))]


def remove_build(conn: Connection, name: str, *, dry_run: bool = False) -> str:
    """Drop a half-built template unless a run is building it now (it holds the build lock, in
    whatever database): ``dropped`` (with ``dry_run``: would be), else why it stays."""
    key = tpl._lock_key(name.removesuffix(tpl.BUILD_SUFFIX))
    if not try_lock(conn, key, server_wide=True):
        return "a run is building it now"
    try:
        if dry_run:
            return "dropped" if name in unfinished_builds(conn) else "not ours"
        return "dropped" if drop_owned(conn, name, (tpl.BUILDING,)) is Drop.DROPPED else "not ours"
    finally:
        unlock(conn, key)
