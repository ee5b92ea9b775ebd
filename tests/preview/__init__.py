"""Tests of preview databases (naming, marks, lifecycle on a real PostgreSQL 15, CLI)."""
