"""Shared pieces of the ``ampdb`` command line: exit codes, error lines, URL redaction.

Every subcommand reports a failure the same way (one ``ampdb: error: ...`` line on stderr, no
traceback) and never prints a password, whatever URL the user passed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.migrations.errors import UsageError  # bad usage found after parsing: exit 2
from pytest_ampdb.paths import installed_distribution
from pytest_ampdb.urls import Dsn, check_dsn, redact_text, redact_url, shown_dsn

if TYPE_CHECKING:
    from pytest_ampdb.seeds import SeedSet

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "PROG",
    "Parser",
    "UsageError",
    "dsn_arg",
    "print_error",
    "redact_text",
    "redact_url",
    "seconds_arg",
    "writable_dir",
]

EXIT_OK = 0
EXIT_FAILURE = 1  # a failed check or apply
EXIT_USAGE = 2  # bad usage (argparse exits with 2 as well)

PROG = "ampdb"

URL_ENVS = ("AMPDB_DSN", "DB_DSN")
"""Where ``--url`` defaults from: the variables the rest of pytest-ampdb (and the seed) use."""
URL_HELP = "database URL (default: $AMPDB_DSN, else $DB_DSN)"
TIMEOUT_ENV = "AMPDB_TIMEOUT"
DEFAULT_TIMEOUT = "10"
ANSWER_TIMEOUT_ENV = "AMPDB_ANSWER_TIMEOUT"
DEFAULT_ANSWER_TIMEOUT = "60"
URL_REQUIRED = 'required flag "url" not set: pass --url URL or set AMPDB_DSN'  # Atlas's words


SCHEMA_ENV = "AMPDB_SCHEMA"


def add_schema(parser: argparse.ArgumentParser, *flags: str, dest: str = "schema") -> None:
    """``--schema MODULE``: the project's schema declarations (a module with ``TABLES``), so a
    command reads and writes a project's own tables and columns as the plugin does."""
    parser.add_argument(
        *(flags or ("--schema",)),
        dest=dest,
        metavar="MODULE",
        default=os.environ.get(SCHEMA_ENV) or None,
        help="module of the schema declarations, a TABLES mapping "
        f"(default: ${SCHEMA_ENV}, else the packaged schema)",
    )


def seeds_of(directory: Path | None, schema: str | None) -> SeedSet:
    """The seed files of ``directory`` (default: the packaged ones), read against ``schema``."""
    from pytest_ampdb.models.declared import schema_tables
    from pytest_ampdb.seeds import read_seeds

    return read_seeds(directory, schema_tables(schema))


def default_url() -> str | None:
    """The database URL from the environment, if any."""
    return next((os.environ[name] for name in URL_ENVS if os.environ.get(name)), None)


def print_error(message: object, stream: TextIO | None = None) -> None:
    """Print ``ampdb: error: <message>`` as one line (newlines folded), passwords redacted."""
    out = stream if stream is not None else sys.stderr
    text = " ".join(str(message).split("\n")).strip() or type(message).__name__
    print(f"{PROG}: error: {redact_text(text)}", file=out)


def dsn_arg(text: str) -> Dsn:
    """argparse ``type`` of ``--url`` / ``--server``: a DSN libpq can parse (never echoed)."""
    try:
        return check_dsn(text, "the DSN")
    except AmpdbError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def seconds_arg(text: str) -> float:
    """argparse ``type`` of ``--timeout``: a number of seconds above 0."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < 86400:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return seconds


class Parser(argparse.ArgumentParser):
    """argparse with usage errors redacted: "unrecognized arguments" echoes argv, DSNs too."""

    argv: Sequence[str] = ()
    """The command line being parsed; a DSN in it is replaced whole before ``redact_text``
    (a password with a space would otherwise be cut where the text is split)."""

    def error(self, message: str) -> NoReturn:
        for arg in sorted(Parser.argv, key=len, reverse=True):
            if "://" in arg or "password" in arg.lower():
                message = message.replace(arg, shown_dsn(arg))
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {redact_text(message)}\n")


def writable_dir(directory: Path) -> Path:
    """``directory``, unless it lies inside an installed distribution (then a ``UsageError``).

    Every command that writes files calls this first: without ``--dir`` the default is the
    packaged directory, and writing there changes the installed plugin for every user of the
    environment until the next install silently undoes it.
    """
    dist = installed_distribution(directory)
    if dist is not None:
        raise UsageError(
            f"refusing to write into {directory}: it is inside the installed distribution "
            f"at {dist}; pass --dir DIR with a directory of your project"
        )
    return directory
