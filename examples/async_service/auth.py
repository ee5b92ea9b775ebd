"""Authenticate a request's API key, as an asyncio web handler would (FastAPI, aiohttp).

The key is looked up through ``async_database``: production gets the pool from the environment,
a test gets its own isolated repositories, and a unit test injects a mock, all without
changing this code.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_ampdb import async_database
from pytest_ampdb.errors import NotFoundError


class Unauthorized(Exception):
    """The key is missing or unknown (the caller answers 401)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the project the key belongs to."""

    project_id: str
    key: str


async def authenticate(key: str | None) -> Principal:
    """The principal of ``key``, or ``Unauthorized``."""
    if not key:
        raise Unauthorized("no API key")
    try:
        found = await async_database.api_keys().get_by_key(key)
    except NotFoundError:
        raise Unauthorized("unknown API key") from None
    return Principal(project_id=found.project_id, key=found.key)
