"""``ampdb preview create|migrate|drop|list|prune``: one database per branch on a shared server.

The server comes from ``--server`` (default ``$AMPDB_PREVIEW_SERVER``), a URL of its maintenance
database; the branch from ``--branch``, ``$AMPDB_BRANCH``, the CI's variables, else git. Only
databases carrying the preview mark are ever dropped, and none with live connections unless
``--force``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from pytest_ampdb import preview
from pytest_ampdb.cli import common
from pytest_ampdb.cli.migrate import parse_duration
from pytest_ampdb.migrations.errors import go_quote
from pytest_ampdb.preview import EnsureReport, PreviewInfo

SERVER_HELP = f"URL of the shared server's maintenance database (default: ${preview.SERVER_ENV})"
SERVER_REQUIRED = f"the --server flag is required (or set {preview.SERVER_ENV})"
BRANCH_HELP = (
    "branch name (default: $AMPDB_BRANCH, the CI's branch variable, else the current git branch)"
)


def register(subparsers: Any) -> None:
    """Add the ``preview`` command and its subcommands."""
    parser = subparsers.add_parser(
        "preview", help="per-branch preview databases on a shared server", description=__doc__
    )
    sub = parser.add_subparsers(dest="preview_command", metavar="SUBCOMMAND", required=True)

    p = sub.add_parser(
        "create",
        help="create, migrate and seed the branch's preview (or apply what is pending)",
        description="Create the preview database of the branch if missing (migrated and "
        "seeded), else apply only the pending migrations. Running it again does nothing.",
    )
    _add_common(p, branch=True)
    _add_migrations(p)
    p.add_argument(
        "--seeds", type=Path, default=None, help="seed directory (default: the packaged one)"
    )
    p.add_argument("--no-seed", action="store_true", help="create the preview without seed rows")
    common.add_schema(p)
    p.add_argument(
        "--recreate",
        action="store_true",
        help="drop and rebuild the preview (after an applied migration was edited or removed)",
    )
    p.add_argument(
        "--force", action="store_true", help="with --recreate: drop it even with live connections"
    )
    p.set_defaults(func=run_create)

    p = sub.add_parser(
        "migrate",
        help="apply pending migrations to the branch's existing preview",
        description="Apply the pending migrations to an existing preview (never creates one).",
    )
    _add_common(p, branch=True)
    _add_migrations(p)
    p.set_defaults(func=run_migrate)

    p = sub.add_parser(
        "drop",
        help="drop the branch's preview",
        description="Drop a preview database. Refuses a database without the preview mark, "
        "and one with live connections unless --force.",
    )
    _add_common(p, branch=True)
    p.add_argument("--database", help="drop the preview of this database name instead (pr-...)")
    p.add_argument(
        "--force", action="store_true", help="terminate live connections and drop it anyway"
    )
    p.set_defaults(func=run_drop)

    p = sub.add_parser(
        "list",
        help="show every preview: branch, database, age, size, version",
        description="Show every marked preview on the server (unmarked databases never appear).",
    )
    _add_common(p, branch=False)
    p.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    p.set_defaults(func=run_list)

    p = sub.add_parser(
        "prune",
        help="drop previews that are old or whose branch is gone",
        description="Drop marked previews older than --older-than and/or whose branch is not "
        "among --keep-branches (at least one of the two is required). Previews with live "
        "connections are kept unless --force.",
    )
    _add_common(p, branch=False)
    p.add_argument(
        "--older-than",
        type=parse_age,
        default=None,
        help="only previews created longer ago than this, e.g. 7d, 12h, 1w2d, 90m",
    )
    p.add_argument(
        "--keep-branches",
        nargs="+",
        action="extend",
        metavar="BRANCH",
        default=None,
        help="branches that still exist: their previews are kept",
    )
    p.add_argument(
        "--keep-branches-file",
        type=Path,
        default=None,
        help="file with one branch to keep per line ('-' for stdin)",
    )
    p.add_argument("--force", action="store_true", help="also drop previews with live connections")
    p.add_argument("--dry-run", action="store_true", help="show what would be dropped")
    p.set_defaults(func=run_prune)


def _add_common(p: argparse.ArgumentParser, *, branch: bool) -> None:
    p.add_argument(
        "--server",
        type=common.dsn_arg,
        default=os.environ.get(preview.SERVER_ENV) or None,
        help=SERVER_HELP,
    )
    if branch:
        p.add_argument("--branch", default=None, help=BRANCH_HELP)
        p.add_argument(
            "--lock-timeout",
            type=parse_duration,
            default=preview.DEFAULT_LOCK_TIMEOUT,
            help="how long to wait while another job creates or migrates the same preview "
            "(default: 5m)",
        )
    p.set_defaults(parser_error=p.error)


def _add_migrations(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dir",
        type=lambda v: Path(v.removeprefix("file://")),
        default=None,
        help="migration directory (default: the packaged schema/migrations)",
    )


_AGE_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([smhdw])")
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(value: str) -> dt.timedelta:
    """A duration like ``7d``, ``12h``, ``1w2d``, ``90m`` (a bare number is days)."""
    text = value.strip().lower()
    try:
        return dt.timedelta(days=float(text))
    except ValueError:
        pass
    pos, total = 0, 0.0
    for m in _AGE_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _AGE_UNITS[m.group(2)]
        pos = m.end()
    if not text or pos != len(text):
        raise argparse.ArgumentTypeError(
            f"invalid duration {value!r} (expected e.g. 7d, 12h, 1w2d, 90m)"
        )
    return dt.timedelta(seconds=total)


# -- commands ---------------------------------------------------------------------------------


def run_create(args: argparse.Namespace) -> int:
    """``preview create``: ensure the branch's preview exists and is up to date."""
    server, branch = _server(args), _branch(args)
    if args.force and not args.recreate:
        args.parser_error("--force only applies with --recreate")
    seeds = None if args.no_seed else common.seeds_of(args.seeds, args.schema)
    report = preview.ensure(
        server,
        branch,
        migrations=args.dir,
        seeds=seeds,
        seed=not args.no_seed,
        recreate=args.recreate,
        force=args.force,
        lock_timeout=args.lock_timeout,
        answer_timeout=args.answer_timeout,
    )
    print(describe(report))
    return common.EXIT_OK


def run_migrate(args: argparse.Namespace) -> int:
    """``preview migrate``: apply pending migrations to the existing preview."""
    server, branch = _server(args), _branch(args)
    report = preview.migrate(
        server,
        branch,
        migrations=args.dir,
        lock_timeout=args.lock_timeout,
        answer_timeout=args.answer_timeout,
    )
    print(describe(report))
    return common.EXIT_OK


def run_drop(args: argparse.Namespace) -> int:
    """``preview drop``: drop one marked preview."""
    server = _server(args)
    if args.database and args.branch:
        args.parser_error("give --branch or --database, not both")
    info = preview.drop(
        server,
        None if args.database else _branch(args),
        database=args.database or None,
        force=args.force,
        lock_timeout=args.lock_timeout,
        answer_timeout=args.answer_timeout,
    )
    print(f"dropped preview {info.name} (branch {go_quote(info.branch)})")
    return common.EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    """``preview list``: an aligned table (or JSON) of every marked preview."""
    infos = preview.list_previews(_server(args), answer_timeout=args.answer_timeout)
    if args.json:
        json.dump([i.as_dict() for i in infos], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return common.EXIT_OK
    if not infos:
        print("no previews on this server")
        return common.EXIT_OK
    sys.stdout.write(render_table(infos))
    return common.EXIT_OK


def run_prune(args: argparse.Namespace) -> int:
    """``preview prune``: drop old previews and those of branches that are gone."""
    server = _server(args)
    keep: list[str] | None = list(args.keep_branches) if args.keep_branches else None
    if args.keep_branches_file is not None:
        keep = (keep or []) + _read_branch_file(args.keep_branches_file)
    if args.older_than is None and keep is None:
        args.parser_error("prune needs --older-than and/or --keep-branches")
    report = preview.prune(
        server,
        older_than=args.older_than,
        keep_branches=keep,
        force=args.force,
        dry_run=args.dry_run,
        answer_timeout=args.answer_timeout,
    )
    verb = "would drop" if args.dry_run else "dropped"
    for info in report.dropped:
        print(
            f"{verb} {info.name} (branch {go_quote(info.branch)}, "
            f"age {preview.format_age(info.age)})"
        )
    for info, reason in report.kept:
        print(f"kept {info.name} (branch {go_quote(info.branch)}): {reason}")
    print(f"{verb} {len(report.dropped)} previews, kept {len(report.kept)}")
    return common.EXIT_OK


# -- output -----------------------------------------------------------------------------------


def describe(report: EnsureReport) -> str:
    """One line saying what ensure/migrate did."""
    who = f"preview {report.name} (branch {go_quote(report.branch)})"
    version = report.version or "none"
    count = len(report.applied)
    files = f"{count} migration{'' if count == 1 else 's'} applied"
    if report.created:
        return (
            f"created {who}: {files}, {report.seeded} seed rows loaded; "
            f"version {version} ({report.seconds:.2f} s)"
        )
    if report.applied:
        return f"migrated {who}: {files}; version {version} ({report.seconds:.2f} s)"
    return f"{who} is up to date at version {version}"


HEADERS = ("BRANCH", "DATABASE", "AGE", "SIZE", "VERSION")


def render_table(infos: list[PreviewInfo]) -> str:
    """The previews as left-aligned columns under a header line."""
    rows = [HEADERS]
    for info in infos:
        version = info.version or "-"
        if info.state != "ready":
            version = f"({info.state})"
        rows.append(
            (
                preview.printable(info.branch),
                info.name,
                preview.format_age(info.age),
                format_size(info.size),
                version,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines) + "\n"


def format_size(size: int | None) -> str:
    """Bytes as ``pg_size_pretty`` shows them (``8 kB``, ``8.4 MB``); ``?`` when unknown."""
    if size is None:
        return "?"
    value = float(size)
    for unit in ("bytes", "kB", "MB", "GB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


# -- helpers ----------------------------------------------------------------------------------


def _server(args: argparse.Namespace) -> str:
    if not args.server:
        args.parser_error(SERVER_REQUIRED)
    return str(args.server)


def _branch(args: argparse.Namespace) -> str:
    try:
        return preview.branch_name(args.branch)
    except preview.BranchNotFoundError as exc:
        args.parser_error(str(exc))
        raise  # parser_error exits; this line is for the type checker


def _read_branch_file(path: Path) -> list[str]:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise common.UsageError(f"--keep-branches-file {path}: cannot be read ({reason})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]
