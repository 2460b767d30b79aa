"""What a run is made of, for training and for measuring alike: the device, the seeded task and
model, and the optimiser (below train/ and probe/, which both build from here)."""
from __future__ import annotations

import torch

from gridlstm.config import Config
from gridlstm.errors import ParamError
from gridlstm.nn.model import RecurrentModel
from gridlstm.tasks import Task, make_task


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ParamError("device", "cuda", f"CUDA is not available (torch {torch.__version__}); "
                         "use {name} cpu or {name} auto")
    if device not in ("cpu", "cuda"):
        raise ParamError("device", device, "expected one of auto, cpu, cuda")
    return torch.device(device)


def make_optimizer(cfg: Config, params) -> torch.optim.Optimizer:
    t = cfg.train
    if t.optimizer == "adam":
        return torch.optim.Adam(params, lr=t.lr)
    if t.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=t.lr, alpha=t.rmsprop_alpha)
    return torch.optim.SGD(params, lr=t.lr, momentum=0.9)


def build(cfg: Config, device: torch.device) -> tuple[Task, RecurrentModel]:
    """Seed, then build the task and (with sizes filled in from the task) the model."""
    torch.manual_seed(cfg.seed)
    task = make_task(cfg.task)
    model = RecurrentModel(cfg.model, task.input_size, task.output_size).to(device)
    return task, model
