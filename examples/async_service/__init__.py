"""An asyncio service on the async repositories: API-key authentication and operation claims."""

from async_service.auth import Unauthorized, authenticate
from async_service.claims import claim, finish

__all__ = ["Unauthorized", "authenticate", "claim", "finish"]
