"""Schedules: the one place that loops over (time, depth).

Block (t, d) depends only on (t-1, d) (its *left*) and (t, d-1) (its *below*), so two orders are
valid and give identical numbers:

* ``naive``      — for t in 0..T-1, for d in 0..D-1: T·D sequential cell calls of one layer each.
* ``wavefront``  — anti-diagonal k = t + d, k in 0..T+D-2: T+D-1 sequential cell calls, each on the
  contiguous run of layers ``lo..hi`` active on that diagonal (layer d sits at time t = k - d), so
  an untied transform is one ``baddbmm`` over the stacked per-layer weights.

Every block's state passes through ``probe(state, k, lo, hi)`` before anything downstream uses it;
a gradient probe (``gradients.py``) adds zero tensors there to read ∂L/∂state[t, d] for every t
and d from one backward pass.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor

from .cells import Cell, States

Probe = Callable[[States, int, int, int], States]
SCHEDULES = ("wavefront", "naive")


def run_naive(cell: Cell, bottom: States, left0: States, probe: Optional[Probe] = None) -> Tensor:
    """bottom: tuple of (T, B, H) entering layer 0; left0: tuple of (D, B, H).  -> top (T, B, H)."""
    T, D = bottom[0].shape[0], cell.layers
    left = [tuple(s[d:d + 1] for s in left0) for d in range(D)]  # per layer, each (1, B, H)
    tops = []
    for t in range(T):
        below = tuple(s[t:t + 1] for s in bottom)  # (1, B, H)
        for d in range(D):
            state = cell(below, left[d], d, d + 1)
            if probe is not None:
                state = probe(state, t + d, d, d + 1)
            left[d], below = cell.right(state), cell.up(state)
        tops.append(below[0][0])  # (B, H)
    return torch.stack(tops)  # (T, B, H)


def run_wavefront(cell: Cell, bottom: States, left0: States, probe: Optional[Probe] = None) -> Tensor:
    """Same contract as ``run_naive``; T + D - 1 sequential steps."""
    T, D = bottom[0].shape[0], cell.layers
    tops: list[Tensor] = []
    right = up = None  # previous diagonal's states, layers plo..phi-1, each (L, B, H)
    plo = phi = 0
    for k in range(T + D - 1):
        lo, hi = max(0, k - T + 1), min(D, k + 1)  # active layers lo..hi-1; layer d at t = k - d
        # left of layer d: previous diagonal's right state of layer d, or h[0,d] = 0 for d = k.
        left = [] if right is None else [s[lo - plo:hi - plo] for s in right]
        if k < D:
            init = [s[k:k + 1] for s in left0]
            left = init if right is None else [torch.cat([a, b]) for a, b in zip(left, init)]
        # below of layer d: bottom input at t = k for d = 0, else the previous diagonal's layer d-1.
        below = [] if up is None else [s[max(lo, 1) - 1 - plo:hi - 1 - plo] for s in up]
        if lo == 0:
            first = [s[k:k + 1] for s in bottom]
            below = first if up is None else [torch.cat([a, b]) for a, b in zip(first, below)]
        state = cell(tuple(below), tuple(left), lo, hi)
        if probe is not None:
            state = probe(state, k, lo, hi)
        right, up, plo, phi = cell.right(state), cell.up(state), lo, hi
        if hi == D:
            tops.append(up[0][-1])  # top layer, t = k - (D - 1): (B, H)
    return torch.stack(tops)  # (T, B, H)


def run(schedule: str, cell: Cell, bottom: States, left0: States, probe: Optional[Probe] = None) -> Tensor:
    if schedule == "naive":
        return run_naive(cell, bottom, left0, probe)
    return run_wavefront(cell, bottom, left0, probe)
