"""The model: input projection P → cell run by a schedule → linear readout.

    h'[t, 0] = P·x_t                      (B, T, I) -> (T, B, H), all t in one matmul
             (model.input_projection false: x_t itself, (T, B, I), read by a 1-layer RNN/LSTM)
    top[t]   = up-output of layer D at t   (the schedule's loop over (t, d))
    y        = readout(top[t])             at the positions the task scores

RNN, LSTM, GRU and Grid LSTM differ only in the cell handed to the schedule (registry.py).
``model.schedule`` picks the order (schedule.py); ``auto`` runs the kind's fastest measured order,
unprobed and under a gradient probe (schedule_table.py), and ``schedules()`` / ``last_schedule`` say which order runs /
ran (recorded in meta.json).
"""
from __future__ import annotations

from typing import Optional, Protocol

from torch import Tensor, nn

from .cells import glorot_blocks_
from .registry import build_cell
from .schedule import Probe, probes_layers, resolve, run


class ModelSpec(Protocol):
    """What the model reads of its config: ``config.ModelConfig`` is one (the config layer sits above
    nn, so nn names only what it needs); each cell's own options are read by name (registry.py)."""

    @property
    def kind(self) -> str: ...
    @property
    def hidden(self) -> int: ...
    @property
    def layers(self) -> int: ...
    @property
    def init(self) -> str: ...
    @property
    def schedule(self) -> str: ...


class RecurrentModel(nn.Module):
    def __init__(self, cfg: ModelSpec, input_size: int, output_size: int):
        super().__init__()
        self.cfg = cfg
        projected = getattr(cfg, "input_projection", True)
        self.proj = nn.Linear(input_size, cfg.hidden) if projected else nn.Identity()  # P (or x itself)
        self.cell = build_cell(cfg, None if projected else input_size)
        self.readout = nn.Linear(cfg.hidden, output_size)
        if cfg.init == "glorot":  # every matrix: the cell's gate blocks, P and the readout
            for tr in self.cell.transforms().values():
                glorot_blocks_(tr)
            for m in (self.proj, self.readout):
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
        self.last_schedule: Optional[str] = None  # the order the last forward ran

    def schedules(self) -> dict[str, str]:
        """The order an unprobed pass (training, evaluation) and a probed pass (gradients) run."""
        return {"train": self._order(False), "probe": self._order(True)}  # probe: a gradient profile's

    def _order(self, probed: bool, probe: Optional[Probe] = None) -> str:
        return resolve(self.cfg.schedule, probed, self.cfg.kind, probes_layers(self.cell, probe))

    def features(self, x: Tensor, probe: Optional[Probe] = None) -> Tensor:
        """Top-layer output at every step.  x: (B, T, I) -> (B, T, H)."""
        px = self.proj(x).transpose(0, 1)  # (T, B, H)
        left0 = self.cell.initial_left(x.shape[0], px)
        self.last_schedule = self._order(probe is not None, probe)
        top = run(self.last_schedule, self.cell, self.cell.bottom(px), left0, probe)  # (T, B, H)
        return top.transpose(0, 1)  # (B, T, H)

    def forward(self, x: Tensor, scores: str = "last", probe: Optional[Probe] = None) -> Tensor:
        """x: (B, T, I) -> (B, O) when the task scores the last step, (B, T, O) for every step."""
        top = self.features(x, probe)  # (B, T, H)
        return self.readout(top[:, -1] if scores == "last" else top)


def count_parameters(model: nn.Module) -> int:
    """Free parameters: a transform's structural zeros (the GRU's, gru.py) do not count."""
    fixed = sum(getattr(m, "fixed_zeros", 0) for m in model.modules())
    return sum(p.numel() for p in model.parameters()) - fixed
