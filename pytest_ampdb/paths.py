"""Where the packaged ``schema/`` (migrations and seeds) lives, installed or in a checkout, and
whether a directory belongs to an installed distribution (which no command may write into)."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_INSTALL_DIRS = frozenset({"site-packages", "dist-packages"})


def schema_dir() -> Path:
    """``schema/`` inside the installed wheel, else the checkout's top-level ``schema/``."""
    for candidate in (_PACKAGE / "schema", _PACKAGE.parent / "schema"):
        if (candidate / "migrations").is_dir():
            return candidate
    return _PACKAGE.parent / "schema"


def migrations_dir() -> Path:
    """The packaged Atlas migration directory."""
    return schema_dir() / "migrations"


def seeds_dir() -> Path:
    """The packaged seed directory (one JSON file per table)."""
    return schema_dir() / "seed"


def installed_distribution(path: Path) -> Path | None:
    """The installed distribution ``path`` lies in, None when it is not inside one.

    Inside one: under a ``site-packages``/``dist-packages`` directory, or under this package
    when it does not run from a checkout (a wheel installed with ``--target`` or put on
    ``PYTHONPATH``). A file written there is lost at the next install and silently changes
    what every other user of that environment gets (``atlas.sum`` re-hashed over it).
    """
    resolved = path.resolve()
    for parent in (resolved, *resolved.parents):
        if parent.name in _INSTALL_DIRS:
            return parent
    from_checkout = (_PACKAGE.parent / "pyproject.toml").is_file()
    if not from_checkout and (resolved == _PACKAGE or _PACKAGE in resolved.parents):
        return _PACKAGE
    return None
