"""What "underflow" and "structurally zero" mean, in one place for tables and figures (numpy only,
so plots read it without torch; docs/gradients.md).

    underflow        g < FLT_MIN (float32's smallest normal number), further back than a normal g
    structural zero  g exactly 0 from some steps back s on, reached in one jump from above 1e-20
                     (or 0 throughout): the state has no path to the loss there (the top layer's
                     c_depth; h_depth before the last step); not underflow, which falls gradually
"""
from __future__ import annotations

from typing import Optional

import numpy as np

UNDERFLOW = float(np.finfo(np.float32).tiny)  # FLT_MIN
STRUCTURAL_JUMP = 1e-20


def structural_zero_step(g: np.ndarray) -> Optional[int]:
    """The first steps back s from which ``g`` (indexed by steps back) is structurally 0; None if
    it never is."""
    g = np.asarray(g, dtype=np.float64)
    nonzero = np.nonzero(g != 0)[0]
    if not nonzero.size:
        return 0
    last = int(nonzero[-1])
    if last == len(g) - 1 or g[last] <= STRUCTURAL_JUMP:
        return None
    return last + 1


def underflow_step(g: np.ndarray, tiny: float = UNDERFLOW) -> Optional[int]:
    """The first steps back s with g < tiny after the first g ≥ tiny, outside a structural zero;
    None if g never underflows (0 if it never rises above tiny and is not structurally 0)."""
    g = np.asarray(g, dtype=np.float64)
    zero_from = structural_zero_step(g)
    alive = np.nonzero(g >= tiny)[0]
    if not alive.size:
        return None if zero_from is not None else 0
    ref = int(alive[0])
    low = np.nonzero(g[ref:] < tiny)[0]
    step = ref + int(low[0]) if low.size else None
    return None if step is not None and step == zero_from else step
