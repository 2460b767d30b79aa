"""A Ctrl-C held while a sweep starts a run and registers it (train/signals.py: DeferredCtrlC).

The kernel may deliver a process-directed SIGINT to any thread that does not block it; CPython then
raises KeyboardInterrupt in the main thread wherever it is. So a main-thread signal mask does not
hold a Ctrl-C that lands on another thread — the cause of a sweep run that outlived the sweep's
Ctrl-C (it was started, but not yet registered, when KeyboardInterrupt came). The tests send the
signal from a second thread, as a progress bar's refresh thread or a test's timer receives it."""
from __future__ import annotations

import os
import signal
import threading

import pytest

from gridlstm.train.signals import DeferredCtrlC


class Bystander:
    """A thread started before the block (a progress bar's refresh thread): its signal mask is the
    one it was created with, so a Ctrl-C it sends itself is delivered to it, not held."""

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


def busy(n: int = 200_000) -> int:  # bytecode for the main thread to run pending handlers in
    return sum(range(n))


def test_a_main_thread_signal_mask_does_not_hold_it():
    reached = False
    bystander = Bystander()                   # exists before the mask, as the progress bar's does
    with pytest.raises(KeyboardInterrupt):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            bystander.ctrl_c()
            busy()
            reached = True
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    assert not reached  # raised inside the block, between "start" and "register"


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
