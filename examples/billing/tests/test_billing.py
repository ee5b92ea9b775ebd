"""Billing's suite: the same tests pass under --ampdb=memory and --ampdb=postgres."""

from __future__ import annotations

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
