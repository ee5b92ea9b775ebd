"""The schema snapshot beside a migration directory: the schema check without a server.

``migrate diff`` proves on PostgreSQL that the directory builds the declared schema, then
writes ``ampdb.schema.json`` into the directory: the declared schema it checked, the catalog
the directory builds, and the atlas.sum total of the files it was made from. Memory mode
compares the declarations with that file; a migration edited, added or removed since (and
re-hashed) changes the total, so the snapshot is reported stale instead of trusted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_ampdb.migrations import desired
from pytest_ampdb.migrations.catalog import (
    Schema,
    first_difference,
    schema_from_json,
    schema_to_json,
)
from pytest_ampdb.migrations.checksum import hash_dir
from pytest_ampdb.migrations.directory import MigrationDir
from pytest_ampdb.migrations.errors import ChecksumError, MigrationError, rehash_hint
from pytest_ampdb.models.schema import TableSpec

SNAPSHOT_FILE = "ampdb.schema.json"
FORMAT = 1


@dataclass(frozen=True)
class SchemaSnapshot:
    """What one ``migrate diff`` found: the files' total, their last version, both schemas."""

    directory_sum: str
    version: str
    declared: Schema
    catalog: Schema


def directory_sum(directory: Path) -> str:
    """The atlas.sum total (``h1:...``) of the directory's files as they are now."""
    return hash_dir(directory).split("\n", 1)[0]


def last_version(directory: Path) -> str:
    files = MigrationDir(directory).files()
    return files[-1].version if files else "none"


def validated(directory: Path) -> MigrationDir:
    """The directory, its atlas.sum checked (one line naming the file at fault)."""
    files = MigrationDir(directory)
    try:
        files.validate()
    except ChecksumError as exc:
        raise MigrationError(
            f"{directory / 'atlas.sum'}: {exc}; if the change is deliberate, run "
            + rehash_hint(directory)
        ) from None
    return files


def load(directory: Path, schema: str | None = None) -> SchemaSnapshot | None:
    """The directory's snapshot, or None when it has none (``schema``: for the hint)."""
    path = directory / SNAPSHOT_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
        return SchemaSnapshot(
            data["directory"],
            data["version"],
            schema_from_json(data["declared"]),
            schema_from_json(data["catalog"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MigrationError(
            f"{path}: not a schema snapshot ({exc}); {remake_hint(directory, schema)}"
        ) from None


def refresh(directory: Path, declared: Schema, catalog: Schema) -> bool:
    """Write the snapshot unless the file already says exactly this; True when written."""
    data: dict[str, Any] = {
        "format": FORMAT,
        "directory": directory_sum(directory),
        "version": last_version(directory),
        "declared": schema_to_json(declared),
        "catalog": schema_to_json(catalog),
    }
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    path = directory / SNAPSHOT_FILE
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def check(directory: Path, tables: Mapping[str, TableSpec[Any]], schema: str | None = None) -> str:
    """Without a server: the directory is valid, its snapshot current, and the schema it
    builds is the declared one. Returns the directory's migration version; raises a
    ``MigrationError`` of one line naming the file, or the table and column, at fault (and the
    command that mends it, for ``schema``, the schema module in use)."""
    validated(directory)
    snap = load(directory, schema)
    if snap is None:
        raise MigrationError(
            f"{directory}: no schema snapshot ({SNAPSHOT_FILE}) to check the declarations "
            f"against; {remake_hint(directory, schema)}"
        )
    now = directory_sum(directory)
    if snap.directory_sum != now:
        raise MigrationError(
            f"{directory / SNAPSHOT_FILE} is stale: it was made from migration files summing to "
            f"{snap.directory_sum}, they now sum to {now} (a migration was added, removed or "
            f"edited since); {remake_hint(directory, schema)}"
        )
    difference = first_difference(desired.declared_schema(tables), snap.declared, "the migrations")
    if difference:
        raise MigrationError(
            f"{directory}: the migrations do not build the declared schema: {difference}; "
            f"{remake_hint(directory, schema)}"
        )
    return snap.version


def remake_hint(directory: Path, schema: str | None = None) -> str:
    """The command that brings ``directory`` back in line with the declarations: ``--schema``
    named whenever a project's schema module is in use (without it, ``migrate diff`` would
    diff against the packaged tables and drop the project's own)."""
    named = f" --schema {schema}" if schema else ""
    return (
        f"run 'ampdb migrate diff --dir {directory}{named} NAME' (it writes the missing "
        "migration, or only the snapshot)"
    )
