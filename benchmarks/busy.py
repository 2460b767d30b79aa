"""Busy processes for the loaded benchmarks: ``with busy(2): ...`` runs the block beside two
processes that each spin one core, started and stopped here (killed by pid, waited for)."""
from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

SPIN = "while True:\n    pass\n"


@contextmanager
def busy(n: int = 2) -> Iterator[list[int]]:
    """n spinning Python processes for the duration of the block; yields their pids."""
    procs = [subprocess.Popen([sys.executable, "-c", SPIN], stdin=subprocess.DEVNULL) for _ in range(n)]
    try:
        time.sleep(0.5)  # let the scheduler see them before anything is timed
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()
