"""``ampdb seed``, ``ampdb refresh-db`` and ``ampdb env``: a local database ready to run against.

``seed`` loads the packaged (or given) seed files into a migrated database; ``refresh-db`` drops
and recreates a *local* database, migrates and seeds it (it refuses any other host unless
``--force``, because dropping a shared database by a typo is not recoverable); ``env`` prints
the shell exports a local run of the app needs (``eval "$(ampdb env)"``).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pytest_ampdb import migrations
from pytest_ampdb.answers import open_bounded
from pytest_ampdb.cli import common
from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.ownership import Drop, create_marked, drop_database, drop_owned
from pytest_ampdb.paths import migrations_dir
from pytest_ampdb.seeds import SeedSet
from pytest_ampdb.seeds.postgres import load_into_postgres

FORCE_RULE = (
    "Without --force it drops only a database that refresh-db created, on a local host "
    "(a Unix socket, localhost or a loopback address); --force drops any other but the "
    "system databases."
)
"""What ``--force`` changes: said once, in ``--help`` and (the same words) in the README."""
PROTECTED_DATABASES = frozenset({"postgres", "template0", "template1"})


def register(subparsers: Any) -> None:
    """Add ``seed``, ``refresh-db`` and ``env``."""
    p = subparsers.add_parser(
        "seed",
        help="load the seed rows into a migrated database",
        description="Load schema/seed/*.json into a migrated database, in one transaction.",
    )
    p.add_argument(
        "-u", "--url", type=common.dsn_arg, default=common.default_url(), help=common.URL_HELP
    )
    p.add_argument(
        "--dir", type=Path, default=None, help="seed directory (default: the packaged schema/seed)"
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="delete the rows already in the tables first",
    )
    common.add_schema(p)
    p.set_defaults(func=run_seed, parser_error=p.error)

    p = subparsers.add_parser(
        "refresh-db",
        help="drop, create, migrate and seed a local database",
        description="Drop the database named in --url, create it again, apply the migrations "
        f"and load the seeds. {FORCE_RULE}",
    )
    p.add_argument(
        "-u", "--url", type=common.dsn_arg, default=common.default_url(), help=common.URL_HELP
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="drop the database even when refresh-db did not create it or its host is not local",
    )
    p.add_argument(
        "--dir", type=Path, default=None, help="migration directory (default: the packaged one)"
    )
    p.add_argument(
        "--seeds", type=Path, default=None, help="seed directory (default: the packaged one)"
    )
    common.add_schema(p)
    p.set_defaults(func=run_refresh, parser_error=p.error)

    p = subparsers.add_parser(
        "env",
        help="print shell exports for a local run (PROJECT_ID, API_KEY, ADMIN_KEY, DB_DSN)",
        description="Print the seeded ids and the database URL as shell exports: "
        'eval "$(ampdb env)".',
    )
    p.add_argument(
        "-u",
        "--url",
        default=None,
        help="database URL to export as DB_DSN (default: $AMPDB_DSN, else $DB_DSN; "
        "with neither, DB_DSN is not exported)",
    )
    p.add_argument(
        "--dir", type=Path, default=None, help="seed directory (default: the packaged one)"
    )
    common.add_schema(p)
    p.set_defaults(func=run_env, parser_error=p.error)


# -- commands ---------------------------------------------------------------------------------


def run_seed(args: argparse.Namespace) -> int:
    """``seed``: load the seeds; refuses a database that already holds rows unless --replace."""
    if not args.url:
        args.parser_error(common.URL_REQUIRED)
    url = str(args.url)
    seeds = common.seeds_of(args.dir, args.schema)
    count = seed_database(url, seeds, replace=args.replace, answer_timeout=args.answer_timeout)
    print(f"seeded {count} rows into {common.redact_url(url)}")
    return common.EXIT_OK


def run_refresh(args: argparse.Namespace) -> int:
    """``refresh-db``: drop and recreate the URL's database, migrate it, seed it."""
    if not args.url:
        args.parser_error(common.URL_REQUIRED)
    url = str(args.url)
    target = database_name(url)
    if not args.force:
        require_local(url, target)
    directory = args.dir or migrations_dir()
    migrations.validate_dir(directory)  # check everything before dropping anything
    seeds = common.seeds_of(args.seeds, args.schema)
    recreate_database(url, target, force=args.force, answer_timeout=args.answer_timeout)
    report = migrations.apply(url, directory, answer_timeout=args.answer_timeout)
    count = seed_database(url, seeds, replace=False, answer_timeout=args.answer_timeout)
    print(
        f"refreshed {common.redact_url(url)}: {len(report.applied)} migration files applied, "
        f"{count} seed rows loaded"
    )
    return common.EXIT_OK


def run_env(args: argparse.Namespace) -> int:
    """``env``: one ``export`` line with the seeded ids and the database URL, shell-quoted.

    Without a URL (no --url, $AMPDB_DSN or $DB_DSN) no ``DB_DSN`` is exported: a guessed one
    would point the app at a database nobody chose, and an existing ``DB_DSN`` stays as it is.
    """
    url = args.url or common.default_url()
    ids = common.seeds_of(args.dir, args.schema).ids
    values = {"PROJECT_ID": ids.project_id, "API_KEY": ids.api_key, "ADMIN_KEY": ids.admin_key}
    if url:
        values["DB_DSN"] = url
    else:
        print("ampdb env: DB_DSN not exported (no --url, $AMPDB_DSN or $DB_DSN)", file=sys.stderr)
    sys.stdout.write(
        "export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in values.items()) + "\n"
    )
    return common.EXIT_OK


# -- helpers (also used by tests and other commands) ------------------------------------------


def seed_database(
    url: str, seeds: SeedSet, *, replace: bool, answer_timeout: float | None = None
) -> int:
    """Connect to ``url`` and load ``seeds`` in one transaction; the number of rows written.
    ``answer_timeout`` bounds each call (``answers.open_bounded``)."""
    with open_bounded(
        url, answer_timeout=answer_timeout, while_running=True, autocommit=True
    ) as conn:
        return load_into_postgres(conn, seeds, replace=replace)


def database_name(url: str) -> str:
    """The database a URL names; refresh-db will not guess one, nor drop a system database."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise AmpdbError(f"invalid database URL {common.redact_url(url)}: {exc}") from None
    name = str(params.get("dbname") or "")
    if not name:
        raise AmpdbError(f"the URL {common.redact_url(url)} names no database to recreate")
    if name in PROTECTED_DATABASES:
        raise AmpdbError(f"refusing to drop the system database {name!r}")
    return name


def remote_hosts(url: str) -> list[str]:
    """The hosts a URL connects to that are not local (empty: everything is local)."""
    params = conninfo_to_dict(url)
    hosts = str(params.get("host") or os.environ.get("PGHOST") or "").split(",")
    addrs = str(params.get("hostaddr") or os.environ.get("PGHOSTADDR") or "").split(",")
    return [h for h in [*hosts, *addrs] if not _is_local(h.strip())]


def require_local(url: str, name: str) -> None:
    """Raise unless every host of ``url`` is a Unix socket, localhost or a loopback address."""
    remote = remote_hosts(url)
    if remote:
        raise AmpdbError(
            f"refusing to drop database {name!r} on {', '.join(remote)}: not a local host "
            "(a Unix socket, localhost, 127.0.0.0/8 or ::1); pass --force to do it anyway"
        )


REFRESH_MARK = "pytest-ampdb refresh-db"
"""The comment ``refresh-db`` leaves on a database it made: only such a one is dropped unasked."""


def recreate_database(
    url: str, name: str, *, force: bool = False, answer_timeout: float | None = None
) -> None:
    """``DROP DATABASE ... WITH (FORCE)`` then ``CREATE DATABASE``, from a maintenance database.

    An existing database that ``refresh-db`` did not make is refused unless ``force``.
    ``answer_timeout`` bounds each call.
    """
    admin = make_conninfo(url, dbname="postgres")
    try:
        conn = open_bounded(
            admin, answer_timeout=answer_timeout, while_running=True, autocommit=True
        )
    except psycopg.errors.ConnectionTimeout:  # no answer at all: a second try would not help
        raise
    except psycopg.OperationalError:
        template1 = make_conninfo(url, dbname="template1")
        conn = open_bounded(
            template1, answer_timeout=answer_timeout, while_running=True, autocommit=True
        )
    with conn:
        if force:  # the user named it and insisted
            drop_database(conn, name)
        elif drop_owned(conn, name, (REFRESH_MARK,)) is Drop.NOT_OURS:
            raise AmpdbError(
                f"refusing to drop database {name!r}: refresh-db did not create it "
                "(use --force to drop it anyway)"
            )
        create_marked(conn, name, REFRESH_MARK)


def _is_local(host: str) -> bool:
    if host == "" or host.startswith(("/", "@")) or host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_loopback
