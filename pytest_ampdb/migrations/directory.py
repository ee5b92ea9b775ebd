"""Migration files: names, versions, descriptions, header directives and statements.

Atlas derives everything it stores about a file (version, description, statement count, partial
hashes, tx mode, checkpoint) from its name and its header comments; these helpers do the same so
the revisions this project writes are the ones Atlas would write.
"""

from __future__ import annotations

import base64
import codecs
import datetime as dt
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from pytest_ampdb.migrations import checksum
from pytest_ampdb.migrations.errors import (
    DirectiveError,
    DirectoryError,
    FileScanError,
    ScanError,
    go_quote,
    rehash_hint,
)
from pytest_ampdb.migrations.splitter import split_statements

TX_NONE = "none"
TX_FILE = "file"
TX_ALL = "all"
TX_MODES = (TX_NONE, TX_FILE, TX_ALL)
UNSUPPORTED_DIRECTIVES = ("import", "txtar")


@dataclass
class MigrationFile:
    """One ``*.sql`` file of a migration directory."""

    name: str
    content: bytes
    hash: str = ""  # the running atlas.sum hash of this file ("" for a "sum ignore" file)
    _stmts: list[str] | None = field(default=None, repr=False, compare=False)

    @property
    def version(self) -> str:
        """The name without ``.sql`` up to the first ``_``."""
        return self.name.removesuffix(".sql").split("_", 1)[0]

    @property
    def description(self) -> str:
        """The rest of the name after the first ``_``, without ``.sql`` (may be empty)."""
        parts = self.name.split("_", 1)
        return parts[1].removesuffix(".sql") if len(parts) == 2 else ""

    @cached_property
    def text(self) -> str:
        """The content as text (undecodable bytes kept through ``surrogateescape``)."""
        return self.content.decode("utf-8", "surrogateescape")

    def header_comments(self) -> list[str]:
        """The leading ``--``/``#`` lines, only if a blank line separates them from the SQL.

        As in Atlas, the separating line may hold spaces or tabs, and a file holding nothing
        but header comments keeps them all.
        """
        comments: list[str] = []
        content = self.text
        while content.startswith(("#", "--")):
            idx = content.find("\n")
            if idx == -1:
                comments.append(content)  # comments-only file
                break
            comments.append(content[:idx].strip())
            content = content[idx + 1 :]
        if content and not content.lstrip(" \t").startswith("\n"):
            return []
        return comments

    def directives(self, name: str) -> list[str]:
        """The arguments of every header ``atlas:<name>`` directive."""
        found: list[str] = []
        for comment in self.header_comments():
            value = checksum.directive(comment, name)
            if value is not None:
                found.append(value)
        return found

    @property
    def is_checkpoint(self) -> bool:
        """Whether the file carries an ``atlas:checkpoint`` header directive."""
        return bool(self.directives("checkpoint"))

    @property
    def checkpoint_tag(self) -> str:
        """The tag of an ``atlas:checkpoint <tag>`` directive ("" without one)."""
        ds = self.directives("checkpoint")
        return ds[0] if ds else ""

    def txmode(self) -> str | None:
        """The file's ``atlas:txmode`` (``none``/``file``), None without one; errors as Atlas."""
        ds = self.directives("txmode")
        if not ds:
            return None
        if len(ds) > 1:
            quoted = " ".join(go_quote(d) for d in ds)
            raise DirectiveError(
                f"multiple txmode values found in file {go_quote(self.name)}: [{quoted}]"
            )
        if ds[0] == TX_ALL:
            raise DirectiveError(
                f'txmode "all" is not allowed in file directive {go_quote(self.name)}. '
                'Use "file" instead'
            )
        if ds[0] in (TX_NONE, TX_FILE):
            return ds[0]
        raise DirectiveError(
            f"unknown txmode {go_quote(ds[0])} found in file directive {go_quote(self.name)}"
        )

    def mode_under(self, global_mode: str) -> str:
        """The transaction mode this file runs in when ``global_mode`` is asked for."""
        mode = self.txmode()
        if mode is None or mode == global_mode:
            return global_mode
        if global_mode == TX_ALL:
            raise DirectiveError(
                f"cannot set txmode directive to {go_quote(mode)} in {go_quote(self.name)} "
                'when txmode "all" is set globally'
            )
        return mode

    def statements(self) -> list[str]:
        """The statement texts, split as Atlas splits PostgreSQL files.

        Refused before anything runs: a file starting with a byte order mark (Atlas sends it
        and PostgreSQL fails on it) and a header directive Atlas's community edition does not
        honour (``atlas:import``, ``atlas:txtar``: the file would run without what it names).
        """
        if self._stmts is None:
            if self.content.startswith(codecs.BOM_UTF8):
                bom = "a UTF-8 byte order mark, which PostgreSQL reads as a syntax error: save "
                raise FileScanError(self.name, ScanError(1, 1, bom + "the file without it"))
            for unsupported in UNSUPPORTED_DIRECTIVES:
                if self.directives(unsupported):
                    raise DirectiveError(
                        f"atlas:{unsupported} directive in {go_quote(self.name)} is not supported "
                        "by ampdb (the file would run without what the directive names)"
                    )
            try:
                self._stmts = [s.text for s in split_statements(self.text)]
            except ScanError as exc:
                raise FileScanError(self.name, exc) from None
        return self._stmts

    def partial_hashes(self) -> list[str]:
        """``h1:<b64>`` of SHA-256 over the texts of statements ``0..i``, for each ``i``."""
        h = hashlib.sha256()
        out: list[str] = []
        for stmt in self.statements():
            h.update(stmt.encode("utf-8", "surrogateescape"))
            out.append("h1:" + base64.b64encode(h.digest()).decode("ascii"))
        return out


class MigrationDir:
    """A directory of migration files with its ``atlas.sum``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise checksum.not_a_directory(self.path)
        self._files: list[MigrationFile] | None = None
        self._entries: list[checksum.SumEntry] = []

    def files(self) -> list[MigrationFile]:
        """Every migration file, sorted byte-wise by name, with its atlas.sum hash."""
        if self._files is None:
            raw = checksum.read_files(self.path)
            self._entries = checksum.compute_entries(raw)
            hashes = {e.name: e.hash for e in self._entries}
            self._files = [
                MigrationFile(os.fsdecode(name), content, hashes.get(name, ""))
                for name, content in raw
            ]
        return self._files

    def validate(self, *, sum_required: bool = True) -> None:
        """Raise :class:`~pytest_ampdb.migrations.errors.ChecksumError` on any drift, and
        :class:`~pytest_ampdb.migrations.errors.DirectoryError` on two files of one version.

        ``sum_required=False``: a directory without ``atlas.sum`` passes (Atlas's ``migrate
        lint`` skips its integrity check then); one that has it is still checked."""
        files = self.files()
        checksum.validate_entries(
            self.path / checksum.SUM_FILE, self._entries, has_files=bool(files) and sum_required
        )
        check_versions(files, self.path)


def check_versions(files: Sequence[MigrationFile], directory: Path) -> None:
    """Refuse two files with one version: the revisions table keys rows by version, so both
    would run and share (and garble) one row. Atlas has no check of its own for this."""
    seen: dict[str, str] = {}
    for f in files:
        if f.version in seen:
            raise DirectoryError(
                f"migration files {seen[f.version]} and {f.name} have the same version "
                f"{f.version}: rename one of them and run {rehash_hint(directory)}"
            )
        seen[f.version] = f.name


def validate_dir(directory: str | os.PathLike[str], *, sum_required: bool = True) -> None:
    """Everything ``migrate validate`` checks without a database: ``atlas.sum`` against the
    files (:class:`ChecksumError`), then one file per version (:class:`DirectoryError`)."""
    MigrationDir(directory).validate(sum_required=sum_required)


def new_file(
    directory: str | os.PathLike[str],
    name: str = "",
    *,
    now: dt.datetime | None = None,
    content: str = "",
) -> Path:
    """Create ``YYYYMMDDHHMMSS[_name].sql`` (UTC; empty unless ``content`` is given) and
    re-hash the directory.

    Like ``atlas migrate new``, the directory must be valid first, so a stale atlas.sum is never
    silently re-hashed over someone's edit.
    """
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    validate_dir(path)
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d%H%M%S")
    filename = f"{stamp}_{name}.sql" if name else f"{stamp}.sql"
    if "/" in filename or os.sep in filename:
        raise DirectoryError(f"invalid migration name {name!r}")
    target = path / filename
    if target.exists():
        raise DirectoryError(f"migration file {filename} already exists")
    taken = next((f.name for f in MigrationDir(path).files() if f.version == stamp), None)
    if taken is not None:  # one version, two files: refused by every command (check_versions)
        raise DirectoryError(
            f"migration file {taken} already has version {stamp}: run migrate new again in a second"
        )
    target.write_bytes(content.encode("utf-8"))
    checksum.write_sum(path)
    return target
