"""Resource limits, checked from the config before anything is allocated.

The memory a run needs is estimated from its config, its cell's declared ``cost`` and its task's
shape (no model is built, no data drawn): the weights with their gradients and optimizer state,
the activations one backward pass through time keeps, and the held-out set. A config whose estimate exceeds the budget is refused as a config problem; the
budget is ``GRIDLSTM_MEMORY_GB`` (environment, default 16 GB), so a user with a big machine raises
it: ``GRIDLSTM_MEMORY_GB=200 gridlstm train ...``.

The estimate errs on the high side (at most about 4x what autograd keeps, measured with
``torch.autograd.graph.saved_tensors_hooks``). ``tests/test_reliability.py`` checks the task shapes
against sampled batches and the parameter count against the built models.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional

from .errors import ConfigError, ParamError
from .nn.cells import Cost
from .nn.registry import cell_class
from .tasks import make_task

ENV = "GRIDLSTM_MEMORY_GB"
DEFAULT_GB = 16.0
MAX_SWEEP_RUNS = 10_000          # a sweep that expands to more runs is refused before it is expanded
INT64 = 2**63 - 1                # every integer of a config fits torch's int64 (seeds: its range)
BYTES = 4                        # float32

# per layer: weights in units of H², biases in units of H, and activations kept per example, step
# and layer in units of H, the larger of the layerwise schedule (training: oneDNN's LSTM keeps a
# workspace, lstm 14) and the wavefront (gradient profiles): each cell's ``cost`` (nn/cells.py)
WORST = Cost(16, 8, 21)          # a cell that declares no cost: assume the largest built-in one
# weights + gradient + up to two optimizer moments (Adam), and autograd's working memory
WEIGHT_COPIES, ACTIVATION_SLACK = 4, 1.3


def task_shape(task: Any) -> tuple[int, int, int]:
    """(steps per sequence, input size, output size) of a TaskConfig, as its task declares them."""
    t = make_task(task)
    return t.steps, t.input_size, t.output_size


@dataclass(frozen=True)
class Estimate:
    params: int
    weights: float       # bytes: weights, gradients, optimizer state
    activations: float   # bytes: what one backward pass keeps (training or a gradient profile)
    data: float          # bytes: the held-out set

    @property
    def total(self) -> float:
        return self.weights + self.activations + self.data


def estimate(cfg: Any, batch: Optional[int] = None) -> Estimate:
    """Memory of training ``cfg`` (a Config), or of a gradient profile of ``batch`` examples."""
    m, t = cfg.model, cfg.train
    steps, n_in, n_out = task_shape(cfg.task)
    per_weight, per_bias, per_act = cell_class(m.kind, m.variant).cost or WORST
    H, D = m.hidden, m.layers
    # per layer a·H² weights and b·H biases (a set shared by all layers when tied), input
    # projection and readout: exact for the kinds above (tests/test_reliability.py)
    params = (1 if m.tied else D) * (per_weight * H * H + per_bias * H) + (n_in + 1) * H + (H + 1) * n_out
    params = int(params)
    profile = cfg.gradients.batch_size or t.batch_size
    B = max(t.batch_size, profile, batch or 0)
    per_example = steps * (per_act * (D + 1) * H + 2 * (n_in + n_out))
    data = t.eval_batches * t.batch_size * steps * (n_in + 2) * BYTES
    return Estimate(params, float(WEIGHT_COPIES * BYTES * params),
                    ACTIVATION_SLACK * BYTES * B * per_example, float(data))


def budget_gb() -> float:
    """The memory budget in GB: ``GRIDLSTM_MEMORY_GB`` or 16; ValueError for a bad value."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return DEFAULT_GB
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (0 < value < float("inf")):
        raise ValueError(f"{ENV}={raw[:20]!r}: expected a number of gigabytes > 0 (default {DEFAULT_GB:g})")
    return value


def _gb(n: float) -> str:
    gb = n / 1e9
    return f"{gb:.3g} GB" if gb < 1000 else f"{gb:,.0f} GB" if gb < 1e7 else f"{gb:.2e} GB"


def require(cfg: Any, batch: Optional[int] = None, param: str = "") -> None:
    """Before work starts (a run, a gradcheck, a sweep's expansion; never when an existing run is
    read): a ConfigError when ``cfg`` does not fit the budget or the budget is malformed; a
    ParamError naming ``param`` when it is the caller's own ``batch`` that does not fit."""
    try:
        too_big = check(cfg, batch)
    except ValueError as e:
        raise ConfigError([str(e)]) from None
    if too_big and param:
        raise ParamError(param, batch, too_big)
    if too_big:
        raise ConfigError([too_big])


def check(cfg: Any, batch: Optional[int] = None) -> Optional[str]:
    """None when ``cfg`` fits the budget, else one line: the estimate, its parts and the fix."""
    budget = budget_gb()
    est = estimate(cfg, batch)
    if est.total <= budget * 1e9:
        return None
    parts = [f"{est.params:.3g} parameters with their gradients and optimizer state: {_gb(est.weights)}",
             f"activations: {_gb(est.activations)}"]
    if est.data > 1e8:
        parts.append(f"held-out set: {_gb(est.data)}")
    return (f"needs about {_gb(est.total)} of memory ({', '.join(parts)}), over the {budget:g} GB budget: "
            "lower model.hidden, model.layers, task.length or the batch sizes, or raise the budget "
            f"with {ENV}=<GB>")


def describe(cfg: Any) -> str:
    """One line: the memory training ``cfg`` needs by the estimate above, its parts, and the budget."""
    est = estimate(cfg)
    return (f"memory estimate: about {_gb(est.total)} ({est.params:,} parameters with their gradients and "
            f"optimizer state {_gb(est.weights)}, activations {_gb(est.activations)}, held-out set "
            f"{_gb(est.data)}) of the {budget_gb():g} GB budget ({ENV})")
