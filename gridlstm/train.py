"""Training: one task, one model, one run folder.

    for step in 1..steps:
        x, y  = task.sample(B, data_gen)                 # seeded stream, position checkpointed
        loss  = task.loss(model(x), y); loss.backward()
        clip the global gradient norm (Pascanu et al. 2013); optimizer.step()
        every log_every:  a "train" row in metrics.csv
        every eval_every: a held-out "eval" row, a checkpoint, and an early stop at the target

The run folder is written as the run goes (runs.py); the reporter (display.py) only shows it.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Protocol

import torch
from torch import nn

from .config import Config, dump_config
from .errors import GridlstmError
from .model import RecurrentModel, count_parameters
from .runs import (MetricsLog, atomic_write_text, make_run_dir, new_meta, rng_state, save_checkpoint,
                   utc_now, write_json)
from .tasks import Task, eval_set, make_task

CHECKPOINT_FORMAT = 1


class Reporter(Protocol):
    def start(self, cfg: Config, task: Task, run_dir: Path, params: int) -> None: ...
    def step(self, step: int, loss: float, metric: float) -> None: ...
    def evaluated(self, step: int, loss: float, metric: float) -> None: ...
    def finish(self, summary: dict[str, Any]) -> None: ...


class SilentReporter:
    def start(self, *a: Any) -> None: ...
    def step(self, *a: Any) -> None: ...
    def evaluated(self, *a: Any) -> None: ...
    def finish(self, *a: Any) -> None: ...


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise GridlstmError(f"--device cuda: CUDA is not available (torch {torch.__version__}); "
                            "use --device cpu or --device auto")
    if device not in ("cpu", "cuda"):
        raise GridlstmError(f"--device {device}: expected one of auto, cpu, cuda")
    return torch.device(device)


def make_optimizer(cfg: Config, params) -> torch.optim.Optimizer:
    t = cfg.train
    if t.optimizer == "adam":
        return torch.optim.Adam(params, lr=t.lr)
    if t.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=t.lr)
    return torch.optim.SGD(params, lr=t.lr, momentum=0.9)


def build(cfg: Config, device: torch.device) -> tuple[Task, RecurrentModel]:
    """Seed, then build the task and (with sizes filled in from the task) the model."""
    torch.manual_seed(cfg.seed)
    task = make_task(cfg.task)
    model = RecurrentModel(cfg.model, task.input_size, task.output_size).to(device)
    return task, model


@torch.no_grad()
def evaluate(model: nn.Module, task: Task, batches: list, device: torch.device) -> tuple[float, float]:
    """Mean loss and metric over the fixed held-out batches."""
    model.eval()
    losses, metrics = [], []
    for x, y in batches:
        out = model(x.to(device), task.scores)
        y = y.to(device)
        losses.append(task.loss(out, y).item())
        metrics.append(task.metric(out, y))
    model.train()
    return sum(losses) / len(losses), sum(metrics) / len(metrics)


@dataclass
class Trainer:
    """Owns the model, optimizer, data stream and run folder of one training run."""

    cfg: Config
    run_dir: Path
    device: torch.device
    reporter: Reporter = field(default_factory=SilentReporter)
    argv: list[str] = field(default_factory=lambda: list(sys.argv))
    # Called with the trainer before the first step (step 0) and after every optimizer step;
    # e.g. gradient profiles recorded at chosen steps.
    hooks: list[Callable[["Trainer"], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.task, self.model = build(self.cfg, self.device)
        self.optimizer = make_optimizer(self.cfg, self.model.parameters())
        self.data_gen = torch.Generator().manual_seed(self.cfg.seed)
        self.eval_batches = eval_set(self.task, self.cfg.train.eval_batches, self.cfg.train.batch_size,
                                     self.cfg.task.eval_seed)
        self.target = self.cfg.train.target if self.cfg.train.target is not None else self.task.default_target
        self.step = 0
        self.elapsed = 0.0
        self.last_eval: Optional[tuple[float, float]] = None

    # -- files ---------------------------------------------------------------------------------
    def _checkpoint(self) -> None:
        save_checkpoint(self.run_dir / "checkpoint.pt", {
            "format": CHECKPOINT_FORMAT,
            "config": self.cfg.to_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "elapsed": self.elapsed,
            "rng": rng_state(self.data_gen),
        })

    def _set_status(self, status: str, **extra: Any) -> None:
        self.meta.update(status=status, **extra)
        if status != "running":
            self.meta["ended"] = utc_now()
        write_json(self.run_dir / "meta.json", self.meta)

    def _summary(self, status: str) -> dict[str, Any]:
        loss, metric = self.last_eval if self.last_eval else (math.nan, math.nan)
        return {
            "name": self.cfg.run_name,
            "run_dir": str(self.run_dir),
            "status": status,
            "task": self.cfg.task.name,
            "length": self.cfg.task.length,
            "model": self.cfg.model.kind,
            "variant": self.cfg.model.variant if self.cfg.model.kind == "grid" else None,
            "tied": self.cfg.model.tied,
            "layers": self.cfg.model.layers,
            "hidden": self.cfg.model.hidden,
            "params": count_parameters(self.model),
            "steps": self.step,
            "eval_loss": loss,
            "chance": self.task.chance,
            "metric_name": self.task.metric_name,
            "eval_metric": metric,
            "target": self.target,
            "solved": bool(self.last_eval) and self.task.solved(metric, self.target),
            "wall_seconds": round(self.elapsed, 3),
            "device": str(self.device),
        }

    # -- loop ----------------------------------------------------------------------------------
    def _eval_and_log(self, log: MetricsLog) -> bool:
        loss, metric = evaluate(self.model, self.task, self.eval_batches, self.device)
        self.last_eval = (loss, metric)
        log.write({"step": self.step, "split": "eval", "loss": loss, "metric": metric,
                   "lr": self.optimizer.param_groups[0]["lr"], "seconds": round(self.elapsed, 3)})
        self.reporter.evaluated(self.step, loss, metric)
        return self.task.solved(metric, self.target)

    def train_step(self) -> tuple[float, float, float]:
        x, y = self.task.sample(self.cfg.train.batch_size, self.data_gen)
        x, y = x.to(self.device), y.to(self.device)
        out = self.model(x, self.task.scores)
        loss = self.task.loss(out, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip = self.cfg.train.clip_norm or math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip).item()
        if not (math.isfinite(loss.item()) and math.isfinite(grad_norm)):
            what = "loss" if not math.isfinite(loss.item()) else "gradient norm"
            raise FloatingPointError(f"{what} is {loss.item() if what == 'loss' else grad_norm} at step "
                                     f"{self.step + 1}")
        self.optimizer.step()
        return loss.item(), self.task.metric(out.detach(), y), grad_norm

    def _run_hooks(self) -> None:
        for hook in self.hooks:
            hook(self)

    def run(self) -> dict[str, Any]:
        cfg, t = self.cfg, self.cfg.train
        atomic_write_text(self.run_dir / "config.yaml", dump_config(cfg))
        self.meta = new_meta(self.argv, str(self.device), cfg.seed)
        self._set_status("running")
        self.reporter.start(cfg, self.task, self.run_dir, count_parameters(self.model))
        log = MetricsLog(self.run_dir / "metrics.csv")
        status = "completed"
        try:
            solved = self._eval_and_log(log)  # step 0: the untrained model on the held-out set
            self._run_hooks()
            while self.step < t.steps and not (solved and t.early_stop):
                t0 = time.perf_counter()
                try:
                    loss, metric, grad_norm = self.train_step()
                except FloatingPointError as e:
                    status = "diverged"
                    self.meta["error"] = str(e)
                    break
                self.step += 1
                self.elapsed += time.perf_counter() - t0
                self.reporter.step(self.step, loss, metric)
                self._run_hooks()
                if self.step % t.log_every == 0 or self.step == t.steps:
                    log.write({"step": self.step, "split": "train", "loss": loss, "metric": metric,
                               "grad_norm": grad_norm, "lr": self.optimizer.param_groups[0]["lr"],
                               "seconds": round(self.elapsed, 3)})
                if self.step % t.eval_every == 0 or self.step == t.steps:
                    solved = self._eval_and_log(log)
                    self._checkpoint()
        except KeyboardInterrupt:
            status = "interrupted"
            self._checkpoint()
            raise
        except BaseException:
            status = "failed"
            raise
        finally:
            log.close()
            summary = self._summary(status)
            write_json(self.run_dir / "summary.json", summary)
            self._set_status(status)
            self.reporter.finish(summary)
        if status == "completed" and not (self.run_dir / "checkpoint.pt").exists():
            self._checkpoint()
        return summary


def train(cfg: Config, out_root: Path, device: str = "auto", reporter: Optional[Reporter] = None,
          argv: Optional[list[str]] = None) -> dict[str, Any]:
    """Create a run folder under ``out_root`` and train ``cfg`` in it; returns the summary."""
    dev = resolve_device(device)
    run_dir = make_run_dir(out_root, cfg.run_name)
    trainer = Trainer(cfg, run_dir, dev, reporter or SilentReporter(), argv or list(sys.argv))
    return trainer.run()
