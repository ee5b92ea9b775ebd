"""Find the PostgreSQL server binaries of one major version.

A test run must use the server version production runs (15); a machine may have several installed,
or only one of the wrong major on PATH. So every candidate directory is asked for its version, a
wrong major is passed over (and reported), and a miss names every place that was looked at.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pytest_ampdb.harness.provisioning.errors import BinariesNotFoundError

_VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")
_REQUIRED = ("postgres", "initdb")


@dataclass(frozen=True)
class PgBinaries:
    """A directory holding ``postgres`` and ``initdb`` of a known version."""

    bindir: Path
    version: str
    major: int
    version_line: str = ""

    def path(self, name: str) -> Path:
        """The path of one program in ``bindir`` (``postgres``, ``initdb``, ``pg_dump``, ...)."""
        return self.bindir / name

    @property
    def postgres(self) -> Path:
        """The server program, started directly (no ``pg_ctl``) by the local cluster."""
        return self.path("postgres")

    @property
    def initdb(self) -> Path:
        """The program that creates a data directory."""
        return self.path("initdb")


def find_binaries(major: int = 15) -> PgBinaries:
    """Return the server binaries of PostgreSQL ``major``.

    Looked at in order: ``postgres`` on PATH, ``pg_config --bindir``, then
    ``/usr/lib/postgresql/<major>/bin``. Raises ``BinariesNotFoundError`` naming each place and
    what was found there (nothing, or another version) when none holds ``major``.
    """
    looked: list[str] = []
    seen: set[Path] = set()
    for label, bindir in _candidates(major):
        if bindir is None:
            looked.append(f"{label}: not found")
            continue
        key = bindir.resolve()
        if key in seen:
            looked.append(f"{label}: {bindir} (same as above)")
            continue
        seen.add(key)
        missing = [name for name in _REQUIRED if not _is_executable(bindir / name)]
        if missing:
            looked.append(f"{label}: {bindir} has no {' or '.join(missing)}")
            continue
        found = _read_version(bindir / "postgres")
        if found is None:
            looked.append(f"{label}: {bindir}/postgres did not report a version")
            continue
        version, found_major, line = found
        if found_major != major:
            looked.append(f"{label}: {bindir} holds PostgreSQL {version}, not {major}")
            continue
        return PgBinaries(bindir=key, version=version, major=found_major, version_line=line)
    raise BinariesNotFoundError(
        f"PostgreSQL {major} server binaries not found; looked at: " + "; ".join(looked)
    )


def _candidates(major: int) -> list[tuple[str, Path | None]]:
    on_path = shutil.which("postgres")
    # Resolve the symlink (e.g. /usr/local/bin/postgres) to the real bindir, where initdb lives too.
    from_path = Path(on_path).resolve().parent if on_path else None
    return [
        ("PATH (postgres)", from_path),
        ("pg_config --bindir", _pg_config_bindir()),
        (f"/usr/lib/postgresql/{major}/bin", _existing(Path(f"/usr/lib/postgresql/{major}/bin"))),
    ]


def _pg_config_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    try:
        out = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return _existing(Path(out)) if out else None


def _existing(path: Path) -> Path | None:
    return path if path.is_dir() else None


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _read_version(postgres: Path) -> tuple[str, int, str] | None:
    """Parse ``postgres --version`` ("postgres (PostgreSQL) 15.18 (Debian ...)")."""
    try:
        line = subprocess.run(
            [str(postgres), "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION_RE.search(line)
    if match is None:
        return None
    version = match.group(1) + (f".{match.group(2)}" if match.group(2) else "")
    return version, int(match.group(1)), line
