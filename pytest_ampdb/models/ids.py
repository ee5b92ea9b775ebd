"""Identifier generation: random UUIDv4 for most rows, time-ordered UUIDv7 for operations."""

from __future__ import annotations

import os
import time
import uuid


def new_id() -> str:
    """A random UUID in canonical text form."""
    return str(uuid.uuid4())


def new_uuid7() -> str:
    """A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits; sorts by creation time."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # rand_b
    return str(uuid.UUID(int=value))
