"""``ampdb clean``: list and remove what pytest-ampdb keeps past a run.

What is kept: local clusters (``--ampdb-reuse``, with their data directories in /dev/shm or the
temp directory), containers (``--ampdb-reuse``), templates kept by ``--ampdb-reuse`` on a server,
databases kept for failed tests; and what a killed run left (throwaway clusters and containers
whose owner died, databases of runs whose lease is free, templates a run stopped building). Each
is known by the plugin's own mark (a cluster's state file, a container's labels, a database's
comment), never by its name alone, and by the checkout it is kept for: by default only this
checkout's (the current directory or a folder above it), ``--all`` for every checkout's. A server
or cluster a run is using right now is left alone, said in one line.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from pytest_ampdb.cli import common
from pytest_ampdb.harness.provisioning.connect import connect, other_sessions
from pytest_ampdb.harness.provisioning.server import project_key, project_keys

KINDS = ("clusters", "containers", "templates", "databases")


def register(subparsers: Any) -> None:
    """Add ``clean``."""
    p = subparsers.add_parser(
        "clean",
        help="list and remove what pytest-ampdb keeps (clusters, containers, templates, "
        "kept databases)",
        description="List and remove what pytest-ampdb keeps past a run: local clusters and "
        "their data directories, containers, templates (--ampdb-reuse), databases kept for "
        "failed tests, and what killed runs left. Only what carries the plugin's mark, and by "
        "default only this checkout's (the current directory or a folder above it); a "
        "server a run is using now is left alone.",
    )
    p.add_argument(
        "--list",
        "--dry-run",
        dest="dry_run",
        action="store_true",
        help="only list what would be removed; remove nothing",
    )
    p.add_argument(
        "--all",
        action="store_true",
        help="every checkout's kept things, not only this checkout's",
    )
    p.add_argument(
        "--root",
        type=Path,
        default=None,
        help="the checkout (pytest's rootdir) to clean for (default: the current directory "
        "and the folders above it)",
    )
    p.add_argument(
        "-u",
        "--url",
        default=common.default_url(),
        help="a server to clean templates and kept databases on: the URL given to "
        "--ampdb-dsn (default: $AMPDB_DSN, else $DB_DSN; without one no server is checked)",
    )
    p.add_argument(
        "--what",
        type=_kinds,
        default=KINDS,
        metavar="KIND[,KIND]",
        help=f"only these kinds: {', '.join(KINDS)} (default: all)",
    )
    p.set_defaults(func=run_clean, parser_error=p.error)


def _kinds(value: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in value.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(
            f"invalid kind {', '.join(unknown) or repr(value)}: expected {', '.join(KINDS)}"
        )
    return kinds


@dataclass
class Thing:
    """One kept thing: how to describe it, whether it must stay, how to remove it."""

    kind: str
    name: str
    detail: str
    remove: Callable[[bool], str]
    """``remove(dry_run)``: ``removed`` (or would be), else why it stays."""


def run_clean(args: argparse.Namespace) -> int:
    """``clean``: one line per kept thing (removed, would be removed, or left with why)."""
    where = (args.root or Path.cwd()).resolve()
    keys: frozenset[str] | None
    if args.all:
        keys, scope = None, "every checkout"
    elif args.root is not None:
        keys, scope = frozenset({project_key(where)}), f"checkout {where}"
    else:
        keys, scope = project_keys(where), f"checkout {where}"
    things: list[Thing] = []
    with contextlib.ExitStack() as stack:
        if args.url and {"templates", "databases"} & set(args.what):
            conn = stack.enter_context(
                connect(
                    str(args.url),
                    answer_timeout=args.answer_timeout,
                    connect_timeout=max(2, math.ceil(args.timeout)),  # libpq's minimum is 2
                    autocommit=True,
                )
            )
            things += _on_server(conn, common.redact_url(str(args.url)), keys, args.what)
        if "containers" in args.what:
            things += _containers(keys)
        if "clusters" in args.what:
            things += _clusters(keys)
        removed = left = 0
        for thing in things:
            outcome = thing.remove(args.dry_run)
            if outcome == "removed":
                removed += 1
                verb = "would remove" if args.dry_run else "removed"
                print(f"{verb} {thing.kind} {thing.name} ({thing.detail})")
            else:
                left += 1
                print(f"left {thing.kind} {thing.name} ({thing.detail}): {outcome}")
    unchecked = not args.url and {"templates", "databases"} & set(args.what)
    note = "; no server checked for templates and kept databases: pass --url" if unchecked else ""
    if not things:
        print(f"nothing kept for {scope}{note}")
    elif args.dry_run:
        print(f"would remove {removed}, leave {left} (for {scope}{note}; without --list to remove)")
    else:
        print(f"removed {removed}, left {left} (for {scope}{note})")
    return common.EXIT_OK


def _on_server(
    conn: psycopg.Connection[Any], server: str, keys: frozenset[str] | None, what: tuple[str, ...]
) -> list[Thing]:
    """The server's kept templates and databases (of ``what``), and look-alikes left alone."""
    from pytest_ampdb.harness import kept

    things = []
    for item in kept.on_server(conn, keys):
        if f"{item.kind}s" not in what:
            continue

        def remove(dry_run: bool, item: kept.Kept = item) -> str:
            outcome = kept.remove(conn, item, keys, dry_run=dry_run)
            return "removed" if outcome == "dropped" else outcome

        kind = "template" if item.kind == "template" else "kept database"
        things.append(Thing(kind, item.name, f"{item.detail}, on {server}", remove))
    if "templates" in what:
        for name in kept.unfinished_builds(conn):

            def remove_build(dry_run: bool, name: str = name) -> str:
                outcome = kept.remove_build(conn, name, dry_run=dry_run)
                return "removed" if outcome == "dropped" else outcome

            things.append(Thing("half-built template", name, f"on {server}", remove_build))
    if "databases" in what:
        things += _dead_runs(conn, server)
    for name in kept.look_alikes(conn):
        things.append(
            Thing(
                "database",
                name,
                f"on {server}",
                lambda dry_run: "named like pytest-ampdb's but without its mark: not ours",
            )
        )
    return things


def _dead_runs(conn: psycopg.Connection[Any], server: str) -> list[Thing]:
    """Databases of runs that are gone (their lease is free), which any run's start sweeps too:
    listed in every scope, as they belong to no live run of any checkout."""
    from pytest_ampdb.harness import template as tpl
    from pytest_ampdb.harness.provisioning.server import Server

    where = Server(conn.info.dsn, "dsn", server, owned=False)
    dead = tpl.sweep_dead_runs(where, "", conn=conn, dry_run=True).dropped

    things = []
    for name in dead:

        def remove(dry_run: bool, name: str = name) -> str:
            return "removed" if dry_run or tpl.drop_run_database(conn, name) else "not ours"

        things.append(Thing("dead run's database", name, f"on {server}", remove))
    return things


def _containers(keys: frozenset[str] | None) -> list[Thing]:
    from pytest_ampdb.harness.provisioning import container

    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return []  # no Docker here: no container of ours either
    if not container.docker_available():
        print(
            f"{common.PROG}: note: no Docker engine answers: containers not checked",
            file=sys.stderr,
        )
        return []
    things = []
    for found in container.left_containers(keys):

        def remove(dry_run: bool, found: container.LeftContainer = found) -> str:
            busy = _busy(found.admin_dsn)
            if busy:
                return busy
            if not dry_run:
                found.remove()
            return "removed"

        detail = f"{found.image}, {found.status}"
        things.append(Thing(f"{found.kind} container", found.name, detail, remove))
    return things


def _clusters(keys: frozenset[str] | None) -> list[Thing]:
    from pytest_ampdb.harness.provisioning import local

    things = []
    for found in [*local.kept_clusters(keys), *local.orphans()]:

        def remove(dry_run: bool, found: local.LeftCluster = found) -> str:
            busy = _busy(found.admin_dsn()) if found.kind == "kept" else None
            if busy:
                return busy
            if not dry_run:
                found.remove()
            return "removed"

        state = f"running, pid {found.pid}" if found.pid is not None else "not running"
        detail = f"{state}, {found.size / 1e6:.0f} MB"
        things.append(Thing(f"{found.kind} local cluster", str(found.root), detail, remove))
    return things


def _busy(admin_dsn: str | None) -> str | None:
    """Why a kept server must stay (a run is connected to it now), None when it may go."""
    if admin_dsn is None:
        return None
    sessions = 0
    with contextlib.suppress(Exception):  # not answering: nobody is using it either
        sessions = other_sessions(admin_dsn)
    if sessions:
        return f"in use ({sessions} sessions connected): stop the run first"
    return None
