"""The ``atlas.sum`` integrity file: hash, write, read and validate it exactly as Atlas does.

Atlas refuses to apply a directory whose files changed since ``atlas migrate hash``; agreeing with
it byte for byte is what lets one directory be managed by either tool. The algorithm (one running
SHA-256 over names and contents, never reset) is described in ``atlas-format.md`` section 1.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_ampdb.migrations.errors import ChecksumError, DirectoryError, go_quote

SUM_FILE = "atlas.sum"

# Only the first line can match: "[ -~]" and "." stop at a newline. ASCII "\w" as in Go.
_DIRECTIVE = re.compile(r"([ -~]*)atlas:(\w+)(?: +(.+))*", re.ASCII)


@dataclass(frozen=True)
class SumEntry:
    """One ``<name> h1:<hash>`` line: the running hash after this file."""

    name: bytes
    hash: str


def directive(content: str, name: str, prefix: str | None = None) -> str | None:
    """The argument of an ``atlas:<name>`` directive at the start of ``content``, else None.

    With ``prefix``, the text before ``atlas:`` must be exactly that (``"-- "`` for delimiter).
    A directive without an argument yields ``""``.
    """
    m = _DIRECTIVE.match(content)
    if m is None or m.group(2) != name:
        return None
    if prefix is not None and m.group(1) != prefix:
        return None
    return m.group(3) or ""


def sum_ignored(content: bytes) -> bool:
    """Whether the first line is an ``atlas:sum ignore`` directive (its content is not hashed)."""
    first = content.split(b"\n", 1)[0]
    try:
        text = first.decode("ascii")
    except UnicodeDecodeError:
        # Non-ASCII can only appear after the directive's prefix (group 3 is ".+");
        # decode leniently so "atlas:sum ignore<utf-8 text>" still compares unequal to "ignore".
        text = first.decode("utf-8", "surrogateescape")
    return directive(text, "sum") == "ignore"


def list_sql_files(directory: Path) -> list[tuple[bytes, Path]]:
    """Every regular file of ``directory`` whose name ends in ``.sql``, sorted byte-wise, as
    Atlas's ``*.sql`` glob (case-sensitive; other files and sub-directories are not migrations).

    A directory named like a migration is refused as Atlas refuses it, and a symlink named like
    one that points nowhere is refused too, not skipped: skipping it would hash and apply the
    directory as if the file had never been written.
    """
    found: list[tuple[bytes, Path]] = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if not entry.name.endswith(".sql"):
                    continue
                if entry.is_file():
                    found.append((os.fsencode(entry.name), Path(entry.path)))
                elif entry.is_dir():  # Atlas globs it, then fails to read it: never skipped
                    raise DirectoryError(
                        f"read file {go_quote(entry.name)}: read {entry.path}: is a directory"
                    )
                elif entry.is_symlink() and not os.path.exists(entry.path):
                    target = os.readlink(entry.path)
                    raise DirectoryError(
                        f"migration file {entry.name} is a dangling symlink (to {target}): "
                        "restore its target or remove the link"
                    )
    except (FileNotFoundError, NotADirectoryError):
        raise not_a_directory(directory) from None
    found.sort(key=lambda item: item[0])
    return found


def not_a_directory(path: Path) -> DirectoryError:
    """A migration directory that is missing or a file, in Atlas's words (``NewLocalDir``)."""
    if path.exists():
        return DirectoryError(f"{go_quote(str(path))} is not a dir")
    return DirectoryError(f"stat {path}: no such file or directory")


def compute_entries(files: Sequence[tuple[bytes, bytes]]) -> list[SumEntry]:
    """The sum entries of ``(name, content)`` pairs already sorted byte-wise."""
    h = hashlib.sha256()
    entries: list[SumEntry] = []
    for name, content in files:
        h.update(name)
        if sum_ignored(content):
            continue
        h.update(content)
        entries.append(SumEntry(name, base64.b64encode(h.digest()).decode("ascii")))
    return entries


def sum_total(entries: Sequence[SumEntry]) -> str:
    """The header hash: SHA-256 over every name and hash text, base64."""
    h = hashlib.sha256()
    for entry in entries:
        h.update(entry.name)
        h.update(entry.hash.encode("ascii", "surrogateescape"))
    return base64.b64encode(h.digest()).decode("ascii")


def format_sum(entries: Sequence[SumEntry]) -> bytes:
    """The bytes of an ``atlas.sum`` file for these entries."""
    lines = [f"h1:{sum_total(entries)}\n".encode("ascii")]
    for entry in entries:
        lines.append(entry.name + b" h1:" + entry.hash.encode("ascii", "surrogateescape") + b"\n")
    return b"".join(lines)


@dataclass(frozen=True)
class SumFile:
    """A parsed ``atlas.sum``: the stored header total and the entries."""

    total: str
    entries: list[SumEntry]


def parse_sum(data: bytes) -> SumFile:
    """Read an ``atlas.sum`` like Go's ``bufio.Scanner`` does; check the header against the lines.

    Raises :class:`ChecksumError` (``format`` for a line without ``h1:``, ``mismatch`` when the
    header does not match the entries).
    """
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    first = lines[0] if lines else b""
    total = first.removeprefix(b"h1:").decode("ascii", "surrogateescape")
    entries: list[SumEntry] = []
    for line in lines[1:]:
        name, sep, digest = line.partition(b"h1:")
        if not sep:
            raise ChecksumError("format")
        entries.append(SumEntry(name.strip(), digest.decode("ascii", "surrogateescape")))
    if total != sum_total(entries):
        raise ChecksumError("mismatch")
    return SumFile(total, entries)


def read_files(directory: Path) -> list[tuple[bytes, bytes]]:
    """``(name, content)`` of every migration file, sorted byte-wise."""
    return [(name, path.read_bytes()) for name, path in list_sql_files(directory)]


def hash_dir(directory: str | os.PathLike[str]) -> str:
    """The text ``atlas migrate hash`` would write for ``directory``."""
    return format_sum(compute_entries(read_files(Path(directory)))).decode(
        "utf-8", "surrogateescape"
    )


def write_sum(directory: str | os.PathLike[str]) -> Path:
    """(Re)write ``<directory>/atlas.sum`` unconditionally, as ``atlas migrate hash`` does."""
    path = Path(directory)
    data = format_sum(compute_entries(read_files(path)))
    target = path / SUM_FILE
    target.write_bytes(data)
    return target


def validate_dir(directory: str | os.PathLike[str]) -> None:
    """Raise :class:`ChecksumError` unless ``atlas.sum`` matches the directory's files.

    A mismatch is located to the first differing entry (``added``/``edited``/``removed``) with its
    atlas.sum line number, as Atlas's ``migrate validate`` reports it.
    """
    path = Path(directory)
    files = read_files(path)
    validate_entries(path / SUM_FILE, compute_entries(files), has_files=bool(files))


def validate_entries(sum_path: Path, computed: list[SumEntry], *, has_files: bool) -> None:
    """Check the sum file at ``sum_path`` against entries already computed from the files."""
    try:
        data = sum_path.read_bytes()
    except FileNotFoundError:
        if has_files:
            raise ChecksumError("not_found") from None
        return
    parsed = parse_sum(data)
    if sum_total(parsed.entries) == sum_total(computed):
        return
    raise _locate(parsed.entries, computed)


def _locate(parsed: list[SumEntry], computed: list[SumEntry]) -> ChecksumError:
    present = {entry.name for entry in computed}
    for i, entry in enumerate(parsed):
        if i < len(computed) and computed[i] == entry:
            continue
        if entry.name not in present:
            return _diff(i, entry.name, "removed")
        if i < len(computed) and computed[i].name == entry.name:
            return _diff(i, entry.name, "edited")
        name = computed[i].name if i < len(computed) else entry.name
        return _diff(i, name, "added")
    if len(computed) > len(parsed):
        return _diff(len(parsed), computed[len(parsed)].name, "added")
    return ChecksumError("mismatch")


def _diff(index: int, name: bytes, reason: str) -> ChecksumError:
    return ChecksumError("mismatch", line=index + 2, file=os.fsdecode(name), reason=reason)
