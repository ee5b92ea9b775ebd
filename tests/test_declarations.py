"""A project's schema declarations: ``extend`` adds columns and entities to the packaged
tables, and a declaration PostgreSQL could not hold is one line naming entity and field, at
import or session start, before any database is touched."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pytest

from pytest_ampdb.models import ApiKey
from pytest_ampdb.models.columns import Id, JsonObject
from pytest_ampdb.models.declared import DeclarationError, extend, schema_tables
from pytest_ampdb.models.ids import new_id
from pytest_ampdb.models.schema import ForeignKey, OnDelete, TableSpec, UniqueKey
from pytest_ampdb.models.tables import TABLES


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class TieredApiKey(ApiKey):
    tier: str = "free"


@dataclass(frozen=True, kw_only=True)
class Invoice:
    id: Id = field(default_factory=new_id)
    project_id: Id
    api_key: str | None = None
    amount: int
    create_time: datetime | None = None
    update_time: datetime | None = None


def invoices(**changes: object) -> TableSpec[Invoice]:
    spec = {
        "name": "invoices",
        "model": Invoice,
        "foreign_keys": (
            ForeignKey("invoices_project_id_fkey", "project_id", "projects", OnDelete.CASCADE),
            ForeignKey("invoices_api_key_fkey", "api_key", "api_keys", OnDelete.SET_NULL),
        ),
    }
    return TableSpec(**{**spec, **changes})  # type: ignore[arg-type]


def test_extend_adds_a_column_and_an_entity() -> None:
    tables = extend(columns=[TieredApiKey], tables=[invoices()])
    assert list(tables)[: len(TABLES)] == list(TABLES)
    assert tables["api_keys"].model is TieredApiKey
    assert tables["api_keys"].column_names[-1] == "tier"
    assert tables["api_keys"].primary_key == "key"  # everything else of the table is kept
    assert tables["invoices"].column_names == (
        "id",
        "project_id",
        "api_key",
        "amount",
        "create_time",
        "update_time",
    )
    assert TABLES["api_keys"].model is ApiKey  # the packaged declarations are untouched


@dataclass(frozen=True, kw_only=True)
class Floaty:
    id: Id
    ratio: float


@dataclass(frozen=True, kw_only=True)
class Documented:
    id: Id
    doc: JsonObject


@dataclass(frozen=True, kw_only=True)
class Upper:
    id: Id
    Total: int


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (
            lambda: extend(
                tables=[
                    invoices(
                        foreign_keys=(
                            ForeignKey(
                                "invoices_customer_fkey", "id", "customers", OnDelete.CASCADE
                            ),
                        )
                    )
                ]
            ),
            "invoices.id: references unknown entity 'customers'",
        ),
        (
            lambda: extend(tables=[TableSpec(name="ratios", model=Floaty, scope=None)]),
            "ratios: column ratio: no column kind for <class 'float'>; no PostgreSQL type maps to it",
        ),
        (
            lambda: extend(tables=[TableSpec(name="uppers", model=Upper, scope=None)]),
            "uppers.Total: name 'Total' is not lower-case letters, digits and _ (PostgreSQL would "
            "fold or need quotes)",
        ),
        (
            lambda: extend(tables=[invoices(name="i" * 64)]),
            f"entity {'i' * 64}: name '{'i' * 64}' is longer than 63 bytes (PostgreSQL would "
            "truncate it)",
        ),
        (
            lambda: extend(tables=[invoices(name="projects")]),
            "projects: the entity is declared twice",
        ),
        (
            lambda: extend(columns=[Invoice]),
            "Invoice: extends no declared entity (subclass one of Organization, Project, "
            "Integration, Revision, Installation, Operation, Connection, ProviderApp, ApiKey, "
            "Destination, JwtKey, ReadState)",
        ),
        (
            lambda: extend(tables=[invoices(order_by=("create_time", "number"))]),
            "invoices.number: no such field in Invoice",
        ),
        (
            lambda: extend(
                tables=[
                    TableSpec(
                        name="documents",
                        model=Documented,
                        scope=None,
                        created_column=None,
                        updated_column=None,
                        order_by=("id",),
                        unique=(UniqueKey("documents_doc_key", ("doc",)),),
                    )
                ]
            ),
            "documents.doc: a jsonb column cannot be in a key, the list order or an index (the "
            "memory store cannot hash or order documents as PostgreSQL's btree does)",
        ),
        (
            lambda: extend(tables=[invoices(order_by=("api_key", "id"))]),
            "invoices.api_key: the list order must be NOT NULL columns holding the primary key "
            "(order_by=('api_key', 'id') must name 'id', and no optional field)",
        ),
        (
            lambda: extend(tables=[invoices(order_by=("create_time",))]),
            "invoices: the list order must be NOT NULL columns holding the primary key "
            "(order_by=('create_time',) must name 'id', and no optional field)",
        ),
    ],
    ids=[
        "unknown-reference",
        "no-pg-type",
        "folded",
        "truncated",
        "duplicate",
        "not-a-subclass",
        "unknown-field",
        "jsonb-key",
        "nullable-order",
        "order-without-key",
    ],
)
def test_a_bad_declaration_is_one_line_naming_entity_and_field(
    declare: object, message: str
) -> None:
    with pytest.raises(DeclarationError) as info:
        declare()  # type: ignore[operator]
    assert str(info.value) == message


def test_a_schema_module_is_checked_at_session_start(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        bad_schema="""
from pytest_ampdb.models.tables import TABLES as PACKAGED, PROJECTS
from dataclasses import replace
TABLES = {**PACKAGED, "projects": replace(PROJECTS, order_by=("create_time", "rank"))}
""",
        test_x="def test_x(ampdb): pass",
    )
    pytester.syspathinsert()
    result = pytester.runpytest_subprocess("-p", "no:randomly", "--ampdb-schema=bad_schema")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: pytest-ampdb: schema module bad_schema: projects.rank: no such field in Project"]
    )
    assert "Traceback" not in result.stderr.str()


def test_the_packaged_schema_is_the_default() -> None:
    assert schema_tables(None) is TABLES
