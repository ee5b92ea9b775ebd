"""Billing's suite: the same tests pass under --ampdb=memory and --ampdb=postgres."""

from __future__ import annotations

from typing import Any

from billing.factories import InvoiceFactory, TieredApiKeyFactory
from billing.schema import Invoice, TieredApiKey

from pytest_ampdb.types import Repositories


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
