"""Billing's own service code on its entities, through the facades: typed by the models, so
``mypy --strict`` sees an ``Invoice``'s and a ``Plan``'s fields here (the repository's
tests/test_evolve_workflow.py checks this file)."""

from __future__ import annotations

from billing.schema import Invoice, Plan
from pytest_ampdb import async_database, database


def bill_plan(project_id: str, api_key: str, plan_name: str) -> Invoice:
    """Invoice a key for one month of a plan (plans belong to no project: found by id alone)."""
    plans = database.of_unscoped(Plan)
    plan = next(p for p in plans.list().items if p.name == plan_name)
    made = Invoice(project_id=project_id, api_key=api_key, amount_cents=plan.monthly_cents)
    return database.of(Invoice).create(made)


async def billed_cents(project_id: str) -> int:
    """What a project has been billed in all, for an asyncio service."""
    page = await async_database.of(Invoice).list(project_id)
    return sum(invoice.amount_cents for invoice in page.items)
