"""A scripted provider: pages of records per object, or an authentication failure."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sync_worker import AuthError, Page


@dataclass
class ScriptedProvider:
    """Serves ``pages[object_name]`` in order; records every call it gets."""

    pages: dict[str, list[list[dict[str, Any]]]] = field(default_factory=dict)
    fail_with: str | None = None
    calls: list[tuple[str, str, str | None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fetch(self, connection_id: str, object_name: str, page_token: str | None) -> Page:
        with self._lock:
            self.calls.append((connection_id, object_name, page_token))
        if self.fail_with is not None:
            raise AuthError(self.fail_with)
        pages = self.pages.get(object_name, [[]])
        index = (
            0 if page_token is None or not page_token.startswith("page-") else int(page_token[5:])
        )
        following = f"page-{index + 1}" if index + 1 < len(pages) else None
        return Page(pages[index], following)


@dataclass
class Outbox:
    """Where delivered records land (thread-safe)."""

    delivered: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, object_name: str, records: list[dict[str, Any]]) -> None:
        with self._lock:
            self.delivered.extend((object_name, r) for r in records)
