"""Fixtures of the migration tests (helpers live in ``_support``)."""

from __future__ import annotations

from ._support import make_dir, other_database

__all__ = ["make_dir", "other_database"]
