"""Gradient along depth at the scored step, from a gradient table (docs/gradients.md).

    profile   g[t*, d] for d = 1..D at the scored step t* = T (the last scored position; every
              task here scores its last step), per measurement seed; or, with ``over="mean"``,
              the mean over t of g[t, d] (only the timesteps where the state has a path to the loss)
    decades   the *depth decay* of a state: log10 g[t*, top] − log10 g[t*, 1], the decades the
              gradient loses from the top layer that the loss reaches to layer 1, per seed, then the
              mean and spread over seeds; divided by (top − 1) it is the decades lost per layer

The *depth-carrying* states are the ones that pass the gradient from layer d+1 down to layer d at
the same step: the states a cell sends up (its ``depth_states``, nn/cells.py): h of the rnn, the
stacked lstm and the gru (an lstm's c stays in its layer), the depth hidden state h′ (h_depth) and
the depth memory (c_depth, m_depth) of the Grid LSTM. The report's depth column is the hidden one,
the first of them: h, or h′ for the grid.

Two kinds of zero, never confused:
    structurally zero  the state has no path to the loss (the paper grid's time h and m at t = T,
                       which feed only step T+1): exactly 0 in every seed, and nothing nearer the
                       loss along the path (the layers above) is nonzero either
    underflow          g < FLT_MIN = float32 tiny (1.18e-38), the threshold of the gradcheck table,
                       below a layer where the gradient was still representable; decades are then
                       counted down to FLT_MIN and reported as a lower bound (``underflow`` > 0)
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from gridlstm.nn import registry
from gridlstm.runs.tables import GradientTable

from .zeros import UNDERFLOW

FLT_MIN = UNDERFLOW  # 1.1754944e-38: the one meaning of underflow (probe/zeros.py, numpy only)
OVER = ("scored", "mean")


def depth_states(states: list[str], model: Mapping[str, Any]) -> list[str]:
    """The depth-carrying states among a table's states, as the cell of ``model`` (a run's model
    config) declares them: the hidden one first."""
    return registry.depth_states(model, states)


def depth_hidden(states: list[str], model: Mapping[str, Any]) -> str:
    """The hidden depth-carrying state: h′ (h_depth) for the grid, h for the rnn, lstm and gru."""
    return (depth_states(states, model) or ["h"])[0]


@dataclass(frozen=True)
class DepthProfile:
    state: str
    layers: np.ndarray      # (D,) 1..D
    values: np.ndarray      # (S, D) g per seed and layer
    t: Optional[int]        # the scored step t*, or None for the mean over t
    step: int               # training step of the weights

    @property
    def mid(self) -> np.ndarray:   # (D,) median over seeds
        return np.median(self.values, 0)

    @property
    def lo(self) -> np.ndarray:
        return self.values.min(0)

    @property
    def hi(self) -> np.ndarray:
        return self.values.max(0)

    @property
    def seeds(self) -> int:
        return self.values.shape[0]

    @property
    def structural(self) -> np.ndarray:
        """(D,) bool: layers with no path to the loss: 0 in every seed and no nonzero layer above."""
        zero = self.values.max(0) == 0
        above_all_zero = np.flip(np.cumprod(np.flip(zero))).astype(bool)  # this layer and all above
        return zero & above_all_zero

    @property
    def top(self) -> Optional[int]:
        """Index of the topmost layer the loss reaches (None: structurally zero everywhere)."""
        reached = np.flatnonzero(~self.structural)
        return int(reached[-1]) if reached.size else None

    @property
    def underflow(self) -> np.ndarray:
        """(D,) bool: layers below the top one where the median underflows (g < FLT_MIN)."""
        out = np.zeros(len(self.layers), bool)
        if self.top is not None:
            out[: self.top + 1] = self.mid[: self.top + 1] < FLT_MIN
        return out


def _grid(table: GradientTable, state: str, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(seeds, layers, ts) and the (S, D, T) array of g for one state at one training step."""
    sel = (table.state == state) & (table.step == step)
    seeds = sorted(set(table.seed[sel].tolist()))
    layers = sorted(set(table.layer[sel].tolist()))
    ts = sorted(set(table.t[sel].tolist()))
    g = np.zeros((len(seeds), len(layers), len(ts)))
    si, li, ti = ({v: i for i, v in enumerate(x)} for x in (seeds, layers, ts))
    for s, d, t, n in zip(table.seed[sel], table.layer[sel], table.t[sel], table.norm[sel], strict=True):
        g[si[s], li[d], ti[t]] = n
    return np.array(layers), np.array(ts), g


def depth_profile(table: GradientTable, state: str, over: str = "scored",
                  step: Optional[int] = None) -> DepthProfile:
    """g against layer at the scored step (``over="scored"``) or averaged over t (``"mean"``)."""
    step = table.steps[-1] if step is None else step
    layers, ts, g = _grid(table, state, step)  # (S, D, T)
    if over == "scored":
        return DepthProfile(state, layers, g[:, :, -1], int(ts[-1]), step)
    reached = g.max(axis=(0, 1)) > 0          # (T,) timesteps where the state has a path to the loss
    if not reached.any():
        return DepthProfile(state, layers, g[:, :, -1], None, step)
    return DepthProfile(state, layers, g[:, :, reached].mean(-1), None, step)


@dataclass(frozen=True)
class DepthDecay:
    """Decades lost from the top layer the loss reaches down to layer 1, over seeds."""

    state: str
    top_layer: Optional[int]
    g_top: Optional[float]          # median over seeds
    g_bottom: Optional[float]
    decades: Optional[float]        # mean over seeds of log10 g_top − log10 max(g_1, FLT_MIN)
    decades_std: Optional[float]
    per_layer: Optional[float]      # decades / (top − 1)
    underflow: int                  # seeds whose g at layer 1 is below FLT_MIN (decades: a lower bound)
    seeds: int


def depth_decay(profile: DepthProfile) -> DepthDecay:
    top = profile.top
    if top is None or top == 0:  # no path to the loss, or only layer 1 reached: nothing to lose
        return DepthDecay(profile.state, None if top is None else 1, None, None, None, None, None, 0,
                          profile.seeds)
    high, low = profile.values[:, top], profile.values[:, 0]   # (S,)
    per_seed = np.log10(np.maximum(high, FLT_MIN)) - np.log10(np.maximum(low, FLT_MIN))
    decades = float(per_seed.mean())
    return DepthDecay(
        state=profile.state, top_layer=int(profile.layers[top]), g_top=float(np.median(high)),
        g_bottom=float(np.median(low)), decades=decades,
        decades_std=float(per_seed.std(ddof=1)) if len(per_seed) > 1 else None,
        per_layer=decades / float(profile.layers[top] - profile.layers[0]),
        underflow=int((low < FLT_MIN).sum()), seeds=profile.seeds)
