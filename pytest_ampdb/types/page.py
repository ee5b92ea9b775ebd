"""One page of a list, with the opaque token that fetches the next one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """``items`` in the list order; ``next_page_token`` is ``None`` on the last page."""

    items: list[T]
    next_page_token: str | None = None
