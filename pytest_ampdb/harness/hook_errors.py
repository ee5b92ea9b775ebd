"""A project's hook implementation that raises: one line naming the hook, where it raised, and
the error, instead of pytest's INTERNALERROR traceback (the run stops before any test). An
``AmpdbError`` (a seed row the repositories refuse) is already a line of its own: kept as is."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from pytest_ampdb.errors import AmpdbError
from pytest_ampdb.urls import redact_text


class HookError(AmpdbError):
    """A ``pytest_ampdb_*`` hook implementation raised; the message names hook, file and line."""


@contextmanager
def reported(hook: str, files: Callable[[], Collection[Path]]) -> Iterator[None]:
    """Run a call of ``hook``; an exception it raises becomes one ``HookError`` line, placed at
    the deepest frame in one of the implementations' ``files`` (else where it was raised)."""
    try:
        yield
    except AmpdbError:
        raise
    except Exception as exc:  # any error of the project's own code: it decides what to raise
        raise HookError(f"{hook} {_where(exc, files())}raised {_described(exc)}") from None


def _where(exc: BaseException, files: Collection[Path]) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    own = {str(path.resolve()) for path in files}
    mine = [f for f in frames if str(Path(f.filename).resolve()) in own]
    chosen = mine or frames
    return f"(at {chosen[-1].filename}:{chosen[-1].lineno}) " if chosen else ""


def _described(exc: Exception) -> str:
    """``Type: message`` on one line."""
    text = redact_text(" ".join(str(exc).split()))  # it may quote a URL with its password
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
