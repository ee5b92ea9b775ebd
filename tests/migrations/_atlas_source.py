"""Atlas's own test data, read where it lies (never copied into this project).

The conformance folders under ``../shared/conformance/atlas`` hold real directories; Atlas's CLI
scripts (``*.txtar``) and Go tests are read from a clone of github.com/ariga/atlas at the commit
those folders were taken from: ``$AMPDB_ATLAS_SOURCE`` (a clone or bare git directory), else the
machine's mirror next to ``shared``. Without one the tests that need it (marked ``atlas_source``)
are not collected, and the run's summary says so; with ``$AMPDB_ATLAS_SOURCE`` set, a missing or
incomplete clone fails them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ._support import CONFORMANCE

# The commit of github.com/ariga/atlas the conformance folder ariga__atlas was copied from.
ATLAS_COMMIT = "a5e0aecc2bb64143bf522734f8ad88e04885fca6"
_MIRROR = CONFORMANCE.resolve().parents[2] / ".mirror" / "ariga+atlas" / "repo"


def named_or_found() -> bool:
    """Whether a source is named (``$AMPDB_ATLAS_SOURCE``: a wrong one fails the tests) or the
    mirror is there. Without either, the tests marked ``atlas_source`` are not collected (this
    project's CI reaches no copy of Atlas's tree: only package registries)."""
    return bool(os.environ.get("AMPDB_ATLAS_SOURCE")) or _MIRROR.exists()


def _source() -> Path:
    named = os.environ.get("AMPDB_ATLAS_SOURCE")
    candidates = [Path(named)] if named else [_MIRROR]
    for path in candidates:
        if path.exists():
            return path
    reason = (
        f"Atlas's source is absent ({', '.join(map(str, candidates))}): set AMPDB_ATLAS_SOURCE "
        f"to a clone of github.com/ariga/atlas holding commit {ATLAS_COMMIT}"
    )
    if named:
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _git(*args: str) -> bytes:
    done = subprocess.run(
        ["git", "-C", str(_source()), *args], capture_output=True, check=False
    )  # fmt: skip
    if done.returncode != 0:
        pytest.fail(
            f"reading Atlas's source at {ATLAS_COMMIT}: {done.stderr.decode().strip()}",
            pytrace=False,
        )
    return done.stdout


def atlas_file(path: str) -> bytes:
    """The bytes of ``path`` in Atlas's tree at :data:`ATLAS_COMMIT`."""
    return _git("show", f"{ATLAS_COMMIT}:{path}")


def atlas_listing(folder: str) -> list[str]:
    """The paths of every file under ``folder`` in Atlas's tree at :data:`ATLAS_COMMIT`."""
    out = _git("ls-tree", "-r", "--name-only", ATLAS_COMMIT, "--", folder)
    return out.decode().splitlines()


def atlas_copy(folder: str, target: Path) -> Path:
    """The files of ``folder`` itself (not its sub-folders), written byte for byte into a new
    directory under ``target``."""
    dest = target / folder.replace("/", "_")
    dest.mkdir(parents=True)
    for path in atlas_listing(folder):
        if str(Path(path).parent) == folder:
            (dest / Path(path).name).write_bytes(atlas_file(path))
    return dest
