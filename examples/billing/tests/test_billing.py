"""Billing's suite: the same tests pass under --ampdb=memory and --ampdb=postgres."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from billing.accounts import bill_plan, billed_cents
from billing.factories import InvoiceFactory, PlanFactory, TieredApiKeyFactory
from billing.schema import Invoice, Plan, TieredApiKey

from pytest_ampdb import async_database, database
from pytest_ampdb.errors import AmpdbError, NotFoundError
from pytest_ampdb.types import AsyncRepositories, Repositories


def test_a_key_keeps_its_tier(ampdb: Repositories) -> None:
    key = TieredApiKeyFactory.create(tier="pro")
    got = ampdb.api_keys.get_by_key(key.key)
    assert isinstance(got, TieredApiKey)
    assert got.tier == "pro"


def test_seeded_keys_are_on_the_free_tier(ampdb: Repositories, ampdb_seed: object) -> None:
    got = ampdb.api_keys.get_by_key(ampdb_seed.api_key)  # type: ignore[attr-defined]
    assert isinstance(got, TieredApiKey)
    assert got.tier == "free"


def test_an_invoice_outlives_its_key(ampdb: Repositories) -> None:
    key = TieredApiKeyFactory.create()
    invoice = InvoiceFactory.create(project_id=key.project_id, api_key=key.key)
    invoices = ampdb.of(Invoice)  # typed: mypy sees an Invoice's fields
    assert invoices.get_by_id(key.project_id, invoice.id) == invoice
    ampdb.api_keys.delete(key.project_id, key.key)
    assert invoices.get_by_id(key.project_id, invoice.id).api_key is None


def test_seeded_invoices_are_listed(ampdb: Repositories, ampdb_seed: object) -> None:
    project = ampdb_seed.project_id  # type: ignore[attr-defined]
    page = ampdb.of(Invoice).list(project)
    assert [i.amount_cents for i in page.items] == [1200]
    assert all(isinstance(i, Invoice) for i in page.items)


def test_the_factory_fixtures_follow_the_schema(
    invoice: Invoice, invoice_factory: type[InvoiceFactory], api_key_factory: type[Any]
) -> None:
    """``invoice_factory`` / ``invoice`` for billing's own entity, as for a packaged one; the
    ``api_key_factory`` of an extended entity is billing's factory of its subclass."""
    assert invoice_factory is InvoiceFactory
    assert api_key_factory is TieredApiKeyFactory
    assert database.of(Invoice).get_by_id(invoice.project_id, invoice.id) == invoice


def test_a_mocked_invoice_repository(ampdb_mock: Any) -> None:
    """Unit tests mock a project's own entity as they mock a packaged one."""
    built = (
        ampdb_mock.builder_for(Invoice)
        .with_get_by_id(
            lambda project_id, id: Invoice(id=id, project_id=project_id, amount_cents=7)
        )
        .build()
    )
    assert built.get_by_id("p", "i").amount_cents == 7
    assert built.calls == [("get_by_id", ("p", "i"), {})]
    assert type(ampdb_mock.builder_for(TieredApiKey)).__name__ == "ApiKeyBuilder"


def test_the_facade_has_an_accessor_per_own_entity(ampdb: Repositories) -> None:
    """``database.invoices()`` as ``database.connections()``: the repository in effect."""
    invoice = InvoiceFactory.create()
    assert database.invoices() is ampdb.declared["invoices"]
    assert database.invoices().get_by_id(invoice.project_id, invoice.id) == invoice
    assert database.of(Invoice) is database.invoices()
    assert database.of(TieredApiKey) is ampdb.api_keys  # an extended entity: its table
    with pytest.raises(AttributeError, match="invoice"):
        database.invoice  # noqa: B018 - a misspelt table is no accessor


def test_a_plan_belongs_to_no_project(ampdb: Repositories, plan: Plan) -> None:
    """An entity no project owns: its repository finds rows by id alone."""
    plans = ampdb.of_unscoped(Plan)
    assert plans.get_by_id(plan.id) == plan
    assert database.plans().get_by_id(plan.id) == plan
    dearer = plans.update(dataclasses.replace(plan, monthly_cents=plan.monthly_cents + 100))
    assert plans.get_by_id(plan.id).monthly_cents == dearer.monthly_cents
    assert [p.name for p in plans.list(page_size=2).items] == ["free", "pro"]  # the seeds
    plans.delete(plan.id)
    with pytest.raises(NotFoundError):
        plans.get_by_id(plan.id)
    with pytest.raises(AmpdbError, match=r"plans: its rows belong to no project; use of_unscoped"):
        ampdb.of(Plan)


def test_a_plans_name_is_unique(ampdb: Repositories) -> None:
    PlanFactory.create(name="team")
    with pytest.raises(AmpdbError, match="plans"):
        PlanFactory.create(name="team")


async def test_own_entities_are_awaited_too(ampdb_async: AsyncRepositories) -> None:
    """The async twins of billing's entities, in memory and on PostgreSQL alike."""
    key = await TieredApiKeyFactory.acreate()
    invoice = await InvoiceFactory.acreate(project_id=key.project_id, amount_cents=300)
    got = await ampdb_async.of(Invoice).get_by_id(invoice.project_id, invoice.id)
    assert got == invoice
    assert await async_database.invoices().get_by_id(key.project_id, invoice.id) == invoice
    plans = await async_database.of_unscoped(Plan).list()
    assert [p.name for p in plans.items] == ["free", "pro"]
    assert (await async_database.of(TieredApiKey).get_by_id(key.project_id, key.key)).tier


def test_billing_code_on_the_facades(ampdb: Repositories) -> None:
    """billing.accounts, typed code on ``database.of`` / ``async_database.of``, sync and async
    seeing the same rows."""
    key = TieredApiKeyFactory.create()
    invoice = bill_plan(key.project_id, key.key, "pro")
    assert invoice.amount_cents == 4900
    assert asyncio.run(billed_cents(key.project_id)) == 4900


def test_mocked_plan_and_async_invoice_repositories(ampdb_mock: Any) -> None:
    """``builder_for`` a project's own entity: stubs checked against the interface of its
    scope (a plan by id alone), async builders awaited."""
    plans = ampdb_mock.builder_for(Plan).with_get_by_id(
        lambda id: Plan(id=id, name="gold", monthly_cents=9)
    )
    assert plans.build().get_by_id("p1").name == "gold"
    with pytest.raises(TypeError, match=r"PlanRepository\.get_by_id\(id: str\) -> Plan"):
        ampdb_mock.builder_for(Plan).with_get_by_id(lambda project_id, id: None)
    built = (
        ampdb_mock.builder_for(Invoice, asynchronous=True)
        .with_get_by_id(
            lambda project_id, id: Invoice(id=id, project_id=project_id, amount_cents=1)
        )
        .build()
    )
    assert asyncio.run(built.get_by_id("p", "i")).amount_cents == 1
