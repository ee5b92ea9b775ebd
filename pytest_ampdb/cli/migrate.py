"""``ampdb migrate hash|validate|status|apply|set|new|rebase|lint``, with Atlas's flag names.

Output follows Atlas's own (``migrate apply`` log, ``migrate status`` summary, the checksum error
block) so scripts and people used to ``atlas`` read it the same way.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from pytest_ampdb import migrations
from pytest_ampdb.cli import atlas_report, common, logformat
from pytest_ampdb.migrations import devdb, executor, snapshot
from pytest_ampdb.migrations.connection import parse_target
from pytest_ampdb.migrations.directory import TX_MODES
from pytest_ampdb.migrations.errors import StatementError, go_quote
from pytest_ampdb.migrations.goformat import go_duration
from pytest_ampdb.migrations.lint import lint
from pytest_ampdb.migrations.plan import EXEC_ORDERS
from pytest_ampdb.migrations.rebase import rebase
from pytest_ampdb.migrations.schemadiff import SYNCED, migrate_diff
from pytest_ampdb.models.declared import schema_tables
from pytest_ampdb.urls import Dsn

Handler = Callable[[argparse.Namespace], int]


def register(subparsers: Any) -> None:
    """Add the ``migrate`` command and its subcommands."""
    parser = subparsers.add_parser(
        "migrate", help="Atlas-compatible versioned migrations", description=__doc__
    )
    sub = parser.add_subparsers(dest="migrate_command", metavar="SUBCOMMAND", required=True)

    p = sub.add_parser("hash", help="(re)write atlas.sum for the migration directory")
    _add_dir(p)
    p.add_argument("--force", action="store_true", help=argparse.SUPPRESS)  # Atlas: deprecated
    p.set_defaults(func=run_hash)

    p = sub.add_parser("validate", help="check atlas.sum against the migration files")
    _add_dir(p)
    p.add_argument(
        "--dev-url",
        help="also replay every file as apply runs it, in a scratch database made on this "
        "clean database's server (the named one is left unchanged)",
    )
    p.set_defaults(func=run_validate)

    p = sub.add_parser("status", help="show applied and pending migrations")
    _add_dir(p)
    _add_url(p)
    _add_revisions_schema(p)
    _add_format(p)
    p.set_defaults(func=run_status)

    p = sub.add_parser("apply", help="apply pending migration files")
    _add_dir(p)
    _add_url(p)
    _add_revisions_schema(p)
    p.add_argument("--baseline", help="start the first migration after the given baseline version")
    p.add_argument(
        "--tx-mode",
        default="file",
        help=f"set transaction mode [{', '.join(TX_MODES)}] (default: file)",
    )
    p.add_argument(
        "--exec-order",
        default="linear",
        help=f"set file execution order [{', '.join(EXEC_ORDERS)}] (default: linear)",
    )
    p.add_argument(
        "--allow-dirty", action="store_true", help="allow start working on a non-clean database"
    )
    p.add_argument("--dry-run", action="store_true", help="print SQL without executing it")
    _add_lock_timeout(p)
    _add_format(p)
    p.add_argument(
        "amount", nargs="*", help="maximum number of migration files to apply (default: all)"
    )
    p.set_defaults(func=run_apply, writes_revisions=True)

    p = sub.add_parser("set", help="set the current version of the revisions table")
    _add_dir(p)
    _add_url(p)
    _add_revisions_schema(p)
    _add_lock_timeout(p)
    p.add_argument(
        "version",
        nargs="*",
        help="target version (default: the last file; refused on a database without revisions)",
    )
    p.set_defaults(func=run_set, writes_revisions=True)

    p = sub.add_parser(
        "rebase",
        help="move migration files to the end of the history with new versions",
        description="Give the files of VERSION... new versions after every other file (same "
        "descriptions and contents) and re-hash atlas.sum: the answer to an out-of-order error "
        "after merging main. With --url (or $AMPDB_DSN/$DB_DSN), a file that database already "
        "ran is refused.",
    )
    _add_dir(p)
    p.add_argument("-u", "--url", default=common.default_url(), help=common.URL_HELP)
    _add_revisions_schema(p)
    p.add_argument("versions", nargs="*", metavar="VERSION", help="versions of the files to move")
    p.set_defaults(func=run_rebase)

    p = sub.add_parser(
        "lint",
        help="analyse the latest migration files for risky changes",
        description="Replay the files before the change on a dev database, then report the "
        "change's destructive, backward-incompatible, data-dependent, locking and "
        "non-transactional statements in Atlas's report shape. Exits 1 on an error-level "
        "finding. '-- atlas:nolint [analyzer|code ...]' silences a statement (or, in the "
        "header, a file).",
    )
    _add_dir(p)
    p.add_argument(
        "--dev-url",
        help="a clean database whose server gets the scratch database the files replay in; "
        "the named one is left unchanged (default: a throwaway local cluster)",
    )
    p.add_argument(
        "--latest", default="0", metavar="N", help="analyse the latest N migration files"
    )
    p.add_argument(
        "--git-base",
        default="",
        metavar="BRANCH",
        help="analyse the files added since the git branch BRANCH",
    )
    _add_format(p)
    p.set_defaults(func=run_lint)

    p = sub.add_parser(
        "diff",
        help="write the migration that takes the directory to the declared schema",
        description="Replay the directory on a dev database, compare its schema with the one "
        "the table declarations describe and write the statements between them as a new "
        "<timestamp>_<name>.sql (atlas.sum re-hashed). Nothing differs: nothing is written.",
    )
    _add_dir(p)
    p.add_argument(
        "--dev-url",
        help="a clean database whose server gets the scratch database both schemas are built "
        "in; the named one is left unchanged (default: a throwaway local cluster)",
    )
    common.add_schema(p, "--to", "--schema", dest="to")
    p.add_argument("name", nargs="*", help="description part of the new file's name")
    p.set_defaults(func=run_diff)

    p = sub.add_parser("new", help="create a new, empty migration file")
    _add_dir(p)
    p.add_argument("name", nargs="*", help="description part of the file name")
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
        type=_atlas_url,
        default=common.default_url(),
        help=common.URL_HELP,
    )
    p.set_defaults(parser_error=p.error)


def _atlas_url(text: str) -> Dsn:
    """``--url``: a DSN libpq can parse once Atlas's ``search_path`` parameter is set apart
    (``postgres://...?search_path=app`` binds the commands to that schema, as in Atlas)."""
    common.dsn_arg(parse_target(text).conninfo)
    return Dsn(text)


def _add_revisions_schema(p: argparse.ArgumentParser) -> None:
    p.add_argument("--revisions-schema", help="schema of the revisions table")


def _add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        help="Go template for the report, as Atlas's: {{ json . }} (Atlas's JSON), "
        "{{ .Field }}, {{ len .Field }} (default: the text report)",
    )
    p.add_argument("--log", help=argparse.SUPPRESS)  # Atlas's former name, hidden as in Atlas


def _format(
    args: argparse.Namespace, samples: tuple[logformat.Struct, ...]
) -> list[logformat.Part] | None:
    """The parsed ``--format`` (or ``--log``; None without one), refused before the command
    runs if it asks for something :mod:`logformat` cannot print."""
    if args.format is not None and args.log is not None:
        raise migrations.UsageError(
            "if any flags in the group [log format] are set none of the others can be; "
            "[format log] were all set"
        )
    template = args.format if args.format is not None else args.log
    if template is None:
        return None
    parts = logformat.parse(template)
    logformat.check(parts, *samples)
    return parts


def _dir_text(directory: Path) -> str:
    """The directory as Atlas's ``Env.Dir`` names it: a ``file://`` URL."""
    return f"file://{directory.as_posix()}"


def _add_lock_timeout(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--lock-timeout",
        type=parse_duration,
        default=executor.DEFAULT_LOCK_TIMEOUT,
        help="how long to wait for the database lock, e.g. 10s, 1m30s (default: 10s)",
    )


_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def _dir_path(value: str) -> Path:
    """``--dir``: a path, or Atlas's dir URL ``file://path[?format=atlas]`` (``file://`` alone is
    ``migrations``, as in Atlas); another ``format`` is refused rather than read as Atlas's."""
    scheme = _URL_SCHEME.match(value)
    if scheme is not None and scheme.group(1) != "file":  # mem://, atlas:// (Atlas Cloud) ...
        raise argparse.ArgumentTypeError(
            f"unsupported driver {go_quote(scheme.group(1))}: ampdb reads local directories "
            "(a path or file://path)"
        )
    if scheme is None:
        return Path(value)
    parts = urlsplit(value)
    formats = [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k == "format"]
    if any(f not in ("", "atlas") for f in formats):
        raise argparse.ArgumentTypeError(
            f"unsupported migration directory format {formats[-1]!r}: "
            "ampdb reads Atlas's format only (format=atlas)"
        )
    return Path(unquote(parts.netloc + parts.path) or "migrations")


def _one_arg(values: list[str], *, required: bool = False) -> str | None:
    """The single positional argument, refused in cobra's words when there are more."""
    if len(values) > 1 or (required and not values):
        at_most = "" if required else "at most "
        raise migrations.UsageError(f"accepts {at_most}1 arg(s), received {len(values)}")
    return values[0] if values else None


_GO_INT = re.compile(r"[+-]?[0-9]+")
_GO_UINT = re.compile(r"[0-9]+")


def go_int(text: str, *, unsigned: bool = False) -> int:
    """Go's ``strconv.ParseInt``/``ParseUint`` (base 10, 64 bits): the number, or ValueError
    holding Go's reason (``invalid syntax``, ``value out of range``)."""
    if not (_GO_UINT if unsigned else _GO_INT).fullmatch(text):
        raise ValueError("invalid syntax")
    low, high = (0, 2**64) if unsigned else (-(2**63), 2**63)
    if not low <= int(text) < high:
        raise ValueError("value out of range")
    return int(text)


def parse_amount(values: list[str]) -> int:
    """``migrate apply [amount]``: a positive count, refused in Atlas's words otherwise (0 =
    no argument, i.e. every pending file)."""
    text = _one_arg(values)
    if text is None:
        return 0
    try:
        count = go_int(text)
    except ValueError as exc:
        raise migrations.UsageError(
            f"invalid amount argument {go_quote(text)} ({exc}). "
            "Omit the argument or pass a valid integer instead"
        ) from None
    if count < 1:
        raise migrations.UsageError(f"cannot apply '{count}' migration files")
    return count


def parse_flag_uint(flag: str, text: str) -> int:
    """A ``uint`` flag such as ``--latest``, refused in pflag's words."""
    try:
        return go_int(text, unsigned=True)
    except ValueError as exc:
        raise migrations.UsageError(
            f"invalid argument {go_quote(text)} for {go_quote('--' + flag)} flag: "
            f"strconv.ParseUint: parsing {go_quote(text)}: {exc}"
        ) from None


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: str) -> float:
    """Seconds from a Go duration (``10s``, ``1m30s``, ``500ms``) or a plain number of seconds."""
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:  # a wait cannot be negative, NaN or endless
        if not 0 <= seconds < math.inf:
            raise argparse.ArgumentTypeError(f"invalid duration {value!r} (expected 0 or more)")
        return seconds
    pos = 0
    total = 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise argparse.ArgumentTypeError(f"time: invalid duration {go_quote(value)}")  # Go's
    return total


def _url(args: argparse.Namespace) -> str:
    if not args.url:
        args.parser_error(common.URL_REQUIRED)
    return str(args.url)


# -- commands ---------------------------------------------------------------------------------


def _directory(args: argparse.Namespace) -> Path:
    return Path(args.dir or migrations.default_migrations_dir())


def run_hash(args: argparse.Namespace) -> int:
    """``migrate hash``: rewrite atlas.sum unconditionally."""
    if args.force:
        print("Flag --force has been deprecated, you can safely omit it.", file=sys.stderr)
    directory = common.writable_dir(_directory(args))
    migrations.MigrationDir(directory)  # a clear error if the directory is missing
    migrations.write_sum(directory)
    return common.EXIT_OK


def run_validate(args: argparse.Namespace) -> int:
    """``migrate validate``: atlas.sum check, then an optional replay on a dev database."""
    directory = _directory(args)
    if not check_dir(directory):
        return common.EXIT_FAILURE
    if args.dev_url:
        devdb.replay(args.dev_url, directory, note=print_note, answer_timeout=args.answer_timeout)
    return common.EXIT_OK


def print_note(line: str) -> None:
    """One ``ampdb: note: ...`` line on stderr (the dev database's fallback)."""
    print(f"{common.PROG}: note: {line}", file=sys.stderr)


def check_dir(directory: Path, *, sum_required: bool = True) -> bool:
    """Validate the directory; on a checksum error print Atlas's block on stdout, and the one
    error line on stderr, and return False."""
    try:
        migrations.validate_dir(directory, sum_required=sum_required)
    except migrations.ChecksumError as exc:
        sys.stdout.write("\n".join(exc.atlas_report(directory)) + "\n")
        sys.stdout.flush()
        common.print_error(exc)
        return False
    return True


def run_status(args: argparse.Namespace) -> int:
    """``migrate status``: what is applied, what is pending, the last error."""
    template = _format(args, atlas_report.status_samples())
    directory = _directory(args)
    if not check_dir(directory):
        return common.EXIT_FAILURE
    st = migrations.status(
        _url(args),
        directory,
        revisions_schema=args.revisions_schema,
        answer_timeout=args.answer_timeout,
    )
    if template is None:
        sys.stdout.write(st.render())
    else:
        report = atlas_report.status(st, _dir_text(directory))
        sys.stdout.write(logformat.render(template, report))
    return common.EXIT_OK


def run_apply(args: argparse.Namespace) -> int:
    """``migrate apply [amount]``: run pending files, print Atlas's apply log."""
    count = parse_amount(args.amount)
    template = _format(args, atlas_report.apply_samples())
    directory = _directory(args)

    def write(report: executor.ApplyReport, error: str = "") -> None:
        if template is None:
            if report.applied or not error:  # a file refused before any ran: the error alone
                sys.stdout.write(render_apply(report))
        else:
            shaped = atlas_report.apply(report, _dir_text(directory), error)
            sys.stdout.write(logformat.render(template, shaped))
        sys.stdout.flush()

    if not check_dir(directory):
        return common.EXIT_FAILURE
    try:
        report = migrations.apply(
            _url(args),
            directory,
            tx_mode=args.tx_mode,
            exec_order=args.exec_order,
            baseline=args.baseline,
            allow_dirty=args.allow_dirty,
            count=count,
            dry_run=args.dry_run,
            revisions_schema=args.revisions_schema,
            lock_timeout=args.lock_timeout,
            answer_timeout=args.answer_timeout,
        )
    except migrations.MigrationError as exc:
        if isinstance(exc.report, executor.ApplyReport) and exc.report.pending:
            write(exc.report, atlas_error(exc))
        raise
    write(report)
    return common.EXIT_OK


def atlas_error(exc: migrations.MigrationError) -> str:
    """The error as Atlas's apply report holds it (its executor's package prefix included)."""
    prefix = "sql/migrate: " if isinstance(exc, StatementError) else ""
    return prefix + str(exc)


def run_set(args: argparse.Namespace) -> int:
    """``migrate set [version]``: edit the revisions table to say the database is at a version."""
    version = _one_arg(args.version, required=bool(args.version))
    directory = _directory(args)
    if not check_dir(directory):
        return common.EXIT_FAILURE
    report = migrations.set_revision(
        _url(args),
        directory,
        version,
        revisions_schema=args.revisions_schema,
        lock_timeout=args.lock_timeout,
        answer_timeout=args.answer_timeout,
    )
    sys.stdout.write(render_set(report))
    return common.EXIT_OK


def run_rebase(args: argparse.Namespace) -> int:
    """``migrate rebase VERSION...``: new versions after every file, atlas.sum re-hashed."""
    directory = common.writable_dir(_directory(args))
    if not check_dir(directory):
        return common.EXIT_FAILURE
    applied: set[str] = set()
    if args.url and args.versions:
        revisions = executor.read_revisions(
            args.url, args.revisions_schema, answer_timeout=args.answer_timeout
        )
        applied = {r.version for r in revisions}
    for moved in rebase(directory, args.versions, applied=applied):
        print(f"{moved.old} -> {moved.new}")
    return common.EXIT_OK


def run_lint(args: argparse.Namespace) -> int:
    """``migrate lint``: Atlas's report; exit 1 on an error-level finding."""
    latest = parse_flag_uint("latest", args.latest)
    template = _format(args, atlas_report.lint_samples())
    if template is not None:
        logformat.refuse_json(template, "the lint report")
    directory = _directory(args)
    if not check_dir(directory, sum_required=False):
        return common.EXIT_FAILURE
    report = lint(
        directory,
        dev_url=args.dev_url,
        latest=latest,
        git_base=args.git_base,
        note=print_note,
        answer_timeout=args.answer_timeout,
    )
    if template is None:
        sys.stdout.write(report.render())
    else:
        sys.stdout.write(logformat.render(template, atlas_report.lint(report)))
    return common.EXIT_FAILURE if report.failed else common.EXIT_OK


def run_diff(args: argparse.Namespace) -> int:
    """``migrate diff [name]``: a new file from the declarations, or Atlas's "synced" line."""
    name = _one_arg(args.name) or ""
    directory = common.writable_dir(_directory(args))
    if not check_dir(directory):
        return common.EXIT_FAILURE
    tables = schema_tables(args.to)
    result = migrate_diff(
        directory,
        name,
        tables,
        dev_url=args.dev_url,
        note=print_note,
        answer_timeout=args.answer_timeout,
    )
    if result.path is None:
        print(SYNCED)
        if result.snapshot:  # the files changed by hand since: say what was written
            print_note(
                f"wrote {directory / snapshot.SNAPSHOT_FILE}: the schema these migration files "
                "build (they changed since it was written); commit it with them"
            )
        return common.EXIT_OK
    for warning in result.warnings:
        print(f"{common.PROG}: warning: {result.path.name}: {warning}", file=sys.stderr)
    print(result.path)
    return common.EXIT_OK


def run_new(args: argparse.Namespace) -> int:
    """``migrate new [name]``: an empty, timestamped file, and a re-hashed atlas.sum; silent,
    as Atlas's."""
    name = _one_arg(args.name) or ""
    directory = common.writable_dir(_directory(args))
    if directory.exists() and not check_dir(directory):
        return common.EXIT_FAILURE
    migrations.new_file(directory, name)
    return common.EXIT_OK


# -- output -----------------------------------------------------------------------------------


def render_set(report: executor.SetReport) -> str:
    """Atlas's ``migrate set`` report: a header, a blank line, one line per changed version
    (``+`` set, ``-`` removed, description in parentheses), a closing blank line."""
    changed = len(report.set) + len(report.removed)
    if not changed:
        return ""
    if not report.current:
        header = f"All revisions deleted ({changed} in total):"
    else:
        summary = [f"{len(report.set)} set"] if report.set else []
        summary += [f"{len(report.removed)} removed"] if report.removed else []
        header = f"Current version is {report.current} ({', '.join(summary)}):"
    ops = sorted([(v, "+") for v in report.set] + [(v, "-") for v in report.removed])
    lines = [header, ""]
    for version, op in ops:
        description = report.descriptions.get(version, "")
        lines.append(f"  {op} {version}" + (f" ({description})" if description else ""))
    return "\n".join(lines) + "\n\n"


def render_apply(report: executor.ApplyReport) -> str:
    """Atlas's ``migrate apply`` log (without colours)."""
    if not report.pending:
        return "No migration files to execute\n"
    lines = [report.message + ":"]
    for f in report.applied:
        lines.append("")
        lines.append(f"  -- migrating version {f.version}")
        lines += [f"    -> {_indent(stmt)}" for stmt in f.statements]
        if f.error is not None:
            lines.append(f"    -> {_indent(f.error_stmt or '')}")
            lines.append(f"    {f.error}")
        else:
            lines.append(f"  -- ok ({go_duration(f.seconds)})")
    lines.append("")
    lines.append("  -------------------------")
    lines += [f"  -- {line}" for line in _summary(report)]
    return "\n".join(lines) + "\n"


def _indent(stmt: str) -> str:
    """A multi-line statement's later lines, indented under its first as Atlas does."""
    return stmt.replace("\n", "\n" + " " * 7)


def _summary(report: executor.ApplyReport) -> list[str]:
    """Atlas's closing lines: time, files and statements, with its singulars and plurals."""
    failed_files = sum(1 for f in report.applied if f.error is not None)
    passed_files = len(report.applied) - failed_files
    passed_stmts = report.statement_count
    lines = [go_duration(report.seconds)]
    for passed, failed, noun in (
        (passed_files, failed_files, "migration"),
        (passed_stmts, failed_files, "sql statement"),
    ):
        if passed and failed:
            lines.append(f"{passed} {_plural(noun, passed)} ok, {failed} with errors")
        elif passed:
            lines.append(f"{passed} {_plural(noun, passed)}")
        elif failed:
            lines.append(f"{failed} {_plural(noun, failed)} with errors")
    return lines


def _plural(noun: str, count: int) -> str:
    return noun + "s" if count > 1 else noun
