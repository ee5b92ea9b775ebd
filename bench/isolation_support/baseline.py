"""Another commit's package, for a bench to run beside this tree's in the same run."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[2]
BASELINE = "5caca8b"
"""The commit before issue 11's speed work: memory store scans, every PostgreSQL call wrapped in
SAVEPOINT/RELEASE (or BEGIN/COMMIT)."""


def export(ref: str, into: Path) -> Path:
    """``ref``'s ``pytest_ampdb`` package (and ``schema``, and the top-level ``factories`` its
    fixtures import, where ``ref`` has one) unpacked under ``into``; put ``into`` first on
    ``sys.path`` (or ``PYTHONPATH``) to import that version."""
    top = subprocess.run(
        ["git", "-C", str(REPO_DIR), "ls-tree", "--name-only", ref],
        capture_output=True,
        check=True,
        text=True,
    ).stdout.split()
    paths = [p for p in ("pytest_ampdb", "schema", "factories") if p in top]
    archive = subprocess.run(
        ["git", "-C", str(REPO_DIR), "archive", ref, *paths],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into
