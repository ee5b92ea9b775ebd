"""Read and check ``schema/seed/<table>.json``: one JSON array of rows per table.

Every value is normalized as the repositories would store it, and the whole set is loaded into a
scratch ``MemoryStore`` in foreign-key order, so a duplicate key or a dangling reference is found
here, before any database is touched. Every problem is one ``SeedError`` line naming the file, the
row (1-based) and the rule.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.models.ordering import LoadPlan, load_plan
from pytest_ampdb.models.schema import Row, TableSpec
from pytest_ampdb.models.tables import TABLES
from pytest_ampdb.paths import seeds_dir


class SeedError(AmpdbError):
    """A seed file or row that cannot be loaded; the message names file, row and rule."""


@dataclass(frozen=True)
class SeedIds:
    """The fixed ids tests and ``ampdb env`` name (``PROJECT_ID``, ``API_KEY``, ``ADMIN_KEY``)."""

    found: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def organization_id(self) -> str:
        return self._get("organization_id", "an organization")

    @property
    def project_id(self) -> str:
        return self._get("project_id", "a project")

    @property
    def api_key(self) -> str:
        return self._get("api_key", "an api key with the 'full' scope")

    @property
    def admin_key(self) -> str:
        return self._get("admin_key", "an api key with the 'admin' scope")

    def _get(self, name: str, what: str) -> str:
        value = self.found.get(name)
        if value is None:
            raise AmpdbError(f"the seeds hold no {what}, so there is no {name}")
        return value

    def __repr__(self) -> str:
        masked = {k: ("***" if k.endswith("key") and v else v) for k, v in self.found.items()}
        return f"SeedIds({', '.join(f'{k}={v!r}' for k, v in masked.items())})"


@dataclass(frozen=True)
class SeedSet:
    """Checked seed rows per table, the order to load them in, and the ids they define."""

    directory: Path
    rows: Mapping[str, list[Row]]
    plan: LoadPlan
    ids: SeedIds
    files: Mapping[str, Path] = field(default_factory=dict)
    tables: Mapping[str, TableSpec[Any]] = field(default_factory=lambda: TABLES)
    """The declarations the rows were checked against (the loaders write through them)."""

    def count(self) -> int:
        return sum(len(rows) for rows in self.rows.values())


def read_files(
    directory: Path | None = None, tables: Mapping[str, TableSpec[Any]] = TABLES
) -> SeedSet:
    """Read, normalize and check each seed file of ``directory`` (default: the packaged seeds)
    against the declared ``tables`` (a project's own entities and columns too);
    ``seeds.read_seeds`` also checks keys and references across the files."""
    directory = Path(directory) if directory is not None else seeds_dir()
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "not found"
        raise SeedError(f"{directory}: seed directory {what}")
    files: dict[str, Path] = {}
    for path in sorted(directory.glob("*.json")):
        if path.name.startswith("."):
            continue  # an editor's lock or backup (.#projects.json), macOS's ._projects.json
        if path.stem not in tables:
            own = (
                "; a table your schema module adds needs that module named: ampdb's --schema or "
                "AMPDB_SCHEMA, pytest's --ampdb-schema or ampdb_schema"
                if tables is TABLES
                else ""
            )
            raise SeedError(
                f"{path}: no table named {path.stem!r} (expected one of {', '.join(tables)}){own}"
            )
        files[path.stem] = path
    rows = {name: _read_file(tables[name], files[name]) for name in tables if name in files}
    plan = load_plan(tables.values())
    by_table = {n: rows.get(n, []) for n in plan.order}
    return SeedSet(directory, by_table, plan, _ids(rows), files, tables)


def _read_file(spec: TableSpec[Any], path: Path) -> list[Row]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise SeedError(
            f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedError(f"{path}: cannot be read: {exc}") from None
    except ValueError:  # an integer past Python's 4300-digit conversion limit
        raise SeedError(f"{path}: a number of more than 4300 digits cannot be read") from None
    if not isinstance(data, list):
        raise SeedError(f"{path}: expected a JSON array of rows, found {_python_type(data)}")
    out = []
    known = set(spec.column_names)
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise SeedError(f"{path}: row {number}: expected an object, found {_python_type(item)}")
        repeated = _repeated_key(item)
        if repeated is not None:
            raise SeedError(
                f"{path}: row {number}: key {repeated!r} appears twice in {spec.name} "
                "(JSON keeps only the last one)"
            )
        unknown = sorted(set(item) - known)
        if unknown:
            raise SeedError(
                f"{path}: row {number}: unknown column {', '.join(unknown)} in {spec.name}"
            )
        try:
            out.append(spec.normalize({**spec.declared_defaults, **item}))
        except AmpdbError as exc:
            raise SeedError(f"{path}: row {number}: {exc}") from None
    return out


class _Object(dict[str, Any]):
    """A JSON object that remembers the first key it was given twice."""

    repeated: str | None = None


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    """``object_pairs_hook``: build the object, noting a repeated key instead of dropping it."""
    obj = _Object()
    for key, value in pairs:
        if key in obj and obj.repeated is None:
            obj.repeated = key
        obj[key] = value
    return obj


def _python_type(value: Any) -> str:
    """The Python type a JSON value reads as (an object is a ``dict``, not our ``_Object``)."""
    return "dict" if isinstance(value, dict) else type(value).__name__


def _repeated_key(value: Any) -> str | None:
    """The first repeated key in ``value`` or any object nested in it."""
    if isinstance(value, _Object) and value.repeated is not None:
        return value.repeated
    children = (
        value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    )
    for child in children:
        found = _repeated_key(child)
        if found is not None:
            return found
    return None


def _ids(rows: Mapping[str, list[Row]]) -> SeedIds:
    def first(table: str, column: str, scope: str | None = None) -> str | None:
        for row in rows.get(table, []):
            if scope is None or scope in row.get("scopes", ()):
                return str(row[column])
        return None

    return SeedIds(
        {
            "organization_id": first("organizations", "id"),
            "project_id": first("projects", "id"),
            "api_key": first("api_keys", "key", "full"),
            "admin_key": first("api_keys", "key", "admin"),
        }
    )
