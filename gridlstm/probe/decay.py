"""Decay summary of a gradient profile, and the theory it is compared with (docs/design.md §4).

Steps back.  s = t_loss − t, where t_loss is the last scored position: the final step for tasks
scored at the last step; for copy (every position scored) the last position too, so s = 0 is the
final step and the gradient there already includes every later loss term.

Decay summary of one profile g[s] (s = 0 at the loss):
    slope            least-squares slope of log10 g[s] against s over the points before underflow
                     (decades per step; negative = vanishing)
    first/last       g at the first timestep / g at the loss step  (g[T−1] / g[0])
    steps to 1e-k    the first s with g[s] < 10^-k · g[0]
    underflow        the first s with g[s] ≤ the smallest normal float of the gradients' dtype
(g[0] is replaced by g at the first s where g > 0 for a state with no path to the loss at s = 0.)

Theory (seed Q1; Pascanu, Mikolov & Bengio 2013).  For h[t+1] = φ(W_ih·x + W_hh·h[t] + b),
    ∂h[t+1]/∂h[t] = diag(φ'(a)) W_hh,   ‖∂h[t+1]/∂h[t]‖ ≤ γ·σ_max(W_hh),   γ = sup|φ'| = 1 (tanh, relu)
so g[t] ≤ γσ_max·g[t+1] for a layer whose state reaches the loss only through its own recurrence
(the top layer, last-step loss): σ_max < 1/γ suffices for vanishing, and log g can fall no slower
than log10(γσ_max) decades per step.  LSTM/grid memory: ∂c[t]/∂c[t−1] = diag(f[t]) plus paths
through h, so the memory path predicts log10(mean f) decades per step; the depth memory of the grid
is gated by the depth forget gate f' along depth (per layer), not along time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor, nn

from gridlstm.nn.cells import Cell, GridPaperCell, GridSeedCell, LSTMCell, RNNCell
from gridlstm.nn.core import GateTransform, forget_gate

from .gradients import block_inputs

THRESHOLDS = (3, 6, 12)  # steps until g < 10^-k · g[0]
BOUND_RTOL = 1e-4        # float32 rounding allowance for the per-step bound check
BOUND_FLOOR = 1e-30      # the bound is checked only where g[t+1] is well above float32 underflow


# ----------------------------------------------------------------------------- decay summary


def decay_stats(g: np.ndarray, tiny: float) -> dict[str, Any]:
    """Summary of one profile ``g`` indexed by steps back s (g[0] at the loss).  g: (n,) float64.

    The reference is g at the loss, or, for a state that reaches the loss only from an earlier
    step (the paper grid's time h and m feed the next step, not their own block's output), g at
    the first step back where it is non-zero: ``ref_step``.  Every step count is a steps-back s.
    """
    g = np.asarray(g, dtype=np.float64)
    n = len(g)
    alive = np.nonzero(g > tiny)[0]
    stats: dict[str, Any] = {"slope_decades_per_step": math.nan, "first_last_ratio": math.nan,
                             "underflow_step": 0, "fit_points": 0, "ref_step": None}
    stats.update({f"steps_to_1e-{k}": None for k in THRESHOLDS})
    if not alive.size:
        return stats
    ref = int(alive[0])
    low = np.nonzero(g[ref:] <= tiny)[0]
    underflow = ref + int(low[0]) if low.size else None
    end = underflow if underflow is not None else n
    if end - ref >= 2:
        s = np.arange(ref, end, dtype=np.float64)
        stats["slope_decades_per_step"] = float(np.polyfit(s, np.log10(g[ref:end]), 1)[0])
    g0 = g[ref]
    stats.update(first_last_ratio=float(g[-1] / g0), underflow_step=underflow, fit_points=end - ref,
                 ref_step=ref)
    for k in THRESHOLDS:
        below = np.nonzero(g[ref:] < 10.0 ** (-k) * g0)[0]
        stats[f"steps_to_1e-{k}"] = ref + int(below[0]) if below.size else None
    return stats


def rnn_bound_holds(g: np.ndarray, gamma_sigma: float) -> bool:
    """g[s+1] ≤ γσ_max·g[s] at every step (s = steps back: s+1 is the earlier time t)."""
    g = np.asarray(g, dtype=np.float64)
    prev, cur = g[1:], g[:-1]  # g[t], g[t+1]
    checked = cur > BOUND_FLOOR
    return bool(np.all(prev[checked] <= gamma_sigma * cur[checked] * (1 + BOUND_RTOL)))


# ----------------------------------------------------------------------------- theory


@dataclass
class Theory:
    """Theory quantities of one model (one seed).  Arrays are per layer, (D,)."""

    sigma_max: Optional[np.ndarray] = None           # RNN: σ_max(W_hh) per layer
    spectral_radius: Optional[np.ndarray] = None     # RNN: max |eigenvalue| of W_hh per layer
    gamma: Optional[float] = None                    # RNN: sup |φ'|
    forget: dict[str, np.ndarray] = field(default_factory=dict)        # memory state → mean f
    log10_forget: dict[str, np.ndarray] = field(default_factory=dict)  # memory state → mean log10 f


def recurrent_matrices(cell: RNNCell) -> list[Tensor]:
    """Each layer's W_hh (rows I: of the stacked (I+R, H) weight), float64 on the CPU."""
    tr = cell.transform
    with torch.no_grad():
        return [tr.layer_weight(d)[0][tr.input_size:].detach().double().cpu() for d in range(cell.layers)]


def sigma_max(cell: RNNCell) -> np.ndarray:
    """σ_max(W_hh) per layer: the bound's factor."""
    return np.array([torch.linalg.matrix_norm(W, ord=2).item() for W in recurrent_matrices(cell)])


def spectral_radius(cell: RNNCell) -> np.ndarray:
    """max |λ(W_hh)| per layer: the long-run growth factor of products of W_hh (≤ σ_max)."""
    return np.array([torch.linalg.eigvals(W).abs().max().item() for W in recurrent_matrices(cell)])


def gate_inputs(cell: Cell, px: Tensor, states: dict[str, Tensor], d: int
                ) -> dict[str, tuple[GateTransform, Tensor, Tensor, Tensor]]:
    """For each memory state of layer ``d``: (its gate transform, input, recurrent, memory before).

    Rebuilt from the captured states exactly as the cell wires them (cells.py); every tensor is
    (T, B, H) over all t of layer d.  px: (T, B, H) = P·x.
    """
    below, left_states = block_inputs(cell, px, states, d)
    left = dict(zip((cell.state_names[i] for i in cell.right_idx), left_states, strict=True))
    if isinstance(cell, LSTMCell):
        return {"c": (cell.transform, below[0], left["h"], left["c"])}
    if isinstance(cell, GridSeedCell):
        h_below, c_below = below
        return {"c": (cell.time, c_below, left["h"], left["c"]),
                "c_depth": (cell.depth, states["h"][:, d], h_below, c_below)}
    if isinstance(cell, GridPaperCell):
        h_below, m_below = below
        h_in = states["h"][:, d] if cell.priority == "depth" else left["h"]
        return {"m": (cell.time, left["h"], h_below, left["m"]),
                "m_depth": (cell.depth, h_in, h_below, m_below)}
    return {}


def gate_preactivations(model: nn.Module, x: Tensor, states: dict[str, Tensor]
                        ) -> dict[str, list[tuple[Tensor, Tensor]]]:
    """memory state → per layer (z (T, B, 4H), memory before (T, B, H)), by calling the cell's
    own GateTransform on the captured states.  x: (B, T, I); states[name]: (T, D, B, H)."""
    cell = model.cell
    out: dict[str, list[tuple[Tensor, Tensor]]] = {}
    with torch.no_grad():
        px = model.proj(x).transpose(0, 1)  # (T, B, H)
        for d in range(cell.layers):
            for name, (tr, inp, rec, prev) in gate_inputs(cell, px, states, d).items():
                T, B, H = inp.shape
                z = tr(inp.reshape(1, T * B, H), rec.reshape(1, T * B, -1), d, d + 1)  # (1, T·B, 4H)
                out.setdefault(name, []).append((z.reshape(T, B, -1), prev))
    return out


def theory(model: nn.Module, x: Tensor, states: Optional[dict[str, Tensor]]) -> Theory:
    """σ_max and γ for an RNN; mean forget gate per layer and memory state for LSTM / grid."""
    cell = model.cell
    if isinstance(cell, RNNCell):
        # γ = sup tanh' = sup relu' = 1
        return Theory(sigma_max=sigma_max(cell), spectral_radius=spectral_radius(cell), gamma=1.0)
    th = Theory()
    if states is None:
        return th
    for name, per_layer in gate_preactivations(model, x, states).items():
        fs = [forget_gate(z).double() for z, _ in per_layer]  # each (T, B, H)
        th.forget[name] = np.array([f.mean().item() for f in fs])
        th.log10_forget[name] = np.array([torch.log10(f).mean().item() for f in fs])
    return th


def depth_memory(name: str) -> bool:
    return name.endswith("_depth") and name != "h_depth"


def memory(name: str) -> bool:
    return name in ("c", "m") or depth_memory(name)


# ----------------------------------------------------------------------------- summary table

SUMMARY_FIELDS = ("state", "layer", "slope_decades_per_step", "slope_std", "first_last_ratio",
                  "steps_to_1e-3", "steps_to_1e-6", "steps_to_1e-12", "underflow_step", "ref_step", "fit_points",
                  "theory_kind", "theory_slope", "sigma_max", "gamma", "vanishing_sufficient", "spectral_radius",
                  "bound_holds", "mean_forget", "mean_log10_forget")


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def summary_row(state: str, layer: int, per_seed: list[np.ndarray], tiny: float,
                theories: list[Theory], top: bool, last_step: bool) -> dict[str, Any]:
    """One row of summary.csv.  per_seed: the profile of each seed by steps back, each (n,).

    Every decay number is computed from the seed-mean profile mean_seeds g[s]; slope_std is the
    standard deviation of the per-seed slopes (empty for one seed); theory values are seed means.
    """
    row: dict[str, Any] = {"state": state, "layer": layer}
    row.update(decay_stats(np.mean(per_seed, axis=0), tiny))
    slopes = [decay_stats(g, tiny)["slope_decades_per_step"] for g in per_seed]
    row["slope_std"] = float(np.std(slopes, ddof=1)) if len(slopes) > 1 else math.nan
    row["theory_kind"] = ""
    d = layer - 1
    if state == "h" and theories and theories[0].sigma_max is not None:
        sig = [th.sigma_max[d] for th in theories]
        gamma = theories[0].gamma
        row.update(theory_kind="sigma_max_bound", sigma_max=_mean(sig), gamma=gamma,
                   theory_slope=_mean([math.log10(gamma * s) for s in sig]),
                   vanishing_sufficient=bool(_mean(sig) < 1.0 / gamma),
                   spectral_radius=_mean([th.spectral_radius[d] for th in theories]))
        if top and last_step:
            row["bound_holds"] = all(rnn_bound_holds(g, gamma * s) for g, s in zip(per_seed, sig, strict=True))
    elif memory(state) and theories and state in theories[0].forget:
        f = _mean([th.forget[state][d] for th in theories])
        row.update(mean_forget=f, mean_log10_forget=_mean([th.log10_forget[state][d] for th in theories]))
        if not depth_memory(state):
            row.update(theory_kind="forget_gate", theory_slope=math.log10(f))
        else:  # f' gates the depth direction: a per-layer prediction, reported in summary.md
            row["theory_kind"] = "forget_gate_depth"
    return row


def summarize(per_seed: dict[tuple[str, int], list[np.ndarray]], theories: list[Theory], layers: int,
              tiny: float, last_step: bool) -> list[dict[str, Any]]:
    """Rows for every (state, layer) in ``per_seed`` (profiles by steps back), in its order."""
    return [summary_row(state, layer, profiles, tiny, theories, layer == layers, last_step)
            for (state, layer), profiles in per_seed.items()]


def theory_lines(rows: list[dict[str, Any]], per_seed: dict[tuple[str, int], list[np.ndarray]],
                 layers: int) -> list[str]:
    """Plain-text lines that put each prediction beside its measurement."""
    lines = []
    for r in rows:
        where = f"layer {r['layer']}, {r['state']}"
        if r["theory_kind"] == "sigma_max_bound":
            holds = {True: "holds at every step", False: "VIOLATED"}.get(r.get("bound_holds"),
                                                                       "not checked (not the top layer "
                                                                       "of a last-step loss)")
            lines.append(
                f"{where}: σ_max(W_hh) = {r['sigma_max']:.4g}, γ = {r['gamma']:g}; σ_max < 1/γ "
                f"(sufficient for vanishing): {'yes' if r['vanishing_sufficient'] else 'no'}; bound slope "
                f"log10(γσ_max) = {r['theory_slope']:+.4g} decades/step, measured "
                f"{r['slope_decades_per_step']:+.4g}; g[t] ≤ γσ_max·g[t+1] {holds}; spectral radius "
                f"ρ(W_hh) = {r['spectral_radius']:.4g} (log10 ρ = {math.log10(r['spectral_radius']):+.4g}, "
                "the long-run rate of W_hh alone)")
        elif r["theory_kind"] == "forget_gate":
            lines.append(f"{where}: mean forget gate {r['mean_forget']:.4g} → predicted "
                         f"log10(mean f) = {r['theory_slope']:+.4g} decades/step (mean log10 f = "
                         f"{r['mean_log10_forget']:+.4g}), measured {r['slope_decades_per_step']:+.4g}")
        elif r["theory_kind"] == "forget_gate_depth":
            lines.append(f"{where}: mean depth forget gate f' {r['mean_forget']:.4g} → predicted "
                         f"{math.log10(r['mean_forget']):+.4g} decades per layer along depth "
                         f"(it gates depth, not time)")
    depth_names = sorted({s for s, _ in per_seed if depth_memory(s)})
    for name in depth_names:
        if layers >= 2:
            g0 = [np.mean(per_seed[(name, d)], axis=0)[0] for d in range(1, layers + 1)]
            if g0[0] > 0 and g0[-1] > 0:
                slope = math.log10(g0[0] / g0[-1]) / (layers - 1)
                lines.append(f"{name} at the loss step: measured {slope:+.4g} decades per layer "
                             f"from layer {layers} down to layer 1")
    return lines
