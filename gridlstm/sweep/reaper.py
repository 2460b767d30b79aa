"""The private Ray instance goes when its sweep goes, even after kill -9 of the sweep.

Ray's node processes (gcs_server, raylet, its workers, ``ray::DashboardAgent`` and
``ray::RuntimeEnvAgent``) are descendants of the sweep that started them; when the sweep is killed
at once, the agents are left behind under PID 1, ignoring SIGTERM, with their ports open.
``Reaper.start()`` runs a small watcher process of its own (a new session, so the terminal's
signals do not reach it) that keeps the list of the sweep's descendants up to date, twice a
second, from /proc. When the sweep process ends without ``stop()`` (the pipe between them closes
without a word), the watcher SIGKILLs every process of that list that is still the same process
(same start time). On systems without /proc nothing is watched.

    python -m gridlstm.sweep.reaper PID      # the watcher; reads its stdin until "done" or EOF
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

POLL_S = 0.5


def _stat(pid: int) -> Optional[tuple[int, int]]:
    """(parent pid, start time) of ``pid`` from /proc (None when it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()  # after "pid (comm) "
    return int(fields[1]), int(fields[19])


def descendants(root: int) -> dict[int, int]:
    """{pid: start time} of every process below ``root``."""
    parents: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            parents.setdefault(st[0], []).append(int(entry))
            starts[int(entry)] = st[1]
    found, todo = {}, [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found and child != os.getpid():
                found[child] = starts[child]
                todo.append(child)
    return found


def watch(root: int) -> None:
    """The watcher's loop (see the module docstring)."""
    known: dict[int, int] = {}
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], POLL_S)
        if ready:
            line = sys.stdin.readline()
            if line.strip() == "done":
                return
            if not line:  # EOF: the sweep died
                break
        known.update(descendants(root))
    for pid, start in known.items():
        st = _stat(pid)
        if st is not None and st[1] == start:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


class Reaper:
    """The watcher of this process's descendants (Linux); ``stop()`` when they were shut down."""

    def __init__(self, proc: Optional[subprocess.Popen]):
        self.proc = proc

    @classmethod
    def start(cls) -> Reaper:
        if not Path("/proc/self/stat").exists():
            return cls(None)
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        proc = subprocess.Popen([sys.executable, "-m", "gridlstm.sweep.reaper", str(os.getpid())],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True, text=True, env=env)
        return cls(proc)

    def stop(self) -> None:
        """Everything was shut down in order: the watcher leaves without killing anything."""
        if self.proc is None:
            return
        try:
            self.proc.stdin.write("done\n")  # type: ignore[union-attr]
            self.proc.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@contextmanager
def ray_session(connect: Callable[[], tuple[Any, bool]], private: bool) -> Iterator[Any]:
    """``connect()`` -> (ray, owned), used and shut down (when owned). SIGTERM keeps the caller's
    handler (ray.init puts in one that calls sys.exit, which then aborts in Ray's C++ core), and a
    private instance is watched by a Reaper, so that kill -9 of this process leaves nothing."""
    caller = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
    ray, owned = connect()
    if caller is not None:
        signal.signal(signal.SIGTERM, caller)
    guard = Reaper.start() if owned and private else None
    try:
        yield ray
    finally:
        if owned:
            ray.shutdown()
        if guard is not None:
            guard.stop()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch(int(sys.argv[1]))
