"""SIGTERM (a CI job cancelled) and SIGHUP (the terminal closed) end a postgres run as Ctrl-C
does, so the run cleans up.

Python's default for both signals ends the process at once, with no ``finally`` and no atexit:
a local cluster's postmaster (in a session of its own) kept running with its data directory in
/dev/shm, and the run's databases stayed on the server until a later run swept them. While a
run holds what it provisioned, either signal raises ``Terminated`` (a ``KeyboardInterrupt``) in
the main thread instead: pytest ends the session and the plugin cleans up as after Ctrl-C. A
signal arriving while the run stops or cleans up (a second one, or the first during the
cleanup) waits for the cleanup, which is bounded, then ends the process as the default would.
Installed only for a signal with its default disposition (a project's own handler, or
``nohup``'s ignored SIGHUP, is left alone), and put back at the end of the run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import threading
from collections.abc import Iterator
from types import FrameType

#: The signals whose default ends the process without cleanup, and what each one means.
STOPPING_SIGNALS = {
    signal.SIGTERM: "SIGTERM",
    signal.SIGHUP: "SIGHUP (the terminal closed)",
}


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, taken as Ctrl-C while a run holds what it provisioned."""


class StopSignalsAsInterrupt:
    """Installs and puts back the run's SIGTERM and SIGHUP handlers (main thread only)."""

    def __init__(self) -> None:
        self._installed: list[signal.Signals] = []
        self._closing = False
        self._stopping = False  # a signal was raised as Ctrl-C
        self._pending: signal.Signals | None = None  # the process ends of it after the cleanup
        self._terminals: set[int] = set()  # the devices SIGHUP hangs up

    @property
    def stopping(self) -> bool:
        """A signal stopped the run (it is taken as Ctrl-C)."""
        return self._stopping

    def install(self) -> None:
        if self._installed or threading.current_thread() is not threading.main_thread():
            return
        for signum in STOPPING_SIGNALS:
            with contextlib.suppress(ValueError, OSError):
                if signal.getsignal(signum) is signal.SIG_DFL:
                    signal.signal(signum, self._on_signal)
                    self._installed.append(signum)
        if signal.SIGHUP in self._installed:
            self._terminals = _terminals()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._closing or self._stopping:  # the run is stopping: let it clean up, then end
            self._pending = signal.Signals(signum)
            return
        self._stopping = True
        if signum == signal.SIGHUP:
            _away_from_the_terminal(self._terminals)
        name = STOPPING_SIGNALS.get(signal.Signals(signum), signal.Signals(signum).name)
        raise Terminated(f"{name}: the run stopped, as on Ctrl-C, and cleaned up")

    @contextlib.contextmanager
    def closing(self) -> Iterator[None]:
        """Run the cleanup without a signal breaking into it; put the defaults back after it,
        and end the process by a signal that arrived meanwhile."""
        self._closing = True
        try:
            yield
        finally:
            self._closing = False
            installed, self._installed = self._installed, []
            for signum in installed:
                with contextlib.suppress(ValueError, OSError):
                    if signal.getsignal(signum) == self._on_signal:
                        signal.signal(signum, signal.SIG_DFL)
            if installed and self._pending is not None:
                os.kill(os.getpid(), self._pending)


def _open_fds() -> list[int]:
    names = os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ["0", "1", "2"]
    return [int(name) for name in names]


def _terminals() -> set[int]:
    """The devices of the terminals the process has open (pytest's capture keeps copies of
    the original descriptors): known now, as a hung-up terminal no longer says it is one."""
    found = set()
    for fd in _open_fds():
        with contextlib.suppress(OSError):
            if os.isatty(fd):
                found.add(os.fstat(fd).st_rdev)
    return found


def _away_from_the_terminal(terminals: set[int]) -> None:
    """After a hang-up every write to the terminal fails (EIO), and pytest's reporter would end
    the run at its first one: each descriptor on it writes to /dev/null instead, as under
    ``nohup``."""
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_RDWR)
        try:
            for fd in _open_fds():
                with contextlib.suppress(OSError):
                    st = os.fstat(fd)
                    if fd != null and stat.S_ISCHR(st.st_mode) and st.st_rdev in terminals:
                        os.dup2(null, fd)
        finally:
            os.close(null)
