"""Connecting to a server, with a failure told as one line that names it (password hidden).

Used wherever the plugin opens a connection itself, so a refused login, an exhausted
``max_connections`` (SQLSTATE 53300) or a server that is gone all end as one
``ProvisioningError`` line instead of a driver traceback.
"""

from __future__ import annotations

from typing import Any

import psycopg

from pytest_ampdb.postgres.errors import reason
from pytest_ampdb.provisioning.errors import ProvisioningError
from pytest_ampdb.provisioning.urls import redact_url

CONNECT_TIMEOUT = 10


class ServerBusyError(ProvisioningError):
    """The server refused a connection for now (``max_connections`` reached): it is not gone."""


def connect(dsn: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """``psycopg.connect`` with a bounded wait and a one-line error naming the server."""
    kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT)
    try:
        return psycopg.connect(dsn, **kwargs)
    except psycopg.OperationalError as exc:
        message = f"cannot connect to {redact_url(dsn)}: {reason(exc)}"
        # libpq gives no SQLSTATE for a refused startup; its text is the only signal here
        if exc.sqlstate == "53300" or "too many clients" in str(exc):
            raise ServerBusyError(message) from None
        raise ProvisioningError(message) from None


__all__ = ["CONNECT_TIMEOUT", "ServerBusyError", "connect", "reason"]
