"""The provider API the worker reads from (Salesforce, HubSpot, ...), as an interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class AuthError(Exception):
    """The provider refused the connection's credentials (expired or revoked token)."""


@dataclass(frozen=True)
class Page:
    """One page of records and the opaque token of the next page (``None`` at the end)."""

    records: list[dict[str, Any]]
    next_page_token: str | None


class ProviderClient(Protocol):
    def fetch(self, connection_id: str, object_name: str, page_token: str | None) -> Page:
        """One page of ``object_name`` records for the connection."""
        ...
