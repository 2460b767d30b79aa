"""The theory of the decay along depth at the scored step t = T (docs/gradients.md "Along depth").

At the last step nothing flows back in time, so the gradient reaching layer d-1 at T comes only
from layer d at T.  What the cell declares (cells.py) says which theory applies:

Stacked cells (rnn, lstm, gru; ``depth_carrier = "h"``).  With h[T-1,d] (and c[T-1,d]) fixed,
    J_d = ∂h[T,d]/∂h[T,d-1]          (B, H, H) per example, by autograd on the cell's ``reference``
    g_b[T,d-1] = J_{d,b}ᵀ g_b[T,d]   exactly (per example b), so ‖g_b[T,d-1]‖ ≤ ‖J_{d,b}‖₂ ‖g_b[T,d]‖
and over the layers d = 2..top that the loss reaches, per example b,
    log10 ‖g_b[T,top]‖ − log10 ‖g_b[T,1]‖ ≥ −Σ_d log10 ‖J_{d,b}‖₂.
The measured g[T,d] = mean_b ‖g_b[T,d]‖ (gradients.py), and mean_b ‖g_b[T,1]‖ ≤
max_b(Π_d ‖J_{d,b}‖) · mean_b ‖g_b[T,top]‖, so per seed the measured decades lost satisfy
    decades ≥ −max_b Σ_d log10 ‖J_{d,b}‖₂              (``bound``: checked, ``bound_holds``)
The column reported per layer is the typical factor, −(1/(top−1)) Σ_d log10 mean_b ‖J_{d,b}‖₂
(a bound for an example whose norms are the batch means; not a strict bound for the batch).
rnn: J_d = diag(1 − h[T,d]²)·W_inᵀ (tanh), and ‖J_d‖₂ ≤ γ·σ_max(W_in) with γ = sup|φ'| = 1: the
weight bound, shown beside it (``reference``).

Grid (memories along "depth": c_depth, m_depth).  m'[T,d] = f'[T,d] ⊙ m'[T,d-1] + (terms of the
block's other inputs), so along the diagonal path unit u keeps Π_d f'[T,d,u]: as for the time
memories (decay.py) the norm follows the slowest unit, and the predicted decades lost per layer are
    −max_u mean_{d=2..top, b} log10 f'[T,d,b,u]
with −log10(mean_{d,b,u} f') (all units: steeper) for reference.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, cast

import numpy as np
import torch
from torch import Tensor

from gridlstm.formatting import markdown_table
from gridlstm.nn.cells import Cell, States
from gridlstm.nn.model import RecurrentModel
from gridlstm.runs.tables import GradientTable

from .depth import FLT_MIN, depth_decay, depth_profile, depth_states
from .gradients import block_inputs

BOUND_TOL = 1e-3  # decades: float32 rounding allowance when the measured decay is held to the bound


@dataclass
class DepthTheory:
    """One seed's depth theory at the scored step, from the cell's declarations (cells.py)."""

    carrier: Optional[str] = None                    # the state J_d is for (stacked cells: h)
    log10_jacobian: Optional[np.ndarray] = None      # (D, B) log10 ‖J_{d,b}‖₂ (row 0: w.r.t. P·x)
    gamma: Optional[float] = None                    # sup |φ'| of a weight bound (rnn)
    log10_input_sigma: Optional[np.ndarray] = None   # (D,) log10 γ·σ_max(W_in) per layer (rnn)
    gates: dict[str, np.ndarray] = field(default_factory=dict)  # depth memory → (D, B, H) f'[T]


def at_last_step(below: States, left: States, batch: int) -> tuple[States, States]:
    """The rows of t = T out of block_inputs' (1, T·B, H) tensors: each (1, B, H)."""
    return tuple(s[:, -batch:] for s in below), tuple(s[:, -batch:] for s in left)


def block_jacobian(cell: Cell, below: States, left: States, d: int, state: str) -> Tensor:
    """J_b = ∂s_b/∂(its depth input)_b for every example: (B, H, H), by reverse-mode autograd
    (torch.func.jacrev) through the cell's reference equations of layer d, ``left`` and the other
    ``below`` states held fixed.  below, left: tuples of (1, B, H); s = ``state``, one of ``up``."""
    i = cell.state_names.index(state)
    j = cell.up_idx.index(i)  # below[j] = up-state i of layer d-1: the same state one layer down

    def out(inp: Tensor) -> Tensor:  # (B, H) -> (H,): Σ_b s_b, so ∂out_k/∂inp[b] = row k of J_b
        ins = tuple(inp.unsqueeze(0) if k == j else s for k, s in enumerate(below))
        return cell.reference(ins, left, d, d + 1).states[i][0].sum(0)

    with torch.enable_grad():
        jac = torch.func.jacrev(out)(below[j][0].detach())  # (H, B, H): [k, b, l] = J_b[k, l]
    return jac.detach().permute(1, 0, 2)


def depth_theory(model: RecurrentModel, x: Tensor, states: dict[str, Tensor]) -> DepthTheory:
    """The depth theory of one seed on the measured batch: x (B, T, I) and the captured states
    (T, D, B, H) of the same forward pass (Profile.states)."""
    cell: Cell = model.cell
    B = x.shape[0]
    th = DepthTheory(carrier=cell.depth_carrier)
    depth_memories = [n for n, m in cell.memories.items() if m.along == "depth"]
    norms: list[np.ndarray] = []
    gates: dict[str, list[np.ndarray]] = {n: [] for n in depth_memories}
    with torch.no_grad():
        px = model.proj(x).transpose(0, 1)  # (T, B, H)
    for d in range(cell.layers):
        below, left = at_last_step(*block_inputs(cell, px, states, d), B)
        if th.carrier is not None:
            jac = block_jacobian(cell, below, left, d, th.carrier).double()      # (B, H, H)
            norms.append(torch.log10(torch.linalg.matrix_norm(jac, ord=2)).cpu().numpy())  # (B,)
        if depth_memories:
            with torch.no_grad():
                block = cell.reference(below, left, d, d + 1)
            for n in depth_memories:
                gates[n].append(block.gates[n][0].double().cpu().numpy())        # (B, H)
    if norms:
        th.log10_jacobian = np.stack(norms)                                       # (D, B)
    th.gates = {n: np.stack(g) for n, g in gates.items()}                         # (D, B, H)
    bound = cell.jacobian_bound()
    if bound is not None and bound.input_matrices is not None:
        th.gamma = bound.gamma
        th.log10_input_sigma = np.array([math.log10(bound.gamma * torch.linalg.matrix_norm(W, ord=2).item())
                                         for W in bound.input_matrices])
    return th


# ----------------------------------------------------------------------------- measured beside theory

DEPTH_FIELDS = ("state", "top_layer", "decades", "decades_std", "underflow", "seeds", "per_layer",
                "theory_kind", "theory_per_layer", "reference_kind", "reference_per_layer", "bound_decades",
                "bound_holds", "predicted_decades", "predicted_per_layer", "decades_over_predicted", "sigma1_decades",
                "directions_1e-3", "directions_1e-6")
HOLDS: dict[Any, str] = {True: "holds in every seed", False: "VIOLATED"}  # bound_holds → text
THEORY_TEXT = {"jacobian_bound": "‖J_d‖₂ bound (lost ≥)", "depth_forget_gate": "depth forget gate f′"}


def table_from_rows(rows: list[dict[str, Any]]) -> GradientTable:
    """gradients.csv rows (profile_rows) as the GradientTable that probe/depth.py reads."""
    col = {k: np.array([r[k] for r in rows]) for k in ("step", "seed", "state", "layer", "t", "norm")}
    return GradientTable(step=col["step"].astype(np.int64), seed=col["seed"].astype(np.int64),
                         state=col["state"].astype(str), layer=col["layer"].astype(np.int64),
                         t=col["t"].astype(np.int64), norm=col["norm"].astype(float))


def _jacobian_theory(row: dict[str, Any], theories: list[DepthTheory], per_seed: np.ndarray,
                     low: np.ndarray, top: int) -> None:
    """Fill ``row`` with the ‖J_d‖ prediction over layers 2..top.  per_seed: (S,) measured decades;
    low: (S,) g[T, 1] (an underflowing seed's decades are clipped at FLT_MIN: not checked)."""
    logs = [cast(np.ndarray, th.log10_jacobian)[1:top] for th in theories]                         # each (top-1, B)
    typical = [np.log10(np.mean(10.0 ** lg, axis=1)).sum() for lg in logs]      # Σ_d log10 mean_b ‖J‖
    bound = np.array([lg.sum(0).max() for lg in logs])                          # max_b Σ_d log10 ‖J_b‖
    row.update(theory_kind="jacobian_bound", theory_per_layer=-float(np.mean(typical)) / (top - 1),
               bound_decades=-float(bound.mean()))
    checked = low >= FLT_MIN
    if checked.any():
        row["bound_holds"] = bool(np.all(per_seed[checked] >= -bound[checked] - BOUND_TOL))
    if theories[0].log10_input_sigma is not None:
        row.update(reference_kind="input_weight_bound",
                   reference_per_layer=-float(np.mean([cast(np.ndarray, th.log10_input_sigma)[1:top].mean()
                                                      for th in theories])))


def _gate_theory(row: dict[str, Any], theories: list[DepthTheory], state: str, top: int) -> None:
    """Fill ``row`` with the depth-forget-gate prediction over layers 2..top (the slowest unit)."""
    gates = [th.gates[state][1:top] for th in theories]                       # each (top-1, B, H)
    slowest = [np.log10(f).mean(axis=(0, 1)).max() for f in gates]            # max_u mean_{d,b} log10 f'
    row.update(theory_kind="depth_forget_gate", theory_per_layer=-float(np.mean(slowest)),
               reference_kind="log10_mean_gate",
               reference_per_layer=-float(np.mean([math.log10(f.mean()) for f in gates])))


def depth_summary(rows: list[dict[str, Any]], theories: list[DepthTheory],
                  model: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row (DEPTH_FIELDS) per depth-carrying state the loss reaches in ≥ 2 layers at the scored
    step: the measured decay (probe/depth.py) beside the theory of each seed (same order)."""
    table = table_from_rows([r for r in rows if r["state"] != "x"])
    out = []
    for state in depth_states(table.states, model):
        prof = depth_profile(table, state)
        dec = depth_decay(prof)
        if dec.decades is None or dec.top_layer is None:
            continue
        top = dec.top_layer
        row: dict[str, Any] = {"state": state, "top_layer": top, "decades": dec.decades,
                               "decades_std": dec.decades_std, "underflow": dec.underflow,
                               "seeds": dec.seeds, "per_layer": dec.per_layer, "theory_kind": ""}
        i_top = int(np.flatnonzero(prof.layers == top)[0])
        high, low = prof.values[:, i_top], prof.values[:, 0]                        # (S,)
        per_seed = np.log10(np.maximum(high, FLT_MIN)) - np.log10(np.maximum(low, FLT_MIN))
        if theories and state == theories[0].carrier and theories[0].log10_jacobian is not None:
            _jacobian_theory(row, theories, per_seed, low, top)
        elif theories and state in theories[0].gates:
            _gate_theory(row, theories, state, top)
        out.append(row)
    return out


# ----------------------------------------------------------------------------- text

DEPTH_HEADERS = ("state", "top layer", "decades lost", "per layer", "theory/layer", "theory")
DEPTH_LEGEND = ("decades lost from the top layer the loss reaches down to layer 1 at the scored step "
                "t = T (mean ± std over seeds; ≥: layer 1 underflows in some seed, counted down to "
                "FLT_MIN); per layer: divided by top − 1, positive = vanishing; theory: −mean_d log10 "
                "mean_b ‖J_d‖₂ with J_d = ∂h[T,d]/∂h[T,d−1] (stacked: a lower bound on the decades "
                "lost per example whose ‖J_d‖ are the batch means; the strict bound for the batch "
                "follows the table), or −max over units of mean log10 f′ (grid depth memory: the slowest unit); "
                "predicted/layer (with the spectrum): −λ₁/ln 10 of the depth Jacobians, and the singular "
                "values of their product above 1e-3 / 1e-6 of the top one")


SPECTRUM_HEADERS = ("predicted/layer", "dirs 1e-3 / 1e-6")  # with the spectrum (spectrum_summary.py)


def depth_headers(depth: list[dict[str, Any]]) -> tuple[str, ...]:
    """DEPTH_HEADERS, and the spectrum's prediction when any row has one."""
    return DEPTH_HEADERS + (SPECTRUM_HEADERS if any("predicted_per_layer" in r for r in depth) else ())


def depth_row_cells(r: dict[str, Any], headers: tuple[str, ...]) -> tuple[str, ...]:
    """The cells of one row under ``headers`` (depth_headers)."""
    cells = depth_cells(r)
    if len(headers) == len(DEPTH_HEADERS):
        return cells
    if "predicted_per_layer" not in r:
        return cells + ("—", "—")
    return cells + (f"≈ {r['predicted_per_layer']:.3g}", f"{r['directions_1e-3']:.3g} / {r['directions_1e-6']:.3g}")


def depth_cells(r: dict[str, Any]) -> tuple[str, ...]:
    """The DEPTH_HEADERS cells of one depth_summary row."""
    ge = "≥" if r["underflow"] else ""
    std = r.get("decades_std")
    lost = f"{ge}{r['decades']:.3g}" + ("" if std is None else f" ± {std:.2g}")
    theory = r.get("theory_per_layer")
    kind = r["theory_kind"]
    shown = "—" if theory is None else ("≥ " if kind == "jacobian_bound" else "≈ ") + f"{theory:.3g}"
    return (r["state"], str(r["top_layer"]), lost, f"{ge}{r['per_layer']:.3g}", shown,
            THEORY_TEXT.get(kind, "—"))


def depth_lines(depth: list[dict[str, Any]]) -> list[str]:
    """Plain-text lines beside the depth table: the strict bound and the reference predictions."""
    lines = []
    for r in depth:
        where = f"{r['state']} (layers {r['top_layer']} → 1)"
        if r["theory_kind"] == "jacobian_bound":
            holds = HOLDS.get(r.get("bound_holds"),
                                                                       "not checked (layer 1 underflows)")
            line = (f"{where}: measured {r['decades']:.4g} decades lost; per-example bound −max_b Σ_d "
                    f"log10 ‖J_d,b‖₂ = {r['bound_decades']:.4g} (seed mean) {holds}; typical ‖J_d‖ "
                    f"predicts {r['theory_per_layer']:+.4g} decades/layer, measured {r['per_layer']:+.4g}")
            if r.get("reference_kind") == "input_weight_bound":
                line += (f"; weight bound −log10 γσ_max(W_in) = {r['reference_per_layer']:+.4g} decades/layer "
                         "(γ = sup|φ′| = 1)")
            lines.append(line)
        elif r["theory_kind"] == "depth_forget_gate":
            lines.append(f"{where}: predicted −max over units of mean log10 f′ = {r['theory_per_layer']:+.4g} "
                         f"decades/layer (the slowest unit), measured {r['per_layer']:+.4g}; −log10(mean f′) = "
                         f"{r['reference_per_layer']:+.4g} (all units)")
    return lines


def depth_markdown(depth: list[dict[str, Any]]) -> list[str]:
    """summary.md's depth section (empty for a model with one layer)."""
    if not depth:
        return []
    headers = depth_headers(depth)
    lines = ["", "## Decay along depth at the scored step", "", DEPTH_LEGEND + ". Every column: depth.csv.", "",
             *markdown_table(headers, [depth_row_cells(r, headers) for r in depth]).splitlines()]
    return lines + [""] + [f"- {t}" for t in depth_lines(depth)]
