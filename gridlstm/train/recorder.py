"""Gradient profiles during training: the same rows as gradcheck's gradients.csv (probe/gradients.py
measures them), appended to RUN/gradients/profiles.csv at the steps the config names."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from gridlstm.config import Config
from gridlstm.formatting import csv_text
from gridlstm.nn.model import RecurrentModel
from gridlstm.probe.gradients import GRADIENT_FIELDS, measure, profile_rows
from gridlstm.runs.layout import GRADIENTS_DIR, PROFILES
from gridlstm.runs.records import FINISHED
from gridlstm.tasks import Task


class GradientRecorder:
    """Trainer hook: appends profiles to RUN_DIR/gradients/profiles.csv at ``gradients.at_steps``
    and, with ``gradients.at_end``, at the last step: ``train.steps``, or where the run stopped
    early (``finish``, called after the run; an interrupted run is not held up for it)."""

    def __init__(self, cfg: Config, run_dir: Path):
        self.cfg, self.path = cfg, run_dir / GRADIENTS_DIR / PROFILES
        self.recorded: set[int] = set()

    def __call__(self, trainer: Any) -> None:
        g = self.cfg.gradients
        if trainer.step in g.at_steps or (g.at_end and trainer.step == self.cfg.train.steps):
            self.record(trainer.model, trainer.task, trainer.step, trainer.device)

    def finish(self, trainer: Any, status: str) -> None:
        if self.cfg.gradients.at_end and status in FINISHED:
            self.record(trainer.model, trainer.task, trainer.step, trainer.device)

    def record(self, model: RecurrentModel, task: Task, step: int, device: torch.device) -> None:
        if step in self.recorded:
            return
        g = self.cfg.gradients
        rows = []
        for i in range(g.seeds):
            seed = self.cfg.seed + i
            x, y = task.sample(g.batch_size or self.cfg.train.batch_size, torch.Generator().manual_seed(seed))
            rows += profile_rows(measure(model, task, x.to(device), y.to(device)), step, seed)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        with open(self.path, "a", newline="") as f:
            f.write(csv_text(rows, GRADIENT_FIELDS, header=new))
            f.flush()
        self.recorded.add(step)
