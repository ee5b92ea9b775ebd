"""The closing lines every bench prints: each target with OK or OVER."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable


def verdict(ok: bool) -> str:
    return "OK" if ok else "OVER"


def print_targets(targets: Iterable[tuple[str, bool]]) -> None:
    """``targets``: (the target and the figure in words, whether it is met)."""
    print("targets")
    for text, ok in targets:
        print(f"  {verdict(ok):<5} {text}")


def machine(load_before: float) -> str:
    """The machine a bench ran on and how busy it was: CPUs, Python, the 1-minute load average
    when the bench started (``load_before``) and now."""
    return (
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, 1-min load average "
        f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
