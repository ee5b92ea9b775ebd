"""Durations in the log: where a run's time went, under ``logging.getLogger("pytest_ampdb")``.

Every module logs to ``logging.getLogger(__name__)``, a child of ``pytest_ampdb``, so
``--log-cli-level=DEBUG`` (or a handler on ``pytest_ampdb``) shows server starts, template builds
and reuses, clones, drops and sweeps with how long each took.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator


@contextlib.contextmanager
def timed(log: logging.Logger, what: str, *, level: int = logging.DEBUG) -> Iterator[list[str]]:
    """Log ``what`` and its duration when the block ends: ``"<what>: <outcome> in 0.012 s"``.

    The block may append its outcome to the yielded list (``"reused"``); an error leaving the
    block is logged as ``failed (<error class>)`` and goes on.
    """
    started = time.perf_counter()
    outcome: list[str] = []
    try:
        yield outcome
    except BaseException as exc:
        outcome[:] = [f"failed ({type(exc).__name__})"]
        raise
    finally:
        if log.isEnabledFor(level):
            said = ", ".join(outcome) or "done"
            seconds = time.perf_counter() - started
            log.log(level, "%s: %s in %.3f s", what, said, seconds, stacklevel=3)  # the caller
