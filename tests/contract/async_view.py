"""Drives the contract suite through the async repositories: each call awaited on the test's loop.

``sync_view(async_repos, runner)`` looks like ``Repositories``; every method call creates the
async repository's coroutine inside ``runner``'s event loop and waits for it. So every contract
test, unchanged, checks the async API method for method: same results, same errors.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pytest_ampdb.types import AsyncRepositories, Repositories


class _SyncRepository:
    def __init__(self, repo: Any, runner: asyncio.Runner) -> None:
        self._repo = repo
        self._runner = runner

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._repo, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await method(*args, **kwargs)

        return lambda *args, **kwargs: self._runner.run(call(*args, **kwargs))


def sync_view(repos: AsyncRepositories, runner: asyncio.Runner) -> Repositories:
    """``repos`` with every method awaited on ``runner`` (for the sync contract tests)."""
    views: dict[str, Any] = {t: _SyncRepository(r, runner) for t, r in repos.by_table().items()}
    return Repositories(**views)
