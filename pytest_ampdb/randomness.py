"""Reproducible fake data: one base seed per run, one derived seed per test.

A test's seed depends only on the base seed and the test's node id, so its Faker values and
factory sequences are the same whatever runs before it (in any order, on any xdist worker), and
``--ampdb-random-seed N`` with the N from the report header reproduces a failure.
"""

from __future__ import annotations

import random
import zlib


def new_base_seed() -> int:
    """A fresh random base seed."""
    return random.SystemRandom().randrange(1, 2**31)


def test_seed(base: int, nodeid: str) -> int:
    """The seed of one test."""
    return zlib.crc32(f"{base}:{nodeid}".encode()) & 0x7FFFFFFF


def reseed_factories(seed: int) -> None:
    """Seed Faker and reset factory sequences (``factories`` ships in the same wheel)."""
    import factories

    factories.reseed(seed)
