"""An example downstream service: a worker that runs Ampersand read operations.

It reaches the data layer only through ``pytest_ampdb.database``, as production code would, so
its test suite runs unchanged against the in-memory store or a real PostgreSQL.
"""

from sync_worker.provider import AuthError, Page, ProviderClient
from sync_worker.worker import RunResult, SyncWorker

__all__ = ["AuthError", "Page", "ProviderClient", "RunResult", "SyncWorker"]
