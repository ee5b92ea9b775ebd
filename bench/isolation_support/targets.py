"""The closing lines every bench prints: each target with OK or OVER."""

from __future__ import annotations

from collections.abc import Iterable


def verdict(ok: bool) -> str:
    return "OK" if ok else "OVER"


def print_targets(targets: Iterable[tuple[str, bool]]) -> None:
    """``targets``: (the target and the figure in words, whether it is met)."""
    print("targets")
    for text, ok in targets:
        print(f"  {verdict(ok):<5} {text}")
