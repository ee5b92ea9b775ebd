"""The twelve entities as immutable dataclasses; their fields are exactly the table columns.

``create_time``/``update_time`` default to ``None`` meaning "not saved yet": the repository
fills them on save, as GORM does for zero timestamps. Ids default to a fresh UUID, so building a
model needs no boilerplate. Secrets are masked in ``repr`` (so in logs and pytest output too).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar, TypeVar, dataclass_transform

from pytest_ampdb.models.columns import Id, JsonObject, TextArray
from pytest_ampdb.models.enums import (
    AuthScheme,
    ConnectionStatus,
    DestinationType,
    HealthStatus,
    OperationStatus,
    OperationType,
)
from pytest_ampdb.models.ids import new_id, new_uuid7

MASK = "***"


class Model:
    """Base of every entity: a ``repr`` that never shows the fields named in ``secrets``."""

    __slots__ = ()
    secrets: ClassVar[frozenset[str]] = frozenset()

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            shown = MASK if f.name in self.secrets and value is not None else repr(value)
            parts.append(f"{f.name}={shown}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __str__(self) -> str:
        return repr(self)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.secrets:  # before @dataclass, which keeps an __eq__ the class already has
            cls.__eq__ = _equal_fields  # type: ignore[assignment,method-assign]
            # and a __repr__: a project's subclass (TieredApiKey) made without repr=False
            # still masks its secrets (@dataclass's own repr printed the key)
            cls.__repr__ = Model.__repr__  # type: ignore[method-assign]


_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def _equal_fields(self: Model, other: object) -> bool:
    """``==`` of a model with secrets: what ``@dataclass`` generates (the fields compared as a
    tuple), written here so pytest does not take it for the generated one: on a failed
    ``assert a == b`` pytest drills into a dataclass's differing fields and prints their
    values, an API key or client secret in full."""
    if other.__class__ is not self.__class__:
        return NotImplemented  # type: ignore[no-any-return]  # typeshed types it as Any
    names = _FIELD_NAMES.get(type(self))
    if names is None:
        names = _FIELD_NAMES[type(self)] = tuple(f.name for f in fields(self))  # type: ignore[arg-type]
    mine: tuple[object, ...] = tuple(getattr(self, n) for n in names)
    return mine == tuple(getattr(other, n) for n in names)


T = TypeVar("T")


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(field,))
def _entity(cls: type[T]) -> type[T]:
    """Every entity: a frozen, slotted, keyword-only dataclass with ``Model``'s masked repr."""
    return dataclass(frozen=True, slots=True, kw_only=True, repr=False)(cls)


@_entity
class Organization(Model):
    id: Id = field(default_factory=new_id)
    label: str
    default_team_id: Id
    create_time: datetime | None = None
    update_time: datetime | None = None


@_entity
class Project(Model):
    id: Id = field(default_factory=new_id)
    name: str
    app_name: str
    organization_id: Id
    create_time: datetime | None = None
    update_time: datetime | None = None


@_entity
class Integration(Model):
    id: Id = field(default_factory=new_id)
    project_id: Id
    name: str
    provider: str
    latest_revision_id: Id | None = None
    create_time: datetime | None = None
    update_time: datetime | None = None


@_entity
class Revision(Model):
    id: Id = field(default_factory=new_id)
    project_id: Id
    integration_id: Id
    spec_version: str
    content: JsonObject
    create_time: datetime | None = None


@_entity
class Installation(Model):
    id: Id = field(default_factory=new_id)
    project_id: Id
    integration_id: Id
    connection_id: Id
    group_ref: str
    group_name: str
    health_status: HealthStatus = HealthStatus.HEALTHY
    last_operation_status: OperationStatus | None = None
    config: JsonObject = field(default_factory=dict)
    created_by: str
    create_time: datetime | None = None
    update_time: datetime | None = None


@_entity
class Operation(Model):
    id: Id = field(default_factory=new_uuid7)
    project_id: Id
    integration_id: Id
    installation_id: Id
    type: OperationType
    status: OperationStatus = OperationStatus.PENDING
    result: str | None = None
    metadata: JsonObject | None = None
    create_time: datetime | None = None
    update_time: datetime | None = None


@_entity
class Connection(Model):
    id: Id = field(default_factory=new_id)
    project_id: Id
    provider: str
    provider_app_id: Id | None = None
    group_ref: str
    group_name: str
    consumer_ref: str
    consumer_name: str
    auth_scheme: AuthScheme
    status: ConnectionStatus = ConnectionStatus.CREATED
    provider_workspace_ref: str | None = None
    provider_metadata: JsonObject | None = None
    create_time: datetime | None = None
    update_time: datetime | None = None


@_entity
class ProviderApp(Model):
    secrets: ClassVar[frozenset[str]] = frozenset({"client_secret"})

    id: Id = field(default_factory=new_id)
    project_id: Id
    provider: str
    client_id: str
    client_secret: str
    scopes: TextArray = ()
    external_ref: str | None = None
    metadata: JsonObject | None = None
    create_time: datetime | None = None
    update_time: datetime | None = None


@_entity
class ApiKey(Model):
    secrets: ClassVar[frozenset[str]] = frozenset({"key"})

    key: str
    project_id: Id
    label: str
    active: bool = True
    scopes: TextArray
    create_time: datetime | None = None


@_entity
class Destination(Model):
    id: Id = field(default_factory=new_id)
    project_id: Id
    name: str
    type: DestinationType
    metadata: JsonObject = field(default_factory=dict)
    create_time: datetime | None = None
    update_time: datetime | None = None


@_entity
class JwtKey(Model):
    id: Id = field(default_factory=new_id)
    project_id: Id
    label: str
    algorithm: str = "RS256"
    public_key_pem: str
    active: bool = True
    create_time: datetime | None = None
    update_time: datetime | None = None


@_entity
class ReadState(Model):
    id: Id = field(default_factory=new_id)
    project_id: Id
    installation_id: Id
    object_name: str
    next_page_token: str | None = None
    since_time: datetime | None = None
    records_processed: int = 0
    update_time: datetime | None = None


ENTITIES: tuple[type[Any], ...] = (
    Organization,
    Project,
    Integration,
    Revision,
    Installation,
    Operation,
    Connection,
    ProviderApp,
    ApiKey,
    Destination,
    JwtKey,
    ReadState,
)
