"""``ampdb migrate hash|validate|status|apply|set|new``, with Atlas's flag names.

Output follows Atlas's own (``migrate apply`` log, ``migrate status`` summary, the checksum error
block) so scripts and people used to ``atlas`` read it the same way.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from pytest_ampdb import migrations
from pytest_ampdb.cli import common
from pytest_ampdb.migrations import executor
from pytest_ampdb.migrations.directory import TX_MODES
from pytest_ampdb.migrations.plan import EXEC_ORDERS


def register(subparsers: Any) -> None:
    """Add the ``migrate`` command and its subcommands."""
    parser = subparsers.add_parser(
        "migrate", help="Atlas-compatible versioned migrations", description=__doc__
    )
    sub = parser.add_subparsers(dest="migrate_command", metavar="SUBCOMMAND", required=True)

    p = sub.add_parser("hash", help="(re)write atlas.sum for the migration directory")
    _add_dir(p)
    p.set_defaults(func=run_hash)

    p = sub.add_parser("validate", help="check atlas.sum against the migration files")
    _add_dir(p)
    p.add_argument(
        "--dev-url",
        help="also replay every file on this (clean) database inside a rolled-back transaction",
    )
    p.set_defaults(func=run_validate)

    p = sub.add_parser("status", help="show applied and pending migrations")
    _add_dir(p)
    _add_url(p)
    _add_revisions_schema(p)
    p.set_defaults(func=run_status)

    p = sub.add_parser("apply", help="apply pending migration files")
    _add_dir(p)
    _add_url(p)
    _add_revisions_schema(p)
    p.add_argument("--baseline", help="start the first migration after the given baseline version")
    p.add_argument(
        "--tx-mode", choices=TX_MODES, default="file", help="set transaction mode (default: file)"
    )
    p.add_argument(
        "--exec-order",
        choices=EXEC_ORDERS,
        default="linear",
        help="set file execution order (default: linear)",
    )
    p.add_argument(
        "--allow-dirty", action="store_true", help="allow start working on a non-clean database"
    )
    p.add_argument("--dry-run", action="store_true", help="print SQL without executing it")
    _add_lock_timeout(p)
    p.add_argument(
        "amount",
        nargs="?",
        type=_non_negative_int,
        default=0,
        help="maximum number of migration files to apply (default: all)",
    )
    p.set_defaults(func=run_apply)

    p = sub.add_parser("set", help="set the current version of the revisions table")
    _add_dir(p)
    _add_url(p)
    _add_revisions_schema(p)
    _add_lock_timeout(p)
    p.add_argument("version", nargs="?", help="target version (default: the last file)")
    p.set_defaults(func=run_set)

    p = sub.add_parser("new", help="create a new, empty migration file")
    _add_dir(p)
    p.add_argument("name", nargs="?", default="", help="description part of the file name")
    p.set_defaults(func=run_new)


# -- flags ------------------------------------------------------------------------------------


def _add_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dir",
        type=_dir_path,
        default=None,
        help="migration directory, a path or file://path (default: the packaged schema/migrations)",
    )


def _add_url(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-u",
        "--url",
        default=common.default_url(),
        help=common.URL_HELP,
    )
    p.set_defaults(parser_error=p.error)


def _add_revisions_schema(p: argparse.ArgumentParser) -> None:
    p.add_argument("--revisions-schema", help="schema of the revisions table")


def _add_lock_timeout(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--lock-timeout",
        type=parse_duration,
        default=executor.DEFAULT_LOCK_TIMEOUT,
        help="how long to wait for the database lock, e.g. 10s, 1m30s (default: 10s)",
    )


def _dir_path(value: str) -> Path:
    return Path(value.removeprefix("file://"))


def _non_negative_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid amount {value!r}: not a number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"invalid amount {value!r}: must be >= 0")
    return number


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: str) -> float:
    """Seconds from a Go duration (``10s``, ``1m30s``, ``500ms``) or a plain number of seconds."""
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    pos = 0
    total = 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise argparse.ArgumentTypeError(f"invalid duration {value!r}")
    return total


def _url(args: argparse.Namespace) -> str:
    if not args.url:
        args.parser_error(common.URL_REQUIRED)
    return str(args.url)


# -- commands ---------------------------------------------------------------------------------


def run_hash(args: argparse.Namespace) -> int:
    """``migrate hash``: rewrite atlas.sum unconditionally."""
    directory = common.writable_dir(args.dir or migrations.default_migrations_dir())
    migrations.MigrationDir(directory)  # a clear error if the directory is missing
    migrations.write_sum(directory)
    return common.EXIT_OK


def run_validate(args: argparse.Namespace) -> int:
    """``migrate validate``: atlas.sum check, then an optional replay on a dev database."""
    directory = args.dir or migrations.default_migrations_dir()
    migrations.MigrationDir(directory)
    if not _check_sum(directory):
        return common.EXIT_FAILURE
    if args.dev_url:
        executor.replay(args.dev_url, directory)
    return common.EXIT_OK


def _check_sum(directory: Path) -> bool:
    try:
        migrations.validate_dir(directory)
    except migrations.ChecksumError as exc:
        for line in exc.atlas_report(directory):
            print(line, file=sys.stderr)
        common.print_error(exc)
        return False
    return True


def run_status(args: argparse.Namespace) -> int:
    """``migrate status``: what is applied, what is pending, the last error."""
    url = _url(args)
    directory = args.dir or migrations.default_migrations_dir()
    if not _check_sum(directory):
        return common.EXIT_FAILURE
    st = migrations.status(url, directory, revisions_schema=args.revisions_schema)
    sys.stdout.write(st.render())
    return common.EXIT_OK


def run_apply(args: argparse.Namespace) -> int:
    """``migrate apply [amount]``: run pending files, print Atlas's apply log."""
    url = _url(args)
    directory = args.dir or migrations.default_migrations_dir()
    if not _check_sum(directory):
        return common.EXIT_FAILURE
    try:
        report = migrations.apply(
            url,
            directory,
            tx_mode=args.tx_mode,
            exec_order=args.exec_order,
            baseline=args.baseline,
            allow_dirty=args.allow_dirty,
            count=args.amount,
            dry_run=args.dry_run,
            revisions_schema=args.revisions_schema,
            lock_timeout=args.lock_timeout,
        )
    except migrations.MigrationError as exc:
        if isinstance(exc.report, executor.ApplyReport) and exc.report.pending:
            sys.stdout.write(render_apply(exc.report))
            sys.stdout.flush()
        raise
    sys.stdout.write(render_apply(report))
    return common.EXIT_OK


def run_set(args: argparse.Namespace) -> int:
    """``migrate set [version]``: edit the revisions table to say the database is at a version."""
    url = _url(args)
    directory = args.dir or migrations.default_migrations_dir()
    if not _check_sum(directory):
        return common.EXIT_FAILURE
    report = migrations.set_revision(
        url,
        directory,
        args.version,
        revisions_schema=args.revisions_schema,
        lock_timeout=args.lock_timeout,
    )
    changes = []
    if report.set:
        changes.append(f"{len(report.set)} set")
    if report.removed:
        changes.append(f"{len(report.removed)} removed")
    if changes:
        print(f"Current version is {report.current} ({', '.join(changes)}):")
        ops = [(v, "+") for v in report.set] + [(v, "-") for v in report.removed]
        for version, op in sorted(ops):
            print(f"  {op} {version}")
    return common.EXIT_OK


def run_new(args: argparse.Namespace) -> int:
    """``migrate new [name]``: an empty, timestamped file, and a re-hashed atlas.sum."""
    directory = common.writable_dir(args.dir or migrations.default_migrations_dir())
    if directory.exists() and not _check_sum(directory):
        return common.EXIT_FAILURE
    path = migrations.new_file(directory, args.name)
    print(path)
    return common.EXIT_OK


# -- output -----------------------------------------------------------------------------------


def render_apply(report: executor.ApplyReport) -> str:
    """Atlas's ``migrate apply`` log (without colours)."""
    if not report.pending:
        return "No migration files to execute\n"
    lines = [report.message + ":"]
    failed = False
    for f in report.applied:
        lines.append("")
        lines.append(f"  -- migrating version {f.version}")
        lines += [f"    -> {stmt}" for stmt in f.statements]
        if f.error is not None:
            failed = True
            lines.append(f"    -> {f.error_stmt}")
            lines.append(f"    {f.error}")
        else:
            lines.append(f"  -- ok ({go_duration(f.seconds)})")
    lines.append("")
    lines.append("  -------------------------")
    lines.append(f"  -- {go_duration(report.seconds)}")
    statements = report.statement_count
    if failed:
        lines.append(f"  -- {len(report.applied) - 1} migrations ok (1 with errors)")
        lines.append(f"  -- {statements} sql statements ok (1 with errors)")
    else:
        lines.append(f"  -- {len(report.applied)} migrations")
        lines.append(f"  -- {statements} sql statements")
    if report.dry_run:
        lines.append("  -- dry run: nothing was executed")
    return "\n".join(lines) + "\n"


def go_duration(seconds: float) -> str:
    """Format like Go's ``time.Duration.String`` (``1.5s``, ``2m3s``, ``850µs``)."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    if ns < 1000:
        return f"{ns}ns"
    if ns < 1_000_000:
        return f"{_trim(ns / 1e3)}µs"
    if ns < 1_000_000_000:
        return f"{_trim(ns / 1e6)}ms"
    total = ns / 1e9
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    out = ""
    if hours:
        out += f"{int(hours)}h"
    if hours or minutes:
        out += f"{int(minutes)}m"
    return out + f"{_trim(secs)}s"


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"
