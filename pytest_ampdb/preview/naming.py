"""Which branch this is, and the preview database it gets: ``pr-<slug>``.

The branch comes from the caller, ``AMPDB_BRANCH``, the CI's own variables, or git, in that
order. The database name is derived so that it is always a plain, short identifier
(``[a-z0-9-]``, at most PostgreSQL's 63 bytes) whatever the branch is called; a name that had
to be cut ends in a hash of the whole branch name, so two long branches never share a preview.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

from pytest_ampdb.preview.errors import BranchNotFoundError

PREFIX = "pr-"
MAX_NAME_BYTES = 63
"""PostgreSQL's identifier limit (NAMEDATALEN - 1): longer names are silently truncated."""
HASH_CHARS = 10

BRANCH_ENV = "AMPDB_BRANCH"

# (variable, CI it belongs to); earlier wins. A pull/merge request's *source* branch comes
# before the ref being built, which for a PR is a synthetic merge ref (``123/merge``).
_CI_VARIABLES: tuple[tuple[str, str], ...] = (
    ("GITHUB_HEAD_REF", "GitHub Actions"),
    ("GITHUB_REF_NAME", "GitHub Actions"),
    ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "GitLab CI"),
    ("CI_COMMIT_REF_NAME", "GitLab CI"),
    ("BUILDKITE_BRANCH", "Buildkite"),
    ("CIRCLE_BRANCH", "CircleCI"),
)
# Jenkins uses generic names, so they count only inside Jenkins (JENKINS_URL or JENKINS_HOME).
_JENKINS_VARIABLES = ("CHANGE_BRANCH", "BRANCH_NAME", "GIT_BRANCH")
_JENKINS_MARKERS = ("JENKINS_URL", "JENKINS_HOME")
_REMOTE_PREFIXES = ("refs/heads/", "refs/remotes/origin/", "remotes/origin/", "origin/")

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def branch_name(
    explicit: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    """The branch to make a preview for: ``explicit``, ``AMPDB_BRANCH``, CI variables, git.

    ``environ`` defaults to ``os.environ``; ``cwd`` is where ``git`` runs (default: the current
    directory). Raises :class:`BranchNotFoundError` when nothing names a branch (outside git,
    or on a detached HEAD with no CI variable).
    """
    env = os.environ if environ is None else environ
    if explicit is not None and explicit.strip():
        return explicit.strip()
    found = branch_from_environment(env)
    if found is not None:
        return found
    return branch_from_git(cwd)


def branch_from_environment(environ: Mapping[str, str]) -> str | None:
    """``AMPDB_BRANCH``, else the branch a known CI says it builds, else None."""
    value = environ.get(BRANCH_ENV, "").strip()
    if value:
        return value
    for name, _ci in _CI_VARIABLES:
        value = environ.get(name, "").strip()
        if value:
            return value
    if any(environ.get(marker) for marker in _JENKINS_MARKERS):
        for name in _JENKINS_VARIABLES:
            value = _strip_remote(environ.get(name, "").strip())
            if value:
                return value
    return None


def branch_from_git(cwd: Path | None = None) -> str:
    """``git rev-parse --abbrev-ref HEAD`` in ``cwd``; an error outside git or when detached."""
    hint = "pass --branch (--ampdb-branch in pytest) or set AMPDB_BRANCH"
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--abbrev-ref", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise BranchNotFoundError(f"no branch name: git could not be run ({exc}); {hint}") from None
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        why = lines[0] if lines else f"exit status {result.returncode}"
        raise BranchNotFoundError(f"no branch name: git says {why}; {hint}")
    name = result.stdout.strip()
    if not name or name == "HEAD":
        raise BranchNotFoundError(f"no branch name: git is on a detached HEAD; {hint}")
    return name


def database_name(branch: str) -> str:
    """The preview database of ``branch``: ``pr-<slug>``, at most 63 bytes, ``[a-z0-9-]`` only.

    The slug is the branch lowercased, every run of characters outside ``[a-z0-9]`` turned into
    one ``-``, trimmed of ``-``. When ``pr-<slug>`` would pass 63 bytes (or the slug is empty),
    it is cut and ends in ``-`` and a hash of the full branch name instead.
    """
    if not branch:
        raise ValueError("a branch name cannot be empty")
    slug = _NOT_SLUG.sub("-", branch.lower()).strip("-")
    name = PREFIX + slug
    if slug and len(name) <= MAX_NAME_BYTES:
        return name
    digest = hashlib.sha256(branch.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]
    room = MAX_NAME_BYTES - len(PREFIX) - 1 - HASH_CHARS
    head = slug[:room].rstrip("-")
    return f"{PREFIX}{head}-{digest}" if head else f"{PREFIX}{digest}"


def is_preview_name(name: str) -> bool:
    """Whether ``name`` has the shape ``database_name`` produces (a mark is still required)."""
    return (
        name.startswith(PREFIX)
        and len(name) > len(PREFIX)
        and len(name.encode()) <= MAX_NAME_BYTES
        and _NOT_SLUG.sub("-", name) == name
        and not name.endswith("-")
        and "--" not in name
    )


def _strip_remote(value: str) -> str:
    for prefix in _REMOTE_PREFIXES:
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


def printable(text: str) -> str:
    """``text`` safe to print on one terminal line: control characters shown as escapes."""
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")
    return "".join(out)
