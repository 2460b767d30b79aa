"""``gradcheck --verify``: are the measured gradients right?  Two independent checks, float64.

1. Cells.  ``torch.autograd.gradcheck`` of every cell kind and option set of the registry
   (``registry.cases()``: rnn, lstm, gru, both grid variants with the paper's options, each tied and
   untied) w.r.t. its inputs and weights, called on layers lo..hi-1 = 1..2 of a 3-layer cell so the stacked-weight slicing is
   exercised.  gradcheck compares the full Jacobian; the reported number is the max relative error
   of random directional derivatives, (f(p+εu) − f(p−εu))/2ε · v against ⟨∇(v·f), u⟩.
2. Probe.  Central finite differences of the loss w.r.t. single state entries:
       ∂ℓ_b/∂state[t, d, b, j] ≈ B·(L(state + ε e) − L(state − ε e)) / 2ε
   (the nudge is added where the probe sits, so it reaches everything downstream) against the probe
   gradients of gradients.py, for every state kind and the input x, on tiny models of every cell
   kind and on the model being measured.  Entries are drawn among those with |∂ℓ/∂s| ≥ 1e-3 of the
   largest of their kind, where a float64 difference quotient resolves them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, cast

import torch
from torch import Tensor, nn
from torch.func import functional_call

from gridlstm.config import ModelConfig, TaskConfig
from gridlstm.nn import registry
from gridlstm.nn.cells import Cell, States
from gridlstm.nn.model import RecurrentModel
from gridlstm.tasks import Task, make_task

from .gradcheck import Source, build_model
from .gradients import memory_gates, probe_gradients

CELL_TOL = 1e-6      # directional derivative, float64, ε = EPS
PROBE_TOL = 1e-4     # single-entry central difference of the loss, float64, ε = FD_EPS
EPS = 1e-6
FD_EPS = 1e-5        # the loss is O(1) and its per-entry slopes small: a larger ε, less round-off

@dataclass(frozen=True)
class Check:
    name: str
    max_rel_error: float
    tolerance: float
    passed: bool


def cell_configs(cells: Optional[list[type[Cell]]] = None) -> list[tuple[str, ModelConfig]]:
    """Every cell kind and option set of the registry (or of ``cells``), untied and tied, as small
    model configs (hidden 3, 3 layers)."""
    out = []
    for label, kw in registry.cases(cells).items():
        for tied in (False, True):
            out.append((f"{label}{' tied' if tied else ''}", ModelConfig(hidden=3, layers=3, tied=tied, **kw)))
    return out


def _rel(a: float, b: float) -> float:
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale > 0 else 0.0


def check_cell(label: str, cell: Cell, batch: int = 2, seed: int = 0) -> Check:
    """gradcheck of cell.forward on layers 1..2 w.r.t. (below, left, weights), float64."""
    gen = torch.Generator().manual_seed(seed)
    cell = cell.double()
    H, L, lo, hi = cell.hidden, 2, 1, 3
    names = [n for n, _ in cell.named_parameters()]

    def rand(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    n_below, n_left = len(cell.up_idx), len(cell.right_idx)
    inputs = [rand(L, batch, H) for _ in range(n_below + n_left)]
    inputs += [p.detach().clone() + 0.1 * rand(*p.shape) for _, p in cell.named_parameters()]
    inputs = [t.requires_grad_(True) for t in inputs]

    def f(*args: Tensor) -> tuple[Tensor, ...]:
        below, left = args[:n_below], args[n_below:n_below + n_left]
        params = dict(zip(names, args[n_below + n_left:], strict=True))
        return functional_call(cell, params, (tuple(below), tuple(left), lo, hi))

    ok = torch.autograd.gradcheck(f, tuple(inputs), eps=EPS, atol=1e-7, rtol=1e-5, raise_exception=False)
    worst = 0.0
    for _ in range(4):  # random directional derivatives for a number to print
        u = [rand(*t.shape) for t in inputs]
        v = [rand(*o.shape) for o in f(*inputs)]

        def scalar(*args: Tensor, v: list[Tensor] = v) -> Tensor:
            return cast(Tensor, sum((o * w).sum() for o, w in zip(f(*args), v, strict=True)))

        grads = torch.autograd.grad(scalar(*inputs), inputs, allow_unused=True, materialize_grads=True)
        analytic = cast(Tensor, sum((g * d).sum() for g, d in zip(grads, u, strict=True))).item()
        with torch.no_grad():
            plus = scalar(*[t + EPS * d for t, d in zip(inputs, u, strict=True)]).item()
            minus = scalar(*[t - EPS * d for t, d in zip(inputs, u, strict=True)]).item()
        worst = max(worst, _rel((plus - minus) / (2 * EPS), analytic))
    return Check(f"gradcheck cell {label}", worst, CELL_TOL, bool(ok) and worst <= CELL_TOL)


class Nudge:
    """A probe that adds ``eps`` to one entry state[i][t, d, b, j] (0-based) and nothing else."""

    def __init__(self, i: int, t: int, d: int, b: int, j: int, eps: float):
        self.i, self.t, self.d, self.b, self.j, self.eps = i, t, d, b, j, eps

    def __call__(self, state: States, k: int, lo: int, hi: int) -> States:
        if not (lo <= self.d < hi and k - self.d == self.t):
            return state
        s = state[self.i].clone()
        s[self.d - lo, self.b, self.j] += self.eps
        return tuple(s if n == self.i else x for n, x in enumerate(state))


def _pick(g: Tensor, n: int, gen: torch.Generator) -> list[tuple[int, ...]]:
    """Up to n random indices of ``g`` among entries with |g| ≥ 1e-3·max|g|."""
    big = (g.abs() >= 1e-3 * g.abs().max()).nonzero() if g.abs().max() > 0 else g.new_zeros(0, g.dim())
    if len(big) == 0:
        return []
    rows = torch.randperm(len(big), generator=gen)[:n]
    return [tuple(int(v) for v in big[r]) for r in rows]


@torch.no_grad()
def _loss(model: nn.Module, task: Task, x: Tensor, y: Tensor, probe: Optional[Nudge] = None) -> float:
    return task.loss(model(x, task.scores, probe=probe), y).item()


def check_probe(label: str, model: RecurrentModel, task: Task, batch: int = 3, entries: int = 4,
                seed: int = 0) -> Check:
    """Central differences of the loss w.r.t. state entries (and x) against the probe gradients.

    A nudge at the probe measures the outgoing gradient; it equals the total where the state has
    no use inside its block, and for a memory whose predecessor enters the block only through its
    gate a (cells.py ``Memory.only_gated``: c = f⊙c_prev + i⊙g, gates free of c_prev), since then
    ∂ℓ/∂c_prev (a nudge at the probe) = a ⊙ ∂ℓ/∂c (total); otherwise the outgoing gradient is checked
    (the in-block part is the cell's own Jacobian, checked by gradcheck).
    """
    model = model.double()
    gen = torch.Generator().manual_seed(seed)
    x, y = task.sample(batch, gen)
    x = x.double()
    y = y.double() if y.is_floating_point() else y
    pg = probe_gradients(model, task, x, y)
    gates = memory_gates(model, x, pg.states)  # each (T, D, B, H)
    memories = model.cell.memories
    kinds: dict[str, list[str]] = {"total": [], "outgoing": []}
    B, worst = x.shape[0], 0.0

    def fd(i: int, t: int, d: int, b: int, j: int) -> float:
        plus = _loss(model, task, x, y, Nudge(i, t, d, b, j, FD_EPS))
        minus = _loss(model, task, x, y, Nudge(i, t, d, b, j, -FD_EPS))
        return B * (plus - minus) / (2 * FD_EPS)

    for i, name in enumerate(model.cell.state_names):
        total, outgoing = pg.grads[name], pg.outgoing[name]
        if torch.allclose(total, outgoing, rtol=1e-12, atol=0):
            kinds["total"].append(name)
            for t, d, b, j in _pick(total, entries, gen):
                worst = max(worst, _rel(fd(i, t, d, b, j), total[t, d, b, j].item()))
        elif name in memories and memories[name].only_gated:
            kinds["total"].append(name)
            f = gates[name]
            dt, dd = (1, 0) if memories[name].along == "time" else (0, 1)
            for t, d, b, j in _pick(total[dt:, dd:], entries, gen):
                t, d = t + dt, d + dd
                fd_total = fd(i, t - dt, d - dd, b, j) / f[t, d, b, j].item()
                worst = max(worst, _rel(fd_total, total[t, d, b, j].item()))
        else:
            kinds["outgoing"].append(name)
            for t, d, b, j in _pick(outgoing, entries, gen):
                worst = max(worst, _rel(fd(i, t, d, b, j), outgoing[t, d, b, j].item()))
    for b, t, j in _pick(pg.x_grad, entries, gen):
        e = torch.zeros_like(x)
        e[b, t, j] = FD_EPS
        fd_x = B * (_loss(model, task, x + e, y) - _loss(model, task, x - e, y)) / (2 * FD_EPS)
        worst = max(worst, _rel(fd_x, pg.x_grad[b, t, j].item()))
    which = "; ".join(f"{k}: {' '.join(v)}" for k, v in kinds.items() if v)
    return Check(f"finite differences {label} ({which}; x)", worst, PROBE_TOL, worst <= PROBE_TOL)


def verify_all(source: Optional[Source] = None, seed: int = 0) -> list[Check]:
    """Every cell kind (gradcheck), probe vs finite differences on tiny models of every kind
    (adding, and copy for a task scored at every step), then on ``source``'s own model."""
    checks = []
    torch.manual_seed(seed)
    adding, copy = make_task(TaskConfig(name="adding", length=8)), make_task(TaskConfig(name="copy", length=4))
    configs = cell_configs()
    if source is not None:  # a cell named by model.kind package.module:Class is checked as well
        cls = registry.cell_class(source.cfg.model.kind, source.cfg.model.variant)
        configs += cell_configs([cls]) if cls not in registry.registered() else []
    for label, mcfg in configs:
        checks.append(check_cell(label, registry.build_cell(mcfg), seed=seed))
        task = copy if "tied" in label else adding
        small = RecurrentModel(mcfg.model_copy(update={"hidden": 4, "layers": 2}), task.input_size,
                               task.output_size)
        checks.append(check_probe(f"{label} on {task.name} T={task.length}", small, task, seed=seed))
    if source is not None:
        task, model = build_model(source, source.cfg.seed, torch.device("cpu"))
        checks.append(check_probe(f"{source.cfg.run_name} (measured model, T={task.length})", model, task,
                                  batch=2, entries=3, seed=seed))
    return checks
