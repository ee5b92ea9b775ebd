"""Where the packaged ``schema/`` (migrations and seeds) lives, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


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
