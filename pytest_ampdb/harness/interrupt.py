"""SIGTERM (a CI job cancelled) ends a postgres run as Ctrl-C does, so the run cleans up.

Python's default for SIGTERM ends the process at once, with no ``finally`` and no atexit: a
local cluster's postmaster (in a session of its own) kept running with its data directory in
/dev/shm, and the run's databases stayed on the server until a later run swept them. While a
run holds what it provisioned, SIGTERM raises ``Terminated`` (a ``KeyboardInterrupt``) in the
main thread instead: pytest ends the session and the plugin cleans up as after Ctrl-C. A SIGTERM
arriving while the run stops or cleans up (a second one, or the first during the cleanup) waits
for the cleanup, which is bounded, then ends the process as the default would. Installed only
where SIGTERM has its default disposition (a project's own handler is left alone), and put back
at the end of the run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class Terminated(KeyboardInterrupt):
    """SIGTERM, taken as Ctrl-C while a run holds what it provisioned."""


class SigtermAsInterrupt:
    """Installs and puts back the run's SIGTERM handler (main thread only)."""

    def __init__(self) -> None:
        self._installed = False
        self._closing = False
        self._stopping = False  # a SIGTERM was raised as Ctrl-C
        self._pending = False  # one more came: the process ends of it after the cleanup

    def install(self) -> None:
        if self._installed or threading.current_thread() is not threading.main_thread():
            return
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                signal.signal(signal.SIGTERM, self._on_sigterm)
                self._installed = True

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        if self._closing or self._stopping:  # the run is stopping: let it clean up, then end
            self._pending = True
            return
        self._stopping = True
        raise Terminated("SIGTERM: the run stopped, as on Ctrl-C, and cleaned up")

    @contextlib.contextmanager
    def closing(self) -> Iterator[None]:
        """Run the cleanup without a SIGTERM breaking into it; put the default back after it,
        and end the process by a SIGTERM that arrived meanwhile."""
        self._closing = True
        try:
            yield
        finally:
            self._closing = False
            if self._installed:
                self._installed = False
                with contextlib.suppress(ValueError, OSError):
                    if signal.getsignal(signal.SIGTERM) == self._on_sigterm:
                        signal.signal(signal.SIGTERM, signal.SIG_DFL)
                if self._pending:
                    os.kill(os.getpid(), signal.SIGTERM)
