"""A Ctrl-C held while a sweep starts a run and registers it (train/signals.py: DeferredCtrlC).

The kernel may deliver a process-directed SIGINT to any thread that does not block it; CPython then
raises KeyboardInterrupt in the main thread wherever it is. So a main-thread signal mask does not
hold a Ctrl-C that lands on another thread — the cause of a sweep run that outlived the sweep's
Ctrl-C (it was started, but not yet registered, when KeyboardInterrupt came). Which thread the
kernel picks depends on the threads a process happens to have, so that is not asserted here; the
tests send the signal from a second thread, as a progress bar's refresh thread or a test's timer
would, and check that DeferredCtrlC holds it whichever thread it lands on."""
from __future__ import annotations

import os
import signal
import threading

import pytest

from gridlstm.train.signals import DeferredCtrlC


class Bystander:
    """A thread that sends the process a Ctrl-C when told to (a progress bar's refresh thread, a
    test's timer)."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self) -> None:
        self.go.wait(30)
        os.kill(os.getpid(), signal.SIGINT)

    def ctrl_c(self) -> None:
        self.go.set()
        self.thread.join()


def ctrl_c_from_another_thread() -> None:
    Bystander().ctrl_c()


def busy(n: int = 100_000) -> int:
    """Python bytecode (a loop, not one C call like sum()) for the main thread to run pending
    signal handlers in: CPython runs them between bytecodes, at a loop's backward jump."""
    total = 0
    for i in range(n):
        total += i
    return total


def test_deferred_ctrl_c_holds_it_until_the_block_ends_then_raises_it():
    registered = []
    with pytest.raises(KeyboardInterrupt):
        with DeferredCtrlC() as held:
            ctrl_c_from_another_thread()
            busy()
            registered.append("run")   # reached: nothing was raised in the block
            assert held.caught
    assert registered == ["run"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_deferred_ctrl_c_without_a_signal_changes_nothing():
    before = signal.getsignal(signal.SIGINT)
    with DeferredCtrlC() as held:
        busy()
    assert not held.caught and signal.getsignal(signal.SIGINT) is before


def test_deferred_ctrl_c_hands_the_signal_to_the_handler_it_replaced():
    seen = []
    previous = signal.signal(signal.SIGINT, lambda s, f: seen.append(s))
    try:
        with DeferredCtrlC():
            ctrl_c_from_another_thread()
            busy()
            assert seen == []
        busy()
        assert seen == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)
