"""Graceful SIGINT / SIGTERM for a training run.

The first signal only raises a flag: the trainer finishes the step it is in, writes a checkpoint,
marks the run ``interrupted`` and returns. The handlers are then reset to the defaults, so a second
Ctrl-C raises ``KeyboardInterrupt`` at once (and a second SIGTERM ends the process at once); the
last complete checkpoint on disk is never touched by that, because every write is rename-atomic.

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
# What each signal goes back to after the first one: Python's Ctrl-C → KeyboardInterrupt, and the
# OS default for SIGTERM (terminate now).
DEFAULTS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}


class StopSignals:
    """Context manager that turns the first SIGINT/SIGTERM into a stop request.

    Outside the main thread (where handlers cannot be installed) it does nothing and ``requested``
    stays False, so a trainer running in a worker thread behaves as before.
    """

    def __init__(self) -> None:
        self.signum: Optional[int] = None
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
        for s in HANDLED:  # a second signal of either kind stops at once
            signal.signal(s, DEFAULTS[s])

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for s in HANDLED:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler if handler is not None else DEFAULTS[s])
        self._previous.clear()

    def hold(self) -> None:
        """Ignore both signals until ``__exit__`` (while the closing files are written); a no-op
        when the handlers were never installed."""
        for s in self._previous:
            signal.signal(s, signal.SIG_IGN)
