"""Billing's schema, declared once: the twelve packaged tables, one column more on
``api_keys``, a new project-scoped entity (invoices) and one no project owns (plans). The
memory store, both backends' repositories, the seeds, the schema check and ``ampdb migrate
diff --schema billing.schema`` all work from ``TABLES``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pytest_ampdb.models import ApiKey
from pytest_ampdb.models.columns import Id
from pytest_ampdb.models.declared import extend
from pytest_ampdb.models.ids import new_id
from pytest_ampdb.models.schema import Check, ForeignKey, OnDelete, TableSpec, UniqueKey


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class TieredApiKey(ApiKey):
    """An API key with the plan it bills on (existing keys get ``free``)."""

    tier: str = "free"


@dataclass(frozen=True, slots=True, kw_only=True)
class Invoice:
    """An amount billed to a project, through one of its API keys (kept when the key goes)."""

    id: Id = field(default_factory=new_id)
    project_id: Id
    api_key: str | None = None
    amount_cents: int
    create_time: datetime | None = None
    update_time: datetime | None = None


INVOICES = TableSpec(
    name="invoices",
    model=Invoice,
    foreign_keys=(
        ForeignKey("invoices_project_id_fkey", "project_id", "projects", OnDelete.CASCADE),
        ForeignKey(
            "invoices_api_key_fkey", "api_key", "api_keys", OnDelete.SET_NULL, scope="project_id"
        ),
    ),
    checks=(
        Check(
            "invoices_amount_cents_check",
            "amount_cents",
            lambda v: v >= 0,
            "must not be negative",
            "amount_cents >= 0",
        ),
    ),
    indexes=(("api_key",),),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """A price plan, the same for every project: its rows belong to no project."""

    id: Id = field(default_factory=new_id)
    name: str
    monthly_cents: int
    create_time: datetime | None = None
    update_time: datetime | None = None


PLANS = TableSpec(
    name="plans",
    model=Plan,
    scope=None,  # found by id alone: repos.of_unscoped(Plan).get_by_id(id)
    unique=(UniqueKey("plans_name_key", ("name",)),),
    checks=(
        Check(
            "plans_monthly_cents_check",
            "monthly_cents",
            lambda v: v >= 0,
            "must not be negative",
            "monthly_cents >= 0",
        ),
    ),
)

TABLES = extend(columns=[TieredApiKey], tables=[INVOICES, PLANS])
FACTORIES = "billing.factories"
"""Where the ``invoice_factory`` / ``api_key_factory`` fixtures find billing's factories (a
module, imported when a test first asks for one: it imports this module)."""
