"""Gradient probes: ∂L/∂state[t, d] for every timestep, layer and state kind from ONE backward pass.

The schedule hands every block's state to ``probe(state, k, lo, hi)`` before anything downstream
uses it (schedule.py). ``StateProbe`` passes it through an identity node (``_Tap``) that
downstream blocks read instead; its backward records the gradient arriving there. This is the same
as adding a zero tensor z that requires grad, state + z: the forward values are unchanged, and one
``torch.autograd.grad(L, x)`` gives, for every (t, d) at once (never T backward passes), the
*outgoing* gradient

    ∂L/∂z[t, d]     the uses of state[t, d] after its block (the paths to (t+1, d) and (t, d+1)),

which is what a finite difference of a nudge added at the probe measures (verify.py). The
reported *total* gradient ∂L/∂state[t, d] adds the uses inside the block (an LSTM's c makes its h;
the memory-input grid's time h feeds the block's depth LSTM):

    total_i = outgoing_i + Σ_j (∂s_j/∂s_i)ᵀ total_j      (s_j: the block's other outputs)

computed for all t of a layer at once by autograd through the cell's reference formulation of the
block (``block_totals``), whatever the cell.  The probed pass's own graph cannot give it: the fast
path may fuse a block into one node (nn/fused.py), hiding those uses.
Row l of a probe call on anti-diagonal k with layers lo..hi-1 is layer d = lo + l at time
t = k - d (0-based), the schedule's own convention.

Norm convention (docs/gradients.md). The loss is L = mean_b ℓ_b and examples do not interact, so
∂L/∂state_b = (1/B)·∂ℓ_b/∂state_b: the per-example gradient is B times row b of ∂L/∂state, and

    g[t, d] = mean_b ‖∂ℓ_b/∂state_b[t, d]‖₂        (independent of the batch size B)

Norms are taken in float64 so that float32 gradients of 1e-30 do not square to zero.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import Tensor, nn

from gridlstm.nn.cells import Cell, States
from gridlstm.nn.model import RecurrentModel
from gridlstm.runs.layout import GRADIENT_COLUMNS
from gridlstm.tasks import Task


class _Tap(torch.autograd.Function):
    """Identity on a block's state whose backward records ∂L/∂(its outputs): the gradient of the
    uses *after* the probe only (uses inside the block read the inputs).  One graph node per call,
    where adding zero taps costs a zeros + add node per state."""

    @staticmethod
    def forward(ctx, sink, index, *state):
        ctx.sink, ctx.index = sink, index
        return state

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *grads):
        ctx.sink[ctx.index] = grads  # unused outputs arrive as zeros (materialized grads)
        return (None, None, *grads)


class StateProbe:
    """A ``probe`` for ``schedule.run``: keeps every block's state and taps its outgoing gradient."""

    def __init__(self) -> None:
        self.blocks: list[tuple[int, int, int]] = []   # (k, lo, hi) of each call
        self.states: list[tuple[Tensor, ...]] = []     # per call: the cell's state, detached
        self.grads: list[Optional[tuple[Tensor, ...]]] = []  # per call, after backward: ∂L/∂state
        # the layerwise schedule's probed layers (Cell.probed_layer): per layer d, its states at every
        # t (each (T, B, H)) and the function that returns their outgoing gradients after backward
        self.layers: dict[int, tuple[dict[str, Tensor], Callable[[], dict[str, Optional[Tensor]]]]] = {}
        self.layer_gates: dict[int, dict[str, Tensor]] = {}  # per layer d: memory -> its gate (T, B, H)
        self.layer_totals: dict[int, Optional[Callable[[dict[str, Tensor]], dict[str, Tensor]]]] = {}

    def __call__(self, state: States, k: int, lo: int, hi: int) -> States:
        self.blocks.append((k, lo, hi))
        self.states.append(tuple(s.detach() for s in state))
        self.grads.append(None)
        if not any(s.requires_grad for s in state):
            return state
        return _Tap.apply(self.grads, len(self.grads) - 1, *state)

    def layer(self, d: int, states: dict[str, Tensor], outgoing: Callable[[], dict[str, Optional[Tensor]]],
              gates: dict[str, Tensor], totals: Optional[Callable[[dict[str, Tensor]], dict[str, Tensor]]] = None
              ) -> None:
        """Called by a probed layer (schedule.run_layerwise): layer d's states and memory gates,
        each (T, B, H), and how its totals follow from its outgoing gradients (if it says)."""
        self.layers[d] = (states, outgoing)
        self.layer_gates[d] = gates
        self.layer_totals[d] = totals

    def gates(self) -> Optional[dict[str, Tensor]]:
        """The probed layers' memory gates, memory -> (T, D, B, H) (what ``memory_gates`` computes
        again from the states); None after a per-block pass."""
        if not self.layer_gates:
            return None
        D = len(self.layer_gates)
        return {n: torch.stack([self.layer_gates[d][n] for d in range(D)], dim=1) for n in self.layer_gates[0]}

    def layer_grids(self, names: tuple[str, ...]) -> tuple[dict[str, Tensor], dict[str, Tensor], Optional[dict[str, Tensor]]]:
        """(states, outgoing, totals) of the probed layers, each name -> (T, D, B, H); zeros where no
        gradient reached a state; totals None unless every layer gave its own."""
        D = len(self.layers)
        states = {n: torch.stack([self.layers[d][0][n] for d in range(D)], dim=1) for n in names}
        per_layer: list[dict[str, Tensor]] = []
        for d in range(D):
            got = self.layers[d][1]()
            per_layer.append({n: torch.zeros_like(self.layers[d][0][n]) if (g := got[n]) is None else g for n in names})
        outgoing = {n: torch.stack([g[n] for g in per_layer], dim=1) for n in names}
        layer_totals = [f for d in range(D) if (f := self.layer_totals[d]) is not None]
        if len(layer_totals) < D:
            return states, outgoing, None
        with torch.no_grad():
            tot = [f(per_layer[d]) for d, f in enumerate(layer_totals)]
        return states, outgoing, {n: torch.stack([t[n] for t in tot], dim=1) for n in names}

    def outgoing(self) -> list[tuple[Tensor, ...]]:
        """Per call, ∂L/∂state after a backward pass; zeros where no gradient reached the call."""
        return [tuple(torch.zeros_like(s) for s in st) if g is None else g
                for st, g in zip(self.states, self.grads, strict=True)]

    def positions(self) -> tuple[Tensor, Tensor]:
        """(t, d) of every row of the calls concatenated in order: two (N,) long tensors, N = T·D."""
        ts, ds = [], []
        for k, lo, hi in self.blocks:
            for d in range(lo, hi):
                ts.append(k - d)
                ds.append(d)
        return torch.tensor(ts), torch.tensor(ds)

    def assemble(self, per_call: list[tuple[Tensor, ...]], T: int, D: int) -> list[Tensor]:
        """Per-call tuples of (L, B, H) → one (T, D, B, H) tensor per state kind."""
        t_idx, d_idx = self.positions()
        flat = t_idx * D + d_idx  # row of (t, d) in the grid seen as (T·D, B, H)
        out = []
        for i in range(len(per_call[0])):
            rows = torch.cat([call[i] for call in per_call])  # (N, B, H), N = T·D
            # every (t, d) is visited once when N = T·D, so no zero fill is needed then
            grid = (rows.new_empty if len(rows) == T * D else rows.new_zeros)(T * D, *rows.shape[1:])
            grid.index_copy_(0, flat.to(rows.device), rows)
            out.append(grid.view(T, D, *rows.shape[1:]))      # (T, D, B, H)
        return out


@dataclass
class ProbeGradients:
    """Per-example gradients ∂ℓ_b/∂(·)_b of one batch, each state name → (T, D, B, H).

    grads: total ∂ℓ_b/∂state;  outgoing: ∂ℓ_b/∂z (uses after the block only);
    states: the forward values (detached);  x_grad: (B, T, I) = ∂ℓ_b/∂x_b;  loss: L = mean_b ℓ_b.
    """

    grads: dict[str, Tensor]
    outgoing: dict[str, Tensor]
    states: dict[str, Tensor]
    x_grad: Tensor
    loss: float
    gates: Optional[dict[str, Tensor]] = None  # memory -> its gate (T, D, B, H), when the pass gave them


def shift_time(s: Tensor) -> Tensor:
    """s[t-1] at t, zeros at t = 0 (the initial time state).  (T, ...) -> (T, ...)."""
    return torch.cat([torch.zeros_like(s[:1]), s[:-1]])


def block_inputs(cell: Cell, px: Tensor, states: dict[str, Tensor], d: int) -> tuple[States, States]:
    """(below, left) of layer d at every t, from the captured states: tuples of (1, T·B, H).

    below = up(state[t, d-1]) (the bottom input P·x for d = 0); left = right(state[t-1, d]).  The T·B
    rows are one batch, so the cell computes layer d at every t in one call (``lo, hi = d, d + 1``).
    """
    names = cell.state_names
    below = cell.bottom(px) if d == 0 else tuple(states[names[i]][:, d - 1] for i in cell.up_idx)
    left = tuple(shift_time(states[names[i]][:, d]) for i in cell.right_idx)
    return tuple(s.reshape(1, -1, s.shape[-1]) for s in below), tuple(s.reshape(1, -1, s.shape[-1]) for s in left)


def block_totals(cell: Cell, below: States, left: States, out: States, lo: int, hi: int) -> States:
    """Total gradients of a block's states from their outgoing ones, all (L, B, H).

    Autograd through the cell's reference formulation (cells.py) of the block: with s_j its states
    and δ_j = out_j, the gradient of Σ_j ⟨s_j, δ_j⟩ w.r.t. s_i is out_i plus every use of s_i inside
    the block (an LSTM's c makes its h; the memory-input grid's time h feeds its depth LSTM), i.e.
    total_i = out_i + Σ_j (∂s_j/∂s_i)ᵀ total_j.  A block with one state has no such use.
    """
    if len(out) == 1:
        return out
    with torch.enable_grad():
        inputs = [s.detach().requires_grad_(True) for s in (*below, *left)]
        states = cell.reference(tuple(inputs[:len(below)]), tuple(inputs[len(below):]), lo, hi).states
        return torch.autograd.grad(states, states, grad_outputs=out)


def total_gradients(model: RecurrentModel, x: Tensor, states: dict[str, Tensor],
                    outgoing: dict[str, Tensor]) -> dict[str, Tensor]:
    """Outgoing gradients plus the uses inside each block, layer by layer.  All (T, D, B, H); x: (B, T, I)."""
    cell, names = model.cell, model.cell.state_names
    if len(names) == 1:  # a lone state has no use inside its own block
        return outgoing
    totals = {n: torch.empty_like(outgoing[n]) for n in names}
    T, _, B, H = outgoing[names[0]].shape
    with torch.no_grad():
        px = model.proj(x).transpose(0, 1)  # (T, B, H)
        for d in range(cell.layers):
            below, left = block_inputs(cell, px, states, d)
            out = tuple(outgoing[n][:, d].reshape(1, T * B, H) for n in names)
            for n, g in zip(names, block_totals(cell, below, left, out, d, d + 1), strict=True):
                totals[n][:, d] = g.view(T, B, H)
    return totals


def memory_gates(model: RecurrentModel, x: Tensor, states: dict[str, Tensor]) -> dict[str, Tensor]:
    """memory state → its gate at every (t, d) (T, D, B, H), by the cell's reference formulation on
    the captured states (cells.py ``memories``: an LSTM's forget gates, a GRU's update gates).
    x: (B, T, I); states[name]: (T, D, B, H)."""
    cell = model.cell
    per_layer: dict[str, list[Tensor]] = {name: [] for name in cell.memories}
    with torch.no_grad():
        px = model.proj(x).transpose(0, 1)  # (T, B, H)
        for d in range(cell.layers):
            for name, g in cell.reference(*block_inputs(cell, px, states, d), d, d + 1).gates.items():
                per_layer[name].append(g.view(px.shape))  # (T, B, H)
    return {name: torch.stack(gs, dim=1) for name, gs in per_layer.items() if gs}


@contextmanager
def frozen_parameters(model: nn.Module) -> Iterator[None]:
    """Parameters stop requiring grad for the duration: the fused steps (nn/fused.py) then skip their
    weight-gradient products, which a gradient profile never uses."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def probe_gradients(model: RecurrentModel, task: Task, x: Tensor, y: Tensor) -> ProbeGradients:
    """One forward and one backward of the task loss through the probe, then the in-block terms.

    The model's parameter ``.grad`` fields are left untouched (``autograd.grad``, not ``backward``),
    and no weight gradient is computed at all (``frozen_parameters``).
    """
    names = model.cell.state_names
    x = x.detach().requires_grad_(True)                       # (B, T, I)
    probe = StateProbe()
    with frozen_parameters(model):
        out = model(x, task.scores, probe=probe)
    loss = task.loss(out, y)
    B, T, D = x.shape[0], x.shape[1], model.cell.layers
    # ∂(B·L)/∂s_b = ∂ℓ_b/∂s_b: scaling the loss by B gives per-example gradients directly.
    x_grad = torch.autograd.grad(loss * B, x)[0]  # the probe's taps record ∂(B·L)/∂state meanwhile

    def by_name(per_call: list[tuple[Tensor, ...]]) -> dict[str, Tensor]:
        return dict(zip(names, probe.assemble(per_call, T, D), strict=True))

    totals = None
    if probe.layers:  # the layerwise schedule probed whole layers
        states, outgoing, totals = probe.layer_grids(names)
    else:
        states, outgoing = by_name(probe.states), by_name(probe.outgoing())
    if totals is None:
        totals = total_gradients(model, x.detach(), states, outgoing)
    return ProbeGradients(totals, outgoing, states, x_grad, loss.item(), probe.gates())


def example_norms(g: Tensor) -> Tensor:
    """mean_b ‖g[..., b, :]‖₂ in float64.  (..., B, H) -> (...)."""
    return torch.linalg.vector_norm(g, dim=-1, dtype=torch.float64).mean(-1)


@dataclass
class Profile:
    """Gradient-norm profile of one batch: norms[state] (T, D) and x (T,), float64 on the CPU;
    states[name] (T, D, B, H): the forward values, for the forget-gate theory (decay.py)."""

    norms: dict[str, Tensor]
    x: Tensor
    loss: float
    states: dict[str, Tensor]
    gates: Optional[dict[str, Tensor]] = None  # memory gates (T, D, B, H) of the same pass, if recorded


def measure(model: RecurrentModel, task: Task, x: Tensor, y: Tensor) -> Profile:
    """g[t, d] = mean_b ‖∂ℓ_b/∂state_b[t, d]‖₂ for every state kind, and mean_b ‖∂ℓ_b/∂x_b[t]‖₂.

    Cost: one forward (plus one zero add per state) and one backward; this is what the bench times
    against a training step.  x: (B, T, I), y: the task's targets.
    """
    pg = probe_gradients(model, task, x, y)
    norms = {name: example_norms(g).cpu() for name, g in pg.grads.items()}  # each (T, D)
    x_norm = example_norms(pg.x_grad.transpose(0, 1)).cpu()                 # (T,)
    return Profile(norms, x_norm, pg.loss, pg.states, pg.gates)


# ----------------------------------------------------------------------------- gradients.csv rows

GRADIENT_FIELDS = GRADIENT_COLUMNS


def profile_rows(profile: Profile, step: int, seed: int) -> list[dict[str, Any]]:
    """gradients.csv rows of one profile: every state, layer and t, then x (layer 0)."""
    rows = []
    for name, norms in profile.norms.items():   # (T, D)
        T, D = norms.shape
        for d in range(D):
            for t in range(T):
                rows.append({"step": step, "seed": seed, "state": name, "layer": d + 1, "t": t + 1,
                             "norm": norms[t, d].item()})
    for t in range(len(profile.x)):
        rows.append({"step": step, "seed": seed, "state": "x", "layer": 0, "t": t + 1,
                     "norm": profile.x[t].item()})
    return rows
