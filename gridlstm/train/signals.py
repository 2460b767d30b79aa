"""Graceful SIGINT / SIGTERM for a training run.

The first signal only raises a flag: the trainer finishes the step it is in, writes a checkpoint,
marks the run ``interrupted`` and returns. A second Ctrl-C raises ``KeyboardInterrupt`` at once, and
any Ctrl-C after it is ignored, so that the closing writes (meta.json, summary.json) are not torn by
a user who keeps pressing it; a second SIGTERM ends the process at once (the OS default). The last
complete checkpoint on disk is never touched by either, because every write is rename-atomic.

    with StopSignals() as stop:
        while training and not stop.requested: step()
        if stop.requested: checkpoint()     # a second signal in here: the previous checkpoint stays
        stop.hold()                         # summary.json, meta.json: no more interruptions
    # the CLI then exits 128 + signal number: 130 (SIGINT) / 143 (SIGTERM)
"""
from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any, Optional

HANDLED = (signal.SIGINT, signal.SIGTERM)
# What each signal goes back to when the handlers are removed: Python's Ctrl-C → KeyboardInterrupt,
# and the OS default for SIGTERM (terminate now).
DEFAULTS: dict[int, Any] = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}


def _hard_stop(signum: int, frame: Optional[FrameType]) -> None:
    """A second Ctrl-C: stop now (KeyboardInterrupt), and ignore any further one."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


class StopSignals:
    """Context manager that turns the first SIGINT/SIGTERM into a stop request.

    Outside the main thread (where handlers cannot be installed) it does nothing and ``requested``
    stays False, so a trainer running in a worker thread behaves as before.

    ``release=False`` is for a process that exits right after (the installed command): once a stop
    has begun, both signals stay ignored after ``__exit__`` instead of getting their old handlers
    back, so a late Ctrl-C cannot cut short the closing message or turn exit 130 into click's
    "Aborted!" (exit 1). With no stop requested the handlers come back either way.
    """

    def __init__(self, release: bool = True) -> None:
        self.signum: Optional[int] = None
        self.release = release
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        if self.signum is None:
            self.signum = signum
        # a second signal of either kind stops at once
        signal.signal(signal.SIGINT, _hard_stop)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for s in HANDLED:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        stopping = self.requested and not self.release
        for s, handler in self._previous.items():
            signal.signal(s, signal.SIG_IGN if stopping else handler if handler is not None else DEFAULTS[s])
        self._previous.clear()

    def hold(self) -> None:
        """Ignore both signals until ``__exit__`` (while the closing files are written); a no-op
        when the handlers were never installed."""
        for s in self._previous:
            signal.signal(s, signal.SIG_IGN)


class DeferredCtrlC:
    """Hold a Ctrl-C for the length of a block, then deliver it (the previous handler runs).

    A thread's signal mask cannot do this: the kernel delivers a process-directed SIGINT to any
    thread that does not block it (a progress bar's refresh thread, a test's timer), and CPython
    then raises KeyboardInterrupt in the main thread wherever it is. Replacing the handler does.
    Outside the main thread (where handlers cannot be installed) it does nothing.

        with DeferredCtrlC():
            proc.start(); live[id] = proc     # no KeyboardInterrupt in between
        # a Ctrl-C that came meanwhile is raised here
    """

    def __init__(self) -> None:
        self.caught = False
        self._previous: Any = None
        self._installed = False

    def _hold(self, signum: int, frame: Optional[FrameType]) -> None:
        self.caught = True

    def __enter__(self) -> DeferredCtrlC:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._hold)
            self._installed = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self._installed:
            return
        signal.signal(signal.SIGINT, self._previous if self._previous is not None else signal.default_int_handler)
        self._installed = False
        if self.caught:
            signal.raise_signal(signal.SIGINT)  # the restored handler runs now, in this thread
