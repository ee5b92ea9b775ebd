"""The plugin's settings: one table of options, each a flag, an ini key and an env variable.

Resolution is plain Python (no pytest): ``plugin.py`` hands in getters for the command line and
the ini file, and every value is checked here, so a bad value anywhere is one line naming the
option and where it came from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.modes import Backend, Isolation, ServerSource

BACKENDS: tuple[str, ...] = tuple(mode.value for mode in Backend)
POSTGRES_MODES: tuple[str, ...] = tuple(mode.value for mode in ServerSource)
ISOLATIONS: tuple[str, ...] = tuple(mode.value for mode in Isolation)


class SettingsError(AmpdbError):
    """An option value that cannot be used; the message names the option and its source."""


@dataclass(frozen=True, slots=True)
class Option:
    """One setting: its flag, ini key, environment variable, type and default."""

    dest: str
    flag: str
    ini: str
    env: str
    help: str
    kind: str = "str"  # str | bool | int | seconds | directory | dsn
    default: Any = None
    choices: tuple[str, ...] = ()
    mode: type[StrEnum] | None = None
    """The enum a ``choices`` value becomes (``pytest_ampdb.modes``)."""
    limits: tuple[int, int] | None = None
    """The smallest and largest value an ``int`` option takes."""


OPTIONS: tuple[Option, ...] = (
    Option(
        "backend",
        "--ampdb",
        "ampdb_backend",
        "AMPDB_BACKEND",
        "storage the repositories use: " + "|".join(BACKENDS) + " (default memory)",
        default=Backend.MEMORY,
        choices=BACKENDS,
        mode=Backend,
    ),
    Option(
        "postgres",
        "--ampdb-postgres",
        "ampdb_postgres",
        "AMPDB_POSTGRES",
        "where PostgreSQL comes from: auto (a DSN if given, else a container when Docker "
        "answers, else local binaries), container, local, dsn, or preview (the branch's "
        "pr-<branch> database on the --ampdb-dsn / AMPDB_PREVIEW_SERVER server)",
        default=ServerSource.AUTO,
        choices=POSTGRES_MODES,
        mode=ServerSource,
    ),
    Option(
        "dsn", "--ampdb-dsn", "ampdb_dsn", "AMPDB_DSN", "URL of an existing server to use", "dsn"
    ),
    Option(
        "branch",
        "--ampdb-branch",
        "ampdb_branch",
        "AMPDB_BRANCH",
        "branch whose preview database to use (default: the CI's branch variables, else git)",
    ),
    Option(
        "image",
        "--ampdb-image",
        "ampdb_image",
        "AMPDB_IMAGE",
        "image for container mode (default postgres:15)",
        default="postgres:15",
    ),
    Option(
        "isolation",
        "--ampdb-isolation",
        "ampdb_isolation",
        "AMPDB_ISOLATION",
        "per-test isolation in postgres mode: transaction (default), database or truncate",
        default=Isolation.TRANSACTION,
        choices=ISOLATIONS,
        mode=Isolation,
    ),
    Option(
        "reuse",
        "--ampdb-reuse",
        "ampdb_reuse",
        "AMPDB_REUSE",
        "keep the container or cluster and its template for the next run",
        kind="bool",
        default=False,
    ),
    Option(
        "recreate",
        "--ampdb-recreate",
        "ampdb_recreate",
        "AMPDB_RECREATE",
        "throw away a kept container or cluster and its templates first",
        kind="bool",
        default=False,
    ),
    Option(
        "migrations",
        "--ampdb-migrations",
        "ampdb_migrations",
        "AMPDB_MIGRATIONS",
        "Atlas migration directory (default: the packaged schema/migrations)",
        kind="directory",
    ),
    Option(
        "schema",
        "--ampdb-schema",
        "ampdb_schema",
        "AMPDB_SCHEMA",
        "module of a project's schema declarations (a TABLES mapping; default: the packaged "
        "schema)",
    ),
    Option(
        "postgres_version",
        "--ampdb-postgres-version",
        "ampdb_postgres_version",
        "AMPDB_POSTGRES_VERSION",
        "PostgreSQL major version the server must run (default 15)",
        kind="int",
        default=15,
    ),
    Option(
        "seeds",
        "--ampdb-seeds",
        "ampdb_seeds",
        "AMPDB_SEEDS",
        "directory of <table>.json seed files (default: the packaged schema/seed)",
        kind="directory",
    ),
    Option(
        "no_seed",
        "--ampdb-no-seed",
        "ampdb_no_seed",
        "AMPDB_NO_SEED",
        "start every test from empty tables instead of the seeds",
        kind="bool",
        default=False,
    ),
    Option(
        "random_seed",
        "--ampdb-random-seed",
        "ampdb_random_seed",
        "AMPDB_RANDOM_SEED",
        "seed for Faker and factory sequences (default: pytest-randomly's seed, else random)",
        kind="int",
        limits=(0, 2**32 - 1),  # what pytest-randomly uses, and what xdist can hand a worker
    ),
    Option(
        "timeout",
        "--ampdb-timeout",
        "ampdb_timeout",
        "AMPDB_TIMEOUT",
        "the longest a test waits on the server for one call, and the run's provisioning on a "
        "server that does not answer (a call it still runs is waited for, up to ten times "
        "as long), before it fails "
        "with one line, in seconds "
        "(default 30; connections also get a connect timeout of at most 10 s)",
        kind="seconds",
        default=30.0,
    ),
)


@dataclass
class Settings:
    """Resolved settings; ``pytest_ampdb_configure`` implementations may change them."""

    backend: Backend = Backend.MEMORY
    postgres: ServerSource = ServerSource.AUTO
    dsn: str | None = None
    branch: str | None = None
    image: str = "postgres:15"
    isolation: Isolation = Isolation.TRANSACTION
    reuse: bool = False
    recreate: bool = False
    migrations: Path | None = None
    schema: str | None = None
    postgres_version: int = 15
    seeds: Path | None = None
    no_seed: bool = False
    random_seed: int | None = None
    timeout: float = 30.0
    extra: dict[str, Any] = field(default_factory=dict)


Getter = Callable[[Option], Any]


def resolve(cli: Getter, ini: Getter, environ: Mapping[str, str]) -> Settings:
    """Command line first, then the environment, then the ini file, then the default."""
    values: dict[str, Any] = {}
    for option in OPTIONS:
        raw, source = cli(option), option.flag
        if raw in (None, False) and option.env in environ and environ[option.env] != "":
            raw, source = environ[option.env], option.env
        if raw in (None, False, "", []):
            ini_value = ini(option)
            if ini_value not in (None, "", []):
                raw, source = ini_value, f"ini {option.ini}"
        values[option.dest] = option.default if raw in (None, "") else _convert(option, raw, source)
    return Settings(**values)


def recheck(settings: Settings, source: str) -> None:
    """Check, in place, values code set on ``settings`` after ``resolve`` (a
    ``pytest_ampdb_configure`` hook): each is converted as its option's text would be, so a
    wrong type or value is one line naming ``source`` and the field, not a crash later."""
    for option in OPTIONS:
        value = getattr(settings, option.dest)
        if value is not None:
            setattr(
                settings, option.dest, _convert(option, value, f"{source} settings.{option.dest}")
            )


def _convert(option: Option, raw: Any, source: str) -> Any:
    if option.kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(f"{source}={raw!r}: expected true or false")
    if option.kind == "int":
        try:
            number = int(str(raw).strip())
        except ValueError:
            raise SettingsError(f"{source}={raw!r}: expected an integer") from None
        low, high = option.limits or (number, number)
        if not low <= number <= high:
            raise SettingsError(f"{source}={raw!r}: expected an integer from {low} to {high}")
        return number
    if option.kind == "seconds":
        try:
            seconds = float(str(raw).strip())
        except ValueError:
            seconds = 0.0
        if not 0 < seconds < 86400:
            raise SettingsError(f"{source}={raw!r}: expected a number of seconds above 0")
        return seconds
    if option.kind == "directory":
        path = Path(str(raw)).expanduser()
        if not path.is_dir():
            what = "is not a directory" if path.exists() else "no such directory"
            raise SettingsError(f"{source}={str(raw)!r}: {what}")
        return path
    if option.kind == "dsn":  # never echoed: it may hold a password
        from pytest_ampdb.urls import check_dsn

        return check_dsn(str(raw).strip(), source)
    text = str(raw).strip()
    if option.choices and text not in option.choices:
        raise SettingsError(f"{source}={text!r}: expected one of {', '.join(option.choices)}")
    return option.mode(text) if option.mode is not None else text
