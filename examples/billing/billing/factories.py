"""Billing's factories: a factory_boy factory on pytest-ampdb's base builds unsaved models and
creates through the repositories in effect (memory or PostgreSQL, or a ``database.use`` block),
the parents it needs first (here: a new project unless one is given)."""

from __future__ import annotations

import factory

from billing.schema import Invoice, Plan, TieredApiKey
from pytest_ampdb.factories import AmpdbFactory, ApiKeyFactory
from pytest_ampdb.factories.entities import ProjectScopedFactory


class TieredApiKeyFactory(ApiKeyFactory):
    class Meta:
        model = TieredApiKey

    tier = factory.Iterator(["free", "pro", "enterprise"])


class InvoiceFactory(ProjectScopedFactory[Invoice]):
    class Meta:
        model = Invoice

    api_key = None
    amount_cents = factory.Faker("random_int", min=1, max=100_000)


class PlanFactory(AmpdbFactory[Plan]):
    """A plan no project owns: its factory is on the base itself, with no project to make."""

    class Meta:
        model = Plan

    name = factory.Sequence(lambda n: f"plan-{n}")
    monthly_cents = factory.Faker("random_int", min=0, max=50_000)
