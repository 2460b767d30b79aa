"""The Lyapunov spectrum of the backward Jacobians, along time and along depth (docs/gradients.md,
"Lyapunov spectrum").

The probe measures g[t−1] = J[t]ᵀ g[t] step after step, a product of one-step Jacobians of the
state that crosses from one step to the next.  For almost every starting gradient ‖g‖ grows at
the top Lyapunov exponent λ₁ of that product (Oseledets), so the measured slope tends to λ₁/ln 10
decades per step: a prediction, not a bound.  The QR (Benettin) method gives the top K:

    Q₀ = a random orthonormal n × K frame (seeded), per example
    for k = 1..N:  Q_k, R_k = qr(J_kᵀ Q_{k−1})            (J_k: the k-th map the gradient crosses)
    λ_i = mean over k > warm-up of log |R_k[i, i]|        (nats per step; decades = λ/ln 10)

Started from the top-K right singular vectors V of the backward product M = J_Nᵀ ⋯ J_1ᵀ (J_1ᵀ
applied first), Σ_k log|R_k[i,i]| = log σ_i(M) exactly, since the QR of M·V = U·Σ is unique: the
tests' check.  From a random frame with no warm-up, N·λ₁ = log ‖M q₀‖ for its first column q₀.

Time (``time_spectrum``).  The state at t is what every layer carries from t−1 to t, the cell's
``right`` states of every layer (h of rnn/gru; h, c of lstm; the grid's time h and memory), laid
out as one vector per example, n = |right|·D·H, index (state r, layer d, unit u).  The map
t−1 → t runs through the whole depth chain at t: layer d's block reads the new ``up`` state of
layer d−1 at t, so J[t] = ∂carried[t]/∂carried[t−1] with P·x_t fixed.  Jᵀ Q is K vector–Jacobian
products through the cells' ``reference`` equations, the K directions stacked into the batch (one
autograd call per step), in float64 on a copy of the cell.  Steps t = T … 2 (1-based), the T − 1
maps the measured profile crosses.

Depth (``depth_spectrum``).  At the scored step t = T nothing flows back in time, so
g[T,d−1] = J_dᵀ g[T,d] with J_d = ∂up[T,d]/∂up[T,d−1] (the time inputs fixed; up: h of the stacked
cells, the grid's (h′, memory′)).  The product M = J_2ᵀ ⋯ J_Dᵀ (from the top layer down) is
multiplied explicitly, n = |up|·H is small: its singular values, the per-layer exponents by QR,
and how many directions stay above 1e-3 and 1e-6 of the top one after D − 1 layers.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional, cast

import numpy as np
import torch
from torch import Tensor, nn

from gridlstm.nn.cells import Cell, States

StepVJP = Callable[[int, Tensor], Tensor]  # (k, Q (B, n, K)) -> J_kᵀ Q (B, n, K)
LN10 = math.log(10.0)
WINDOW = 200  # the shortest window of the product that segment_plan runs side by side by default


def random_frame(batch: int, n: int, k: int, seed: int, dtype: torch.dtype = torch.float64,
                 device: torch.device | str = "cpu") -> Tensor:
    """Q₀: a random orthonormal n × k frame per example, from ``seed`` (drawn on the CPU, so the
    same on every device).  -> (B, n, k)."""
    g = torch.Generator().manual_seed(seed)
    return torch.linalg.qr(torch.randn(batch, n, k, generator=g, dtype=dtype)).Q.to(device)


def benettin(step: StepVJP, steps: int, q0: Tensor, warmup: int = 0) -> Tensor:
    """The QR method: Q, R = qr(J_kᵀ Q) for k = 0..steps−1, λ_i = mean_{k ≥ warmup} log|R_ii|.

    step(k, Q) applies the k-th backward map; q0: (B, n, K) orthonormal.  -> (B, K) nats per step."""
    return benettin_groups(step, steps, [q0], [None], warmup)[0]


def benettin_groups(step: StepVJP, steps: int, q0s: list[Tensor], masks: list[Optional[Tensor]],
                    warmup: int = 0) -> list[Tensor]:
    """Several QR runs through one map call per step: group g's frame (B, n, K_g) is stacked with
    the others into one Jᵀ Q, then restricted to its coordinates (mask (n,) of 0/1, None: all), so
    that it follows P Jᵀ P, the backward map of the coordinates kept.  -> per group (B, K_g)."""
    if not 0 <= warmup < steps:
        raise ValueError(f"warm-up {warmup} must be below the {steps} steps of the product")
    qs = list(q0s)
    totals = [torch.zeros(q.shape[0], q.shape[2], dtype=torch.float64) for q in qs]
    sizes = [q.shape[2] for q in qs]
    for k in range(steps):
        out = step(k, torch.cat(qs, dim=2)).split(sizes, dim=2)
        for g, (o, mask) in enumerate(zip(out, masks, strict=True)):
            qs[g], r = torch.linalg.qr(o if mask is None else o * mask[:, None])  # (B, n, K_g), (B, K_g, K_g)
            if k >= warmup:
                totals[g] += torch.log(torch.diagonal(r, dim1=-2, dim2=-1).abs()).double().cpu()
    return [t / (steps - warmup) for t in totals]


def directions(k: Optional[int], n: int) -> int:
    """K, the number of exponents: ``None`` is all n; at most n."""
    return n if k is None else max(1, min(int(k), n))


# ----------------------------------------------------------------------------- the model's maps


def carried_states(cell: Cell, states: dict[str, Tensor]) -> States:
    """What every layer carries along time: the ``right`` states, each (T, D, B, H)."""
    return tuple(states[cell.state_names[i]] for i in cell.right_idx)


def time_map(cell: Cell, px_t: Tensor, prev: States) -> States:
    """carried[t] from carried[t−1] through the depth chain at t.  px_t: (N, H) = P·x_t;
    prev: each (D, N, H) (every layer's right states at t−1)  ->  each (D, N, H)."""
    below = cell.bottom(px_t.unsqueeze(0))                                   # each (1, N, H)
    outs: list[list[Tensor]] = [[] for _ in cell.right_idx]
    for d in range(cell.layers):
        block = cell.reference(below, tuple(s[d:d + 1] for s in prev), d, d + 1).states
        for r, i in enumerate(cell.right_idx):
            outs[r].append(block[i])
        below = cell.up(block)
    return tuple(torch.cat(o) for o in outs)


def repeated(states: States, k: int) -> States:
    """Each (rows, B, H) repeated k times along the batch -> (rows, k·B, H), as ``to_rows`` lays out
    (k = 1: the states themselves, no copy)."""
    return states if k == 1 else tuple(s.repeat(1, k, 1) for s in states)


def depth_map(cell: Cell, below: States, left: States, d: int) -> States:
    """up[T,d] from up[T,d−1] with the time inputs fixed: below, left each (1, N, H) -> up, each (1, N, H)."""
    return cell.up(cell.reference(below, left, d, d + 1).states)


def to_rows(q: Tensor, parts: int, rows: int) -> tuple[Tensor, ...]:
    """(B, n, K), n = parts·rows·H  ->  ``parts`` tensors (rows, K·B, H): direction k of example b
    at row k·B + b, the layout of a batch repeated K times."""
    B, n, K = q.shape
    H = n // (parts * rows)
    return tuple(q.reshape(B, parts, rows, H, K).permute(1, 2, 4, 0, 3).reshape(parts, rows, K * B, H))


def from_rows(parts: tuple[Tensor, ...], batch: int) -> Tensor:
    """The inverse of ``to_rows``: tensors (rows, K·B, H)  ->  (B, n, K)."""
    s = torch.stack(parts)                                                   # (P, rows, K·B, H)
    P, rows, KB, H = s.shape
    K = KB // batch
    return s.reshape(P, rows, K, batch, H).permute(3, 0, 1, 4, 2).reshape(batch, P * rows * H, K)


def vjp_step(f: Callable[[States, int], States], primal: States, rows: int) -> StepVJP:
    """Jᵀ Q for the map f at ``primal`` (each (rows, B, H)), K directions stacked into the batch:
    one forward f(inputs, K) on K·B rows (f repeats its fixed inputs K times), one autograd call.
    The returned step ignores k."""
    B = primal[0].shape[1]

    def step(_: int, q: Tensor) -> Tensor:
        K = q.shape[-1]
        with torch.enable_grad():
            inp = tuple(s.detach().requires_grad_(True) for s in repeated(primal, K))  # (rows, K·B, H)
            out = f(inp, K)
            grads = torch.autograd.grad(out, inp, grad_outputs=to_rows(q, len(out), rows), allow_unused=True)
        return from_rows(tuple(torch.zeros_like(i) if g is None else g for g, i in zip(grads, inp, strict=True)), B)
    return step


def float64_cell(model: nn.Module) -> Cell:
    """A float64 copy of the model's cell (the spectrum is computed in float64; the model is untouched)."""
    return copy.deepcopy(cast(Cell, model.cell)).double().requires_grad_(False)


def time_jacobian_step(cell: Cell, px: Tensor, carried: States, segments: int = 1, length: int = 0) -> StepVJP:
    """step(k, Q) = J[t]ᵀ Q with t = T−1−m (0-based) for map m = k back from the last step.
    px: (T, B, H); carried: each (T, D, B, H); Q: (S·B, n, K), row s·B + b.

    Segments (S > 1): segment s applies map m = s·length + k, all S in one call; a segment past
    the last map (m > T − 2) applies the identity (log|R_ii| = 0: it adds nothing)."""
    T, B, H = px.shape
    last = T - 2                                                             # the last map back

    def step(k: int, q: Tensor) -> Tensor:
        m = torch.arange(segments) * length + k                              # (S,)
        t = (T - 1 - m.clamp(max=last)).to(px.device)
        px_k = px[t].reshape(segments * B, H)                                # (S·B, H)
        prev = tuple(c[t - 1].transpose(0, 1).reshape(cell.layers, segments * B, H) for c in carried)
        out = vjp_step(lambda p, K: time_map(cell, px_k if K == 1 else px_k.repeat(K, 1), p), prev, cell.layers)(k, q)
        live = (m <= last).repeat_interleave(B).to(q.device)[:, None, None]  # (S·B, 1, 1)
        return out if bool(live.all()) else torch.where(live, out, q)
    return step


@dataclass
class TimeSpectrum:
    """One seed's time spectrum: exponents (B', K) in nats per step of the examples measured;
    from_layer (B', D): column d (0-based) is the top exponent of the carried state of layers
    d..D−1 alone (column 0 = exponents[:, 0]).  The time map is block lower-triangular in the
    layers (layer d at t reads layer d−1 at t, never a higher layer), so the gradient of layers ≥ d
    evolves by itself, g_{≥d}[t−1] = (Jᵀ)_{≥d,≥d} g_{≥d}[t]: a state of layer d decays at from_layer[d]."""

    exponents: np.ndarray
    n: int          # the carried state's size per example, |right|·D·H
    steps: int      # maps in the product (T − 1)
    warmup: int     # the first maps back from the loss left out of the mean
    from_layer: Optional[np.ndarray] = None
    segments: int = 1  # windows of the product run side by side (``segment_plan``)


def default_warmup(steps: int) -> int:
    """The warm-up: the first ⌊steps/10⌋ maps back from the loss (at least 1 when steps > 1)."""
    return max(1 if steps > 1 else 0, steps // 10)


def segment_plan(steps: int, warmup: int, segments: Optional[int]) -> tuple[int, int]:
    """(S, L): the maps counted, warmup..steps−1, cut into S windows of L maps run side by side.
    Window s runs maps s·L .. s·L + warmup + L − 1 from its own random frame, the first ``warmup``
    of them (the previous window's last maps; for s = 0 the first maps back from the loss) left
    out: each window is aligned as the single run's first one, and T − 1 sequential steps become
    warmup + L.  segments None: windows of at least WINDOW maps, at most 4 (1 below 2·WINDOW).
    A window starts misaligned, so shorter ones add noise (a grid at T = 200 in 45-map windows: 3%)."""
    if segments is None:
        segments = max(1, min(4, (steps - warmup) // WINDOW))
    S = max(1, min(segments, steps - warmup))
    return S, -(-(steps - warmup) // S)


def time_spectrum(model: nn.Module, x: Tensor, states: dict[str, Tensor], k: Optional[int] = 8,
                  examples: Optional[int] = None, warmup: Optional[int] = None,
                  seed: int = 0, segments: Optional[int] = 1) -> Optional[TimeSpectrum]:
    """The top k exponents of the backward time map of the whole model, per example, on the
    measured batch x (B, T, I) and its captured states (T, D, B, H) (Profile.states).  examples:
    the first ones of the batch only (None: all); k None: the whole spectrum; segments: windows
    run side by side (``segment_plan``; 1: the single run).  None for T = 1 (a task that gives its
    whole input at once: no map along time)."""
    cell = float64_cell(model)
    B = x.shape[0] if examples is None else min(examples, x.shape[0])
    with torch.no_grad():
        px = cast(nn.Module, model.proj)(x[:B]).transpose(0, 1).double()  # (T, B', H)
    carried = tuple(s[:, :, :B].double() for s in carried_states(cell, states))  # (T, D, B', H)
    n = len(carried) * cell.layers * cell.hidden
    steps = px.shape[0] - 1
    if steps < 1:
        return None
    warmup = default_warmup(steps) if warmup is None else warmup
    D, H = cell.layers, cell.hidden
    dev = px.device
    layer_of = torch.arange(D, device=dev).repeat_interleave(H).repeat(len(carried))  # (n,) layer of coordinate
    layer_masks = [(layer_of >= d).double() for d in range(1, D)]
    masks: list[Optional[Tensor]] = [None, *layer_masks]
    S, L = segment_plan(steps, warmup, segments)
    q0s = [random_frame(S * B, n, directions(k, n), seed, device=dev)]
    q0s += [torch.linalg.qr(random_frame(S * B, n, 1, seed + d, device=dev) * m[:, None]).Q
            for d, m in enumerate(layer_masks, 1)]
    step = time_jacobian_step(cell, px, carried, S, L)
    # each window's mean over its L maps -> the mean over all steps − warmup maps, per example
    lams = [lam.reshape(S, B, -1).sum(0) * (L / (steps - warmup))
            for lam in benettin_groups(step, warmup + L, q0s, masks, warmup)]
    tops = np.stack([lams[0][:, 0].numpy()] + [lam[:, 0].numpy() for lam in lams[1:]], axis=1)  # (B', D)
    return TimeSpectrum(lams[0].numpy(), n, steps, warmup, tops, S)


# ----------------------------------------------------------------------------- depth


@dataclass
class DepthSpectrum:
    """One seed's depth spectrum at the scored step over layers 2..D, per example b."""

    log_singular: np.ndarray   # (B, n) log σ_i of M = J_2ᵀ ⋯ J_Dᵀ, descending (nats)
    exponents: np.ndarray      # (B, K) per-layer exponents by QR (nats per layer)
    layers: int                # D − 1 maps

    def surviving(self, ratio: float) -> np.ndarray:
        """Per example, how many σ_i ≥ ratio·σ_1.  -> (B,)"""
        return (self.log_singular - self.log_singular[:, :1] >= math.log(ratio)).sum(axis=1)


def depth_jacobians(model: nn.Module, x: Tensor, states: dict[str, Tensor]) -> list[Tensor]:
    """J_dᵀ for d = 2..D (1-based) at t = T, per example: each (B, n, n), n = |up|·H, float64,
    as K = n vector–Jacobian products through the reference (Jᵀ applied to the identity)."""
    from .depth_theory import at_last_step
    from .gradients import block_inputs

    cell, B = float64_cell(model), x.shape[0]
    st = {k: v.double() for k, v in states.items()}
    with torch.no_grad():
        px = cast(nn.Module, model.proj)(x).transpose(0, 1).double()  # (T, B, H)
    n = len(cell.up_idx) * cell.hidden
    eye = torch.eye(n, dtype=torch.float64, device=px.device).expand(B, n, n)
    out = []
    for d in range(1, cell.layers):
        below, left = at_last_step(*block_inputs(cell, px, st, d), B)        # each (1, B, H)

        def up_map(b: States, K: int, left: States = left, d: int = d) -> States:
            return depth_map(cell, b, repeated(left, K), d)
        out.append(vjp_step(up_map, below, 1)(0, eye))
    return out


def depth_spectrum(model: nn.Module, x: Tensor, states: dict[str, Tensor], k: Optional[int] = 8,
                   seed: int = 0) -> Optional[DepthSpectrum]:
    """Singular values of the explicitly multiplied product and the per-layer QR exponents (None
    for one layer)."""
    jts = depth_jacobians(model, x, states)
    if not jts:
        return None
    top_down = jts[::-1]                                                     # J_Dᵀ first
    prod = top_down[0]
    for jt in top_down[1:]:
        prod = jt @ prod                                                     # M = J_2ᵀ ⋯ J_Dᵀ
    log_sv = torch.log(torch.linalg.svdvals(prod)).cpu().numpy()
    B, n, _ = prod.shape
    q0 = random_frame(B, n, directions(k, n), seed, device=prod.device)
    lam = benettin(lambda i, q: top_down[i] @ q, len(top_down), q0, 0)
    return DepthSpectrum(log_sv, lam.numpy(), len(top_down))
