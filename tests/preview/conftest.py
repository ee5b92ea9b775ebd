"""Fixtures of the preview tests (helpers live in ``_support``)."""

from __future__ import annotations

from ._support import migrations, server

__all__ = ["migrations", "server"]
