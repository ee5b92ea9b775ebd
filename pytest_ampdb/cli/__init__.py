"""The ``ampdb`` command line.

Subcommands live in their own modules, each exposing ``register(subparsers)``; adding one is a
one-line change to :data:`COMMANDS`. Errors the user can fix (bad directory, failed statement,
unreachable server) end as one ``ampdb: error: ...`` line and exit status 1; bad usage exits 2
(argparse's own convention).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg

from pytest_ampdb import __version__, extensions
from pytest_ampdb.answers import no_answer, what_ended
from pytest_ampdb.cli import common
from pytest_ampdb.errors import AmpdbError

# Modules of ``pytest_ampdb.cli``, each exposing ``register(subparsers)``; every parser it adds
# sets ``func`` (args -> exit code) with ``set_defaults``. A new command group: add its name here.
# The harness's commands (``clean``) come from the ``pytest_ampdb.commands`` entry points.
COMMANDS: tuple[str, ...] = ("migrate", "database", "preview")

Handler = Callable[[argparse.Namespace], int]


def build_parser(commands: Sequence[str] = COMMANDS) -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    parser = common.Parser(
        prog=common.PROG,
        description="pytest-ampdb tools: Atlas-compatible migrations and test databases.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--timeout",
        type=common.seconds_arg,
        default=os.environ.get(common.TIMEOUT_ENV)
        or os.environ.get("PGCONNECT_TIMEOUT")
        or common.DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="give up on a server that does not answer a connection within SECONDS "
        f"(default: ${common.TIMEOUT_ENV}, else $PGCONNECT_TIMEOUT, else "
        f"{common.DEFAULT_TIMEOUT})",
    )
    parser.add_argument(
        "--answer-timeout",
        type=common.seconds_arg,
        default=os.environ.get(common.ANSWER_TIMEOUT_ENV) or common.DEFAULT_ANSWER_TIMEOUT,
        metavar="SECONDS",
        help="give up on a connected server that does not answer one call within SECONDS "
        "(a frozen server); at that bound the server is asked whether it still runs the call: "
        "a migration's call (migrate apply, set, the --dev-url replays, refresh-db's "
        "migrations) is then waited for as long as the server runs it (a migration may take "
        "hours), any other call up to ten times SECONDS "
        f"(default: ${common.ANSWER_TIMEOUT_ENV}, else {common.DEFAULT_ANSWER_TIMEOUT})",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in commands:
        importlib.import_module(f"pytest_ampdb.cli.{name}").register(subparsers)
    for point in extensions.found(extensions.COMMANDS):
        try:
            register = extensions.load(point, f"ampdb {point.name}")
        except extensions.NeedsTestToolsError as exc:
            _unavailable(subparsers, point.name, exc)
        else:
            register(subparsers)
    return parser


def _unavailable(subparsers: Any, name: str, reason: AmpdbError) -> None:
    """``ampdb <name>`` in an install without the test tools: says why, exit status 1."""

    def refuse(args: argparse.Namespace) -> int:
        raise reason

    # no option prefix: whatever options follow are taken as they come, then refused with the reason
    command = subparsers.add_parser(
        name, help="(needs the test tools)", add_help=False, prefix_chars="\0"
    )
    command.add_argument("rest", nargs=argparse.REMAINDER)
    command.set_defaults(func=refuse)


def main(argv: list[str] | None = None) -> int:
    """Run ``ampdb`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit status."""
    parser = build_parser()
    common.Parser.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or bad usage (argparse prints the message)
        code = exc.code
        return code if isinstance(code, int) else common.EXIT_USAGE
    handler: Handler | None = getattr(args, "func", None)
    if handler is None:
        parser.print_usage(sys.stderr)
        return common.EXIT_USAGE
    # libpq's (and psycopg's) own variable: every connection the command opens is bounded;
    # restored afterwards, so a caller of main() in the same process keeps its environment
    with _environ("PGCONNECT_TIMEOUT", str(max(2, math.ceil(args.timeout)))):
        return _run(handler, args)


@contextlib.contextmanager
def _environ(name: str, value: str) -> Iterator[None]:
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _run(handler: Handler, args: argparse.Namespace) -> int:
    """Run one command: an error is one line on stderr and an exit status, never a traceback."""
    try:
        return handler(args)
    except SystemExit as exc:  # a subcommand's parser.error(): bad usage
        return exc.code if isinstance(exc.code, int) else common.EXIT_USAGE
    except common.UsageError as exc:
        common.print_error(exc)
        return common.EXIT_USAGE
    except (AmpdbError, psycopg.Error) as exc:
        common.print_error(_error_line(exc, args))
    except KeyboardInterrupt:
        common.print_error("interrupted")
        return 130
    except OSError as exc:
        common.print_error(exc)
    return common.EXIT_FAILURE


_URL_ARGS = ("server", "url", "dev_url")
"""The options naming a server, in the order a command's one line names the one it lost."""


def _error_line(exc: AmpdbError | psycopg.Error, args: argparse.Namespace) -> str:
    """The one line for a command's error. A server we gave up on is named first: a later
    call on the connection it closed (a cleanup, a revision row) says only "the connection is
    closed", and ``no_answer`` finds the reason behind it."""
    gone = no_answer(exc)
    if gone is not None:
        url = next((u for u in (getattr(args, a, None) for a in _URL_ARGS) if u), None)
        where = f"the server at {common.redact_url(str(url))}" if url else "the server"
        line = (
            f"{where} {what_ended(gone)}: {gone} (--answer-timeout, ${common.ANSWER_TIMEOUT_ENV})"
        )
        if getattr(args, "writes_revisions", False):  # migrate apply, set
            line += (
                "; what it was sent may still be applied if it resumes: "
                "check with ampdb migrate status before applying again"
            )
        return line
    if isinstance(exc, AmpdbError):
        return str(exc) or type(exc).__name__
    if isinstance(exc, psycopg.errors.ConnectionTimeout):
        return (
            f"cannot connect to the database: no answer within {args.timeout:g} s "
            f"(--timeout, ${common.TIMEOUT_ENV})"
        )
    if isinstance(exc, psycopg.OperationalError):
        return f"cannot connect to the database: {_first_line(exc)}"
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
