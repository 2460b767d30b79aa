"""Schedules: the one place that loops over (time, depth).

Block (t, d) depends only on (t-1, d) (its *left*) and (t, d-1) (its *below*), so two orders are
valid and give identical numbers:

* ``naive``      — for t in 0..T-1, for d in 0..D-1: T·D sequential cell calls of one layer each.
* ``wavefront``  — anti-diagonal k = t + d, k in 0..T+D-2: T+D-1 sequential cell calls, each on the
  contiguous run of layers ``lo..hi`` active on that diagonal (layer d sits at time t = k - d), so
  an untied transform is one batched product over the stacked per-layer weights (``fused.affine``).

* ``layerwise``  — all of layer d-1 before layer d (``nn.LSTM``'s order): D layer calls, each on
  fused whole-sequence kernels (``layerwise.py``). A fused kernel hands no per-block state to a
  probe; cells with ``probed_layer`` (lstm, grid) probe a layer on their own time loop instead
  (``timeloop.py``), the others are probed on the wavefront.
* ``auto``       — the default: the order the benchmark measured fastest for the cell kind, for an
  unprobed pass (``schedule_table.AUTO``) and for a probed one (``schedule_table.PROBE``; the
  wavefront where the kind has no probed layer). ``resolve`` says which order a pass runs.

Every block's state passes through ``probe(state, k, lo, hi)`` before anything downstream uses it;
a gradient probe (``gradients.py``) adds zero tensors there to read ∂L/∂state[t, d] for every t
and d from one backward pass.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional, Protocol, runtime_checkable

import torch
from torch import Tensor

from . import schedule_table
from .cells import Cell, States

Probe = Callable[[States, int, int, int], States]


@runtime_checkable
class LayerProbe(Protocol):
    """A probe that also takes whole probed layers (``Cell.probed_layer``): gradients.StateProbe."""

    def layer(self, d: int, states: dict[str, Tensor], outgoing: Callable[[], dict[str, Optional[Tensor]]],
              gates: dict[str, Tensor], totals: Optional[Callable[[dict[str, Tensor]], dict[str, Tensor]]] = None
              ) -> None:
        ...


def probes_layers(cell: Cell, probe: Optional[Probe]) -> bool:
    """Can this pass probe ``cell`` layer by layer: the cell has a probed layer and the probe (if
    any) takes one?  A per-block probe (a finite-difference nudge, verify.py) runs on the wavefront."""
    return cell.layer_probe and (probe is None or isinstance(probe, LayerProbe))
SCHEDULES = ("auto", "layerwise", "wavefront", "naive")
PROBED = ("wavefront", "naive")  # the orders that can hand every block's state to a probe


def resolve(schedule: str, probed: bool, kind: Optional[str] = None, layer_probe: bool = False) -> str:
    """The order a pass runs. Unprobed, ``auto`` becomes the order ``schedule_table.AUTO`` lists for
    the cell ``kind`` (``DEFAULT`` for a kind it does not list). Probed, ``layerwise`` stays
    layerwise when the cell can probe a whole layer (``layer_probe``: ``Cell.probed_layer``) and
    becomes the wavefront otherwise; ``auto`` becomes ``schedule_table.PROBE``'s order for the kind
    (the wavefront where it lists none, or where the cell cannot probe a layer)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}: expected one of {', '.join(SCHEDULES)}")
    if probed:
        if schedule == "auto":
            schedule = schedule_table.PROBE.get(kind or "", "wavefront")
        return "wavefront" if schedule == "layerwise" and not layer_probe else schedule
    return schedule_table.AUTO.get(kind or "", schedule_table.DEFAULT) if schedule == "auto" else schedule


def run_naive(cell: Cell, bottom: States, left0: States, probe: Optional[Probe] = None) -> Tensor:
    """bottom: tuple of (T, B, H) entering layer 0; left0: tuple of (D, B, H).  -> top (T, B, H)."""
    T, D = bottom[0].shape[0], cell.layers
    left = [tuple(s[d:d + 1] for s in left0) for d in range(D)]  # per layer, each (1, B, H)
    bottoms = [s.unsqueeze(1).unbind(0) for s in bottom]  # per state, T views (1, B, H)
    tops = []
    for t in range(T):
        below = tuple(b[t] for b in bottoms)  # (1, B, H)
        for d in range(D):
            state = cell(below, left[d], d, d + 1)
            if probe is not None:
                state = probe(state, t + d, d, d + 1)
            left[d], below = cell.right(state), cell.up(state)
        tops.append(below[0][0])  # (B, H)
    return torch.stack(tops)  # (T, B, H)


def run_wavefront(cell: Cell, bottom: States, left0: States, probe: Optional[Probe] = None) -> Tensor:
    """Same contract as ``run_naive``; T + D - 1 sequential steps.

    Anti-diagonal k holds layers lo..hi-1 (layer d at t = k - d).  Its inputs are views of the
    previous diagonal's states (layers plo..phi-1), with at most one ``cat`` per state to add the
    bottom input (layer 0, while k < T) or the initial left state (layer k, while k < D).  In the
    steady state (D-1 <= k < T) the left input is the previous state itself, with no copy.
    """
    T, D = bottom[0].shape[0], cell.layers
    # unbind once: T views whose backward is one stack, not T zero-filled (T, B, H) slice grads.
    bottoms = [s.unsqueeze(1).unbind(0) for s in bottom]  # per state, T tensors (1, B, H)
    inits = [s.unsqueeze(1).unbind(0) for s in left0]     # per state, D tensors (1, B, H)
    tops: list[Tensor] = []
    right: States = ()
    up: States = ()
    plo = phi = 0  # previous diagonal's layers plo..phi-1
    for k in range(T + D - 1):
        lo, hi = max(0, k - T + 1), min(D, k + 1)  # active layers lo..hi-1; layer d at t = k - d
        if k == 0:
            left = tuple(s[0] for s in inits)
            below = tuple(s[0] for s in bottoms)
        else:
            left = tuple(_rows(s, lo - plo, min(hi, phi) - plo) for s in right)
            if hi > phi:  # layer k starts: its left is h[0, k] = 0
                left = tuple(torch.cat([a, b[k]]) for a, b in zip(left, inits, strict=True))
            below = tuple(_rows(s, max(lo, 1) - 1 - plo, hi - 1 - plo) for s in up)
            if lo == 0:  # layer 0 reads the bottom input at t = k (alone when it is the only layer:
                #          then it may be the task's input, narrower than H)
                below = tuple(b[k] if hi == 1 else torch.cat([b[k], a]) for a, b in zip(below, bottoms, strict=True))
        state = cell(below, left, lo, hi)
        if probe is not None:
            state = probe(state, k, lo, hi)
        right, up, plo, phi = cell.right(state), cell.up(state), lo, hi
        if hi == D:
            tops.append(up[0][-1])  # top layer, t = k - (D - 1): (B, H)
    return torch.stack(tops)  # (T, B, H)


def run_layerwise(cell: Cell, bottom: States, left0: States, probe: Optional[Any] = None) -> Tensor:
    """Layer 0 over every t, then layer 1, ...: D cell-layer calls (``Cell.layer``, on the kernels of
    layerwise.py; ``Cell.probed_layer`` with a probe, which records every layer's states and their
    gradients there: ``probe.layer``).  bottom (T, B, H) tuples, left0 (D, B, H) -> top (T, B, H)."""
    params = cell.layer_params()  # per layer: the weight views, unbound once (one stack in backward)
    up = bottom
    for d in range(cell.layers):
        left = tuple(s[d] for s in left0)
        up = cell.layer(up, left, params[d], d) if probe is None else cell.probed_layer(up, left, params[d], d, probe)
    return up[0]


def _rows(s: Tensor, a: int, b: int) -> Tensor:
    """s[a:b] along the layer axis, or s itself (no view node) when that is all of it."""
    return s if a == 0 and b == s.shape[0] else s[a:b]


def run(schedule: str, cell: Cell, bottom: States, left0: States, probe: Optional[Probe] = None) -> Tensor:
    """Run ``cell`` over the (time × depth) grid in the order ``resolve(schedule, probe given)``."""
    order = resolve(schedule, probe is not None, cell.kind, probes_layers(cell, probe))
    if order == "layerwise":
        return run_layerwise(cell, bottom, left0, probe)
    if order == "naive":
        return run_naive(cell, bottom, left0, probe)
    return run_wavefront(cell, bottom, left0, probe)
