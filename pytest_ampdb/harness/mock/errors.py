"""The error a built mock raises for a method the test did not stub.

It is an ``AmpdbError`` so code that handles repository errors generically still sees it, and it
names the interface and method so the missing ``with_<method>`` is obvious from the failure alone.
"""

from __future__ import annotations

from pytest_ampdb.errors import AmpdbError


class NotStubbedError(AmpdbError):
    """A built mock's method was called but never given a stub."""

    def __init__(self, interface: str, method: str, builder: str) -> None:
        self.interface = interface
        self.method = method
        super().__init__(
            f"{interface}.{method} is not stubbed: use {builder}().with_{method}(fn) before build()"
        )
