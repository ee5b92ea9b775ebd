"""Reproducible fake data: one base seed per run, one derived seed per test.

A test's seed depends only on the base seed and the test's node id, so its Faker values and
factory sequences are the same whatever runs before it (in any order, on any xdist worker), and
``--ampdb-random-seed N`` with the N from the report header reproduces a failure.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator
from contextlib import contextmanager


def new_base_seed() -> int:
    """A fresh random base seed."""
    return random.SystemRandom().randrange(1, 2**31)


def test_seed(base: int, nodeid: str) -> int:
    """The seed of one test."""
    return zlib.crc32(f"{base}:{nodeid}".encode()) & 0x7FFFFFFF


class _Pending:
    """The seed the next factory call of the running test must start from."""

    seed: int | None = None


def schedule_factory_seed(seed: int) -> None:
    """Seed Faker and the factory sequences with ``seed`` at the test's first factory call.

    Lazily, so a test that uses no factory pays nothing for it (reseeding costs more than the
    rest of a memory-mode test's setup).
    """
    _Pending.seed = seed


def take_factory_seed() -> int | None:
    """The scheduled seed, once: the factories call this before generating anything."""
    seed, _Pending.seed = _Pending.seed, None
    return seed


@contextmanager
def factory_seed_for(seed: int) -> Iterator[None]:
    """Factory calls inside the block start from ``seed``; a seed scheduled for the running test
    is kept for the test's own calls after it. The seed hooks run in this block: under xdist in
    memory mode they run when a worker's first test opens its store, and their factory calls
    took that test's seed, so its values differed from the same seed's run without xdist."""
    held = take_factory_seed()
    schedule_factory_seed(seed)
    try:
        yield
    finally:
        take_factory_seed()
        if held is not None:
            schedule_factory_seed(held)
