"""Decay summary of a gradient profile, and the theory it is compared with (docs/gradients.md).

Steps back.  s = t_loss − t, where t_loss is the last scored position: the final step for tasks
scored at the last step; for copy (every position scored) the last position too, so s = 0 is the
final step and the gradient there already includes every later loss term.

Decay summary of one profile g[s] (s = 0 at the loss):
    slope            least-squares slope of log10 g[s] against s over the points before underflow
                     (decades per step; negative = vanishing)
    first/last       g at the first timestep / g at the loss step  (g[T−1] / g[0])
    steps to 1e-k    the first s with g[s] < 10^-k · g[0]
    underflow        the first s with g[s] < the smallest normal float of the gradients' dtype (zeros.py)
    structural zero  g exactly 0 from some s on, reached in one jump from above 1e-20: no path to
                     the loss (not underflow; underflow_step is then empty, structural_zero_step set)
Seeds: every number is that of the geometric-mean profile exp(mean_seeds log g[s]) (its slope is
the mean of the per-seed slopes), never of the arithmetic mean, which the slowest seed dominates.
(g[0] is replaced by g at the first s where g > 0 for a state with no path to the loss at s = 0.)

Theory (the assignment's argument along time; Pascanu, Mikolov & Bengio 2013).  For h[t+1] = φ(W_ih·x + W_hh·h[t] + b),
    ∂h[t+1]/∂h[t] = diag(φ'(a)) W_hh,   ‖∂h[t+1]/∂h[t]‖ ≤ γ·σ_max(W_hh),   γ = sup|φ'| = 1 (tanh, relu)
so g[t] ≤ γσ_max·g[t+1] for a layer whose state reaches the loss only through its own recurrence
(the top layer, last-step loss): σ_max < 1/γ suffices for vanishing, and log g can fall no slower
than log10(γσ_max) decades per step.  LSTM/grid memory: ∂c[t]/∂c[t−1] = diag(f[t]) plus paths
through h; the norm follows the most persistent units, so the memory path predicts
max over units of mean_{t,b} log10 f decades per step (log10(mean f) is 2–3× too steep); the depth memory of the grid
is gated by the depth forget gate f' along depth (per layer), not along time.  GRU: ∂h[t]/∂h[t−1] =
diag(z[t]) plus the paths through r, z and n: the update gate z plays f's part.  Which cell has
which bound and which gated memories, it declares itself (cells.py: ``jacobian_bound``, ``memories``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, cast

import numpy as np
import torch
from torch import Tensor

from gridlstm.nn.cells import Cell, Memory
from gridlstm.nn.model import RecurrentModel

from .gradients import memory_gates
from .zeros import UNDERFLOW, structural_zero_step, underflow_step

__all__ = ["UNDERFLOW", "structural_zero_step"]

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
    alive = np.nonzero(g >= tiny)[0]
    zero_from = structural_zero_step(g)
    stats: dict[str, Any] = {"slope_decades_per_step": math.nan, "first_last_ratio": math.nan,
                             "underflow_step": 0, "fit_points": 0, "ref_step": None,
                             "structural_zero": zero_from is not None, "structural_zero_step": zero_from}
    stats.update({f"steps_to_1e-{k}": None for k in THRESHOLDS})
    if not alive.size:
        stats["underflow_step"] = underflow_step(g, tiny)
        return stats
    ref = int(alive[0])
    underflow = underflow_step(g, tiny)  # zeros.py: a structural zero is not underflow
    end = underflow if underflow is not None else (zero_from if zero_from is not None else n)
    if end - ref >= 2:
        s = np.arange(ref, end, dtype=np.float64)
        stats["slope_decades_per_step"] = float(np.polyfit(s, np.log10(g[ref:end]), 1)[0])
    g0 = g[ref]
    stats.update(first_last_ratio=float(g[-1] / g0), underflow_step=underflow, fit_points=end - ref,
                 ref_step=ref)
    live = g[ref:zero_from] if zero_from is not None else g[ref:]
    for k in THRESHOLDS:
        below = np.nonzero(live < 10.0 ** (-k) * g0)[0]
        stats[f"steps_to_1e-{k}"] = ref + int(below[0]) if below.size else None
    return stats


def geometric_mean(per_seed: list[np.ndarray]) -> np.ndarray:
    """exp(mean_seeds log g[s]): the profile whose log-slope is the mean of the per-seed log-slopes
    (over the steps where every seed is above underflow); 0 where any seed is 0."""
    stacked = np.asarray(per_seed, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.exp(np.mean(np.log(stacked), axis=0))


def rnn_bound_holds(g: np.ndarray, gamma_sigma: float) -> bool:
    """g[s+1] ≤ γσ_max·g[s] at every step (s = steps back: s+1 is the earlier time t)."""
    g = np.asarray(g, dtype=np.float64)
    prev, cur = g[1:], g[:-1]  # g[t], g[t+1]
    checked = cur > BOUND_FLOOR
    return bool(np.all(prev[checked] <= gamma_sigma * cur[checked] * (1 + BOUND_RTOL)))


# ----------------------------------------------------------------------------- theory

HOLDS: dict[Any, str] = {True: "holds at every step", False: "VIOLATED"}  # bound_holds → text


@dataclass
class Theory:
    """Theory quantities of one model (one seed), from its cell's declarations (cells.py).  Arrays
    are per layer, (D,)."""

    bound_state: Optional[str] = None                # the state a Jacobian bound applies to (rnn: h)
    sigma_max: Optional[np.ndarray] = None           # σ_max(W_hh) per layer
    spectral_radius: Optional[np.ndarray] = None     # max |eigenvalue| of W_hh per layer
    gamma: Optional[float] = None                    # sup |φ'|
    memories: dict[str, Memory] = field(default_factory=dict)        # the cell's gated memories
    forget: dict[str, np.ndarray] = field(default_factory=dict)      # memory → mean gate
    log10_forget: dict[str, np.ndarray] = field(default_factory=dict)  # memory → mean log10 gate
    # memory → max over units of mean_{t,b} log10 gate: the slowest unit, which the norm follows
    slowest_log10_forget: dict[str, np.ndarray] = field(default_factory=dict)


def _bound_matrices(cell: Cell) -> list[Tensor]:
    bound = cell.jacobian_bound()
    return list(bound.matrices) if bound is not None else []


def sigma_max(cell: Cell) -> np.ndarray:
    """σ_max(W_hh) per layer: the bound's factor (empty for a cell without a bound)."""
    return np.array([torch.linalg.matrix_norm(W, ord=2).item() for W in _bound_matrices(cell)])


def spectral_radius(cell: Cell) -> np.ndarray:
    """max |λ(W_hh)| per layer: the long-run growth factor of products of W_hh (≤ σ_max)."""
    return np.array([torch.linalg.eigvals(W).abs().max().item() for W in _bound_matrices(cell)])


def theory(model: RecurrentModel, x: Tensor, states: Optional[dict[str, Tensor]],
           gates: Optional[dict[str, Tensor]] = None) -> Theory:
    """What the cell declares: σ_max and γ of a Jacobian bound (rnn); the mean gate per layer of
    each gated memory (lstm and grid: forget gates; gru: update gates), from the captured states
    (or ``gates`` themselves, (T, D, B, H) each, when the probed pass recorded them)."""
    cell = model.cell
    th = Theory(memories=dict(cell.memories))
    bound = cell.jacobian_bound()
    if bound is not None:
        th.bound_state, th.gamma = bound.state, bound.gamma
        th.sigma_max, th.spectral_radius = sigma_max(cell), spectral_radius(cell)
    if states is None:
        return th
    for name, gate in (gates if gates is not None else memory_gates(model, x, states)).items():  # (T, D, B, H)
        g = gate.double()
        th.forget[name] = np.array([g[:, d].mean().item() for d in range(g.shape[1])])
        th.log10_forget[name] = np.array([torch.log10(g[:, d]).mean().item() for d in range(g.shape[1])])
        th.slowest_log10_forget[name] = np.array([torch.log10(g[:, d]).mean(dim=(0, 1)).max().item()
                                                  for d in range(g.shape[1])])
    return th


# ----------------------------------------------------------------------------- summary table

SUMMARY_FIELDS = ("state", "layer", "slope_decades_per_step", "slope_std", "first_last_ratio",
                  "steps_to_1e-3", "steps_to_1e-6", "steps_to_1e-12", "underflow_step", "ref_step", "fit_points",
                  "theory_kind", "theory_slope", "sigma_max", "gamma", "vanishing_sufficient", "spectral_radius",
                  "bound_holds", "mean_forget", "mean_log10_forget", "log10_mean_forget", "structural_zero",
                  "structural_zero_step", "predicted_slope", "predicted_slope_std", "slope_over_predicted")


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def summary_row(state: str, layer: int, per_seed: list[np.ndarray], tiny: float,
                theories: list[Theory], top: bool, last_step: bool) -> dict[str, Any]:
    """One row of summary.csv.  per_seed: the profile of each seed by steps back, each (n,).

    Every decay number is computed from the seeds' geometric-mean profile exp(mean_seeds log g[s]),
    so the slope is the mean of the per-seed slopes (fitted over the steps where every seed is above
    underflow), not the slope of the arithmetic mean, which the slowest seed dominates; slope_std is
    the standard deviation of the per-seed slopes (empty for one seed); theory values are seed means.
    """
    row: dict[str, Any] = {"state": state, "layer": layer}
    row.update(decay_stats(geometric_mean(per_seed), tiny))
    slopes = [decay_stats(g, tiny)["slope_decades_per_step"] for g in per_seed]
    row["slope_std"] = float(np.std(slopes, ddof=1)) if len(slopes) > 1 else math.nan
    row["theory_kind"] = ""
    d = layer - 1
    memory = theories[0].memories.get(state) if theories else None
    if theories and state == theories[0].bound_state:
        sig = [cast(np.ndarray, th.sigma_max)[d] for th in theories]
        gamma = cast(float, theories[0].gamma)  # set with bound_state
        row.update(theory_kind="sigma_max_bound", sigma_max=_mean(sig), gamma=gamma,
                   theory_slope=_mean([math.log10(gamma * s) for s in sig]),
                   vanishing_sufficient=bool(_mean(sig) < 1.0 / gamma),
                   spectral_radius=_mean([cast(np.ndarray, th.spectral_radius)[d] for th in theories]))
        if top and last_step:
            row["bound_holds"] = all(rnn_bound_holds(g, gamma * s) for g, s in zip(per_seed, sig, strict=True))
    elif memory is not None and state in theories[0].forget:
        f = _mean([th.forget[state][d] for th in theories])
        row.update(mean_forget=f, mean_log10_forget=_mean([th.log10_forget[state][d] for th in theories]),
                   log10_mean_forget=math.log10(f), theory_kind=memory.theory_kind)
        if memory.along == "time":  # the slowest unit bounds the norm's decay (docs/gradients.md)
            row["theory_slope"] = _mean([th.slowest_log10_forget[state][d] for th in theories])
        # a depth gate carries the state along depth: a per-layer prediction, reported in summary.md
    return row


def summarize(per_seed: dict[tuple[str, int], list[np.ndarray]], theories: list[Theory], layers: int,
              tiny: float, last_step: bool) -> list[dict[str, Any]]:
    """Rows for every (state, layer) in ``per_seed`` (profiles by steps back), in its order."""
    return [summary_row(state, layer, profiles, tiny, theories, layer == layers, last_step)
            for (state, layer), profiles in per_seed.items()]


def theory_lines(rows: list[dict[str, Any]], per_seed: dict[tuple[str, int], list[np.ndarray]],
                 layers: int, memories: dict[str, Memory]) -> list[str]:
    """Plain-text lines that put each prediction beside its measurement."""
    lines = []
    for r in rows:
        memory = memories.get(r["state"]) if r["theory_kind"] else None
        where = f"layer {r['layer']}, {r['state']}"
        if r["theory_kind"] == "sigma_max_bound":
            holds = HOLDS.get(r.get("bound_holds"),
                                                                       "not checked (not the top layer "
                                                                       "of a last-step loss)")
            lines.append(
                f"{where}: σ_max(W_hh) = {r['sigma_max']:.4g}, γ = {r['gamma']:g}; σ_max < 1/γ "
                f"(sufficient for vanishing): {'yes' if r['vanishing_sufficient'] else 'no'}; bound slope "
                f"log10(γσ_max) = {r['theory_slope']:+.4g} decades/step, measured "
                f"{r['slope_decades_per_step']:+.4g}; g[t] ≤ γσ_max·g[t+1] {holds}; spectral radius "
                f"ρ(W_hh) = {r['spectral_radius']:.4g} (log10 ρ = {math.log10(r['spectral_radius']):+.4g}, "
                "the long-run rate of W_hh alone)")
        elif memory is not None and memory.along == "time":
            a = memory.symbol
            lines.append(f"{where}: predicted max over units of mean log10 {a} = {r['theory_slope']:+.4g} "
                         f"decades/step (the slowest unit), measured {r['slope_decades_per_step']:+.4g}; "
                         f"mean {memory.gate} {r['mean_forget']:.4g} (log10(mean {a}) = "
                         f"{r['log10_mean_forget']:+.4g}, mean log10 {a} = {r['mean_log10_forget']:+.4g}: "
                         "all units, steeper than the norm)")
        elif memory is not None:
            lines.append(f"{where}: mean {memory.gate} {memory.symbol} {r['mean_forget']:.4g} → predicted "
                         f"{math.log10(r['mean_forget']):+.4g} decades per layer along depth "
                         f"(it gates depth, not time)")
    depth_names = sorted({s for s, _ in per_seed if s in memories and memories[s].along == "depth"})
    for name in depth_names:
        if layers >= 2:
            g0 = [geometric_mean(per_seed[(name, d)])[0] for d in range(1, layers + 1)]
            if g0[0] > 0 and g0[-1] > 0:
                slope = math.log10(g0[0] / g0[-1]) / (layers - 1)
                lines.append(f"{name} at the loss step: measured {slope:+.4g} decades per layer "
                             f"from layer {layers} down to layer 1")
    return lines
