"""The twelve tables: what each adds to its model's columns (keys, references, rules, order).

The migrations in ``schema/migrations`` create exactly this; ``tests/`` compares the migrated
catalog with these declarations, so the two cannot drift apart silently.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from pytest_ampdb.models import entities as e
from pytest_ampdb.models.columns import Kind
from pytest_ampdb.models.enums import ApiKeyScope, JwtAlgorithm, OperationStatus
from pytest_ampdb.models.schema import Check, ForeignKey, OnDelete, TableSpec, UniqueKey

M = TypeVar("M")

PROJECT_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")
CREATED_BY_PATTERN = re.compile(r"^(consumer|builder):.+$", re.DOTALL)
_API_KEY_SCOPES = frozenset(s.value for s in ApiKeyScope)

OPERATION_MOVES: Mapping[str, frozenset[str]] = {
    OperationStatus.PENDING: frozenset({OperationStatus.RUNNING, OperationStatus.FAILED}),
    OperationStatus.RUNNING: frozenset({OperationStatus.COMPLETED, OperationStatus.FAILED}),
    OperationStatus.COMPLETED: frozenset(),
    OperationStatus.FAILED: frozenset(),
}
"""Allowed operation status moves; nothing leaves completed or failed."""


def _project_fk(table: str) -> ForeignKey:
    return ForeignKey(f"{table}_project_id_fkey", "project_id", "projects", OnDelete.CASCADE)


def _ref(table: str, column: str, parent: str, on_delete: OnDelete) -> ForeignKey:
    """A reference that stays inside the project: ``(project_id, column) -> parent``."""
    return ForeignKey(f"{table}_{column}_fkey", column, parent, on_delete, scope="project_id")


def _unique(table: str, *columns: str) -> UniqueKey:
    return UniqueKey(f"{table}_{'_'.join(columns)}_key", columns)


MAX_INDEXED_TEXT = 255
"""Characters allowed in a text column a key or list-order index holds: at 4 UTF-8 bytes a
character this stays far below PostgreSQL's btree entry limit (2704 bytes), which a long
value would otherwise hit as a raw "index row size exceeds maximum" error."""


def length_limit(table: str, column: str) -> Check:
    """The length CHECK every indexed text column carries (``<table>_<column>_length_check``)."""
    return Check(
        f"{table}_{column}_length_check",
        column,
        lambda v: len(v) <= MAX_INDEXED_TEXT,
        f"must be at most {MAX_INDEXED_TEXT} characters",
        f"char_length({column}) <= {MAX_INDEXED_TEXT}",
    )


def limit_indexed_text(spec: TableSpec[M]) -> TableSpec[M]:
    """``spec`` with a ``length_limit`` on each text column a key or index holds that has none
    (what ``extend`` gives a project's own entities): PostgreSQL refuses a long value there
    with a btree error the memory store cannot foresee, so both backends refuse it earlier."""
    indexed = {c for key in spec.keys for c in key.columns} | {
        c for index in (*spec.index_columns, *spec.list_indexes) for c in index
    }
    named = {check.name for check in spec.checks}
    added = tuple(
        length_limit(spec.name, column.name)
        for column in spec.columns
        if column.name in indexed
        and column.kind is Kind.TEXT
        and column.enum is None
        and f"{spec.name}_{column.name}_length_check" not in named
    )
    return dataclasses.replace(spec, checks=(*spec.checks, *added)) if added else spec


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


ORGANIZATIONS = TableSpec(name="organizations", model=e.Organization, scope=None)

PROJECTS = TableSpec(
    name="projects",
    model=e.Project,
    scope=None,
    lookups=(("organization_id",),),
    indexes=(("organization_id",),),
    unique=(_unique("projects", "name"),),
    foreign_keys=(
        ForeignKey(
            "projects_organization_id_fkey", "organization_id", "organizations", OnDelete.NO_ACTION
        ),
    ),
    checks=(
        length_limit("projects", "name"),
        Check(
            "projects_name_check",
            "name",
            lambda v: bool(PROJECT_NAME_PATTERN.fullmatch(v)),
            f"must match {PROJECT_NAME_PATTERN.pattern}",
            f"name ~ '{PROJECT_NAME_PATTERN.pattern}'",
        ),
    ),
    normalizers={"name": _lower},
)

INTEGRATIONS = TableSpec(
    name="integrations",
    model=e.Integration,
    indexes=(("latest_revision_id",),),
    unique=(_unique("integrations", "project_id", "name"),),
    foreign_keys=(
        _project_fk("integrations"),
        _ref("integrations", "latest_revision_id", "revisions", OnDelete.SET_NULL),
    ),
    checks=(length_limit("integrations", "name"),),
)

REVISIONS = TableSpec(
    name="revisions",
    model=e.Revision,
    indexes=(("integration_id", "create_time", "id"),),  # list_by_integration
    updated_column=None,
    immutable=True,
    foreign_keys=(
        _project_fk("revisions"),
        _ref("revisions", "integration_id", "integrations", OnDelete.CASCADE),
    ),
)

INSTALLATIONS = TableSpec(
    name="installations",
    model=e.Installation,
    indexes=(("connection_id",),),
    unique=(_unique("installations", "project_id", "integration_id", "group_ref"),),
    foreign_keys=(
        _project_fk("installations"),
        _ref("installations", "integration_id", "integrations", OnDelete.CASCADE),
        _ref("installations", "connection_id", "connections", OnDelete.NO_ACTION),
    ),
    checks=(
        length_limit("installations", "group_ref"),
        Check(
            "installations_created_by_check",
            "created_by",
            lambda v: bool(CREATED_BY_PATTERN.fullmatch(v)),
            "must look like consumer:<ref> or builder:<id>",
            f"created_by ~ '{CREATED_BY_PATTERN.pattern}'",
        ),
    ),
)

OPERATIONS = TableSpec(
    name="operations",
    model=e.Operation,
    foreign_keys=(
        _project_fk("operations"),
        _ref("operations", "integration_id", "integrations", OnDelete.CASCADE),
        _ref("operations", "installation_id", "installations", OnDelete.CASCADE),
    ),
    lookups=(("installation_id", "status"),),
    indexes=(("integration_id",), ("installation_id", "status")),
    transitions={"status": OPERATION_MOVES},
)

_CONNECTION_LOOKUPS = tuple(
    ("project_id", c) for c in ("provider", "group_ref", "consumer_ref", "status")
)

CONNECTIONS = TableSpec(
    name="connections",
    model=e.Connection,
    lookups=_CONNECTION_LOOKUPS,
    indexes=(
        ("provider_app_id",),
        *((*lookup, "create_time", "id") for lookup in _CONNECTION_LOOKUPS),
    ),
    foreign_keys=(
        _project_fk("connections"),
        _ref("connections", "provider_app_id", "provider_apps", OnDelete.SET_NULL),
    ),
    checks=tuple(length_limit("connections", c) for c in ("provider", "group_ref", "consumer_ref")),
)

PROVIDER_APPS = TableSpec(
    name="provider_apps",
    model=e.ProviderApp,
    unique=(_unique("provider_apps", "project_id", "provider"),),
    foreign_keys=(_project_fk("provider_apps"),),
    checks=(length_limit("provider_apps", "provider"),),
)

API_KEYS = TableSpec(
    name="api_keys",
    model=e.ApiKey,
    primary_key="key",
    order_by=("create_time", "key"),
    updated_column=None,
    foreign_keys=(_project_fk("api_keys"),),
    checks=(
        length_limit("api_keys", "key"),
        Check(
            "api_keys_scopes_check",
            "scopes",
            lambda v: set(v) <= _API_KEY_SCOPES,
            f"every scope must be one of {', '.join(s.value for s in ApiKeyScope)}",
            f"scopes <@ ARRAY[{', '.join(repr(s.value) for s in ApiKeyScope)}]",
        ),
    ),
)

DESTINATIONS = TableSpec(
    name="destinations",
    model=e.Destination,
    unique=(_unique("destinations", "project_id", "name"),),
    foreign_keys=(_project_fk("destinations"),),
    checks=(length_limit("destinations", "name"),),
)

JWT_KEYS = TableSpec(
    name="jwt_keys",
    model=e.JwtKey,
    updated_on_create=True,
    foreign_keys=(_project_fk("jwt_keys"),),
    checks=(
        Check(
            "jwt_keys_label_check",
            "label",
            lambda v: 1 <= len(v) <= 255,
            "must be 1 to 255 characters",
            "char_length(label) BETWEEN 1 AND 255",
        ),
        Check(
            "jwt_keys_algorithm_check",
            "algorithm",
            lambda v: v in {a.value for a in JwtAlgorithm},
            "must be RS256",
            "algorithm = 'RS256'",
        ),
    ),
)

READ_STATES = TableSpec(
    name="read_states",
    model=e.ReadState,
    created_column=None,
    updated_on_create=True,
    order_by=("installation_id", "object_name", "id"),
    unique=(_unique("read_states", "project_id", "installation_id", "object_name"),),
    foreign_keys=(
        _project_fk("read_states"),
        _ref("read_states", "installation_id", "installations", OnDelete.CASCADE),
    ),
    checks=(length_limit("read_states", "object_name"),),
)

TABLES: Mapping[str, TableSpec[Any]] = {
    spec.name: spec
    for spec in (
        ORGANIZATIONS,
        PROJECTS,
        INTEGRATIONS,
        REVISIONS,
        INSTALLATIONS,
        OPERATIONS,
        CONNECTIONS,
        PROVIDER_APPS,
        API_KEYS,
        DESTINATIONS,
        JWT_KEYS,
        READ_STATES,
    )
}
"""Every table by name, in the public order of ``Repositories``."""

SPEC_BY_MODEL: Mapping[type[Any], TableSpec[Any]] = {spec.model: spec for spec in TABLES.values()}

SCOPE_KEYS: Mapping[str, UniqueKey] = {
    fk.table: key
    for spec in TABLES.values()
    for fk in spec.foreign_keys
    if fk.scope is not None and (key := TABLES[fk.table].scope_key) is not None
}
"""``UNIQUE (project_id, id)`` of every table a project-scoped reference points at, by table."""
