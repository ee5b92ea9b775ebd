"""One way to wait for something outside the process: poll until it is there or time runs out.

Servers starting, processes exiting, a published port answering, a lock coming free: each caller
says what to probe and how long it may take; the timing (the first interval, an optional backoff,
never sleeping past the deadline) is decided here once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.01,
    max_interval: float | None = None,
) -> T | None:
    """``probe()``'s first result that is not ``None``, or ``None`` once ``timeout`` s passed.

    The probe runs at once, then every ``interval`` seconds; with ``max_interval`` the interval
    doubles up to it (backoff). A negative ``timeout`` waits forever; an error the probe raises
    (a process that exited) ends the wait at once.
    """
    deadline = None if timeout < 0 else time.monotonic() + timeout
    delay = interval
    while True:
        found = probe()
        if found is not None:
            return found
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return None
        time.sleep(delay if deadline is None else min(delay, deadline - now))
        if max_interval is not None:
            delay = min(delay * 2, max_interval)
