"""Training: one task, one model, one run folder.

    for step in 1..steps:
        x, y  = task.sample(B, data_gen)                 # seeded stream, position checkpointed
        loss  = task.loss(model(x), y); loss.backward()
        clip the global gradient norm (Pascanu et al. 2013); optimizer.step()
        every log_every:  a "train" row in metrics.csv
        every eval_every: a held-out "eval" row, a checkpoint, and an early stop at the target

The run folder is written as the run goes (runs.py); the reporter (display.py) only shows it.

Reliability: a checkpoint (model, optimizer, step, RNG states, data-stream position) is written at
step 0, every ``checkpoint_every`` steps (default: at every eval), on an interrupt and at the end, so
``resume`` (resume.py) continues bit-for-bit. A NaN/Inf loss or gradient stops the run as
``diverged`` before the update (``train.on_nan: stop``) or skips that batch (``skip``); the last good
checkpoint is never overwritten by bad weights.
"""
from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Protocol

import torch
from torch import nn

from .config import Config, dump_config
from .errors import GridlstmError, RunInterrupted
from .gradients import GradientRecorder
from .model import RecurrentModel, count_parameters
from .runs import (
    MetricsLog,
    RunLock,
    atomic_write_text,
    make_run_dir,
    new_meta,
    remove_temp_files,
    rng_state,
    save_checkpoint,
    set_rng_state,
    truncate_metrics,
    utc_now,
    write_json,
)
from .signals import StopSignals
from .tasks import Task, eval_set, make_task

CHECKPOINT_FORMAT = 1


class NonFiniteStep(FloatingPointError):
    """A training step whose loss or gradient norm is NaN/Inf; raised before the optimizer step."""

    def __init__(self, message: str, loss: float, grad_norm: float):
        super().__init__(message)
        self.loss, self.grad_norm = loss, grad_norm


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
    hooks: list[Callable[[Trainer], None]] = field(default_factory=list)

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
        self.skipped = 0          # on_nan skip: batches whose update was skipped, in all
        self.skips_in_row = 0     # ... and in a row (skip_limit of them = diverged)
        self.checkpoint_step: Optional[int] = None  # step of the checkpoint on disk
        self.resumed_from: Optional[int] = None     # set by restore()
        self.meta: Optional[dict[str, Any]] = None  # resume.py hands over the run's meta.json

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
            "last_eval": list(self.last_eval) if self.last_eval else None,
            "skipped": self.skipped,
            "skips_in_row": self.skips_in_row,
        })
        self.checkpoint_step = self.step

    def restore(self, payload: dict[str, Any]) -> None:
        """Continue from a checkpoint (runs.load_checkpoint): weights, optimizer state, step, RNG
        states and data-stream position, so the next steps equal those of an uninterrupted run."""
        try:
            self.model.load_state_dict(payload["model"])
        except (RuntimeError, KeyError, TypeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise GridlstmError(f"the checkpoint holds a different model than the config describes "
                                f"({first})") from None
        try:
            self.optimizer.load_state_dict(payload["optimizer"])
            set_rng_state(payload["rng"], self.data_gen)
            self.step, self.elapsed = int(payload["step"]), float(payload["elapsed"])
        except (ValueError, KeyError, TypeError, RuntimeError) as e:
            raise GridlstmError(f"the checkpoint's optimizer/RNG state does not fit this run "
                                f"({type(e).__name__}: {str(e).strip()[:120]})") from None
        for group in self.optimizer.param_groups:  # a forced train.lr change takes effect
            group["lr"] = self.cfg.train.lr
        last = payload.get("last_eval")
        self.last_eval = (float(last[0]), float(last[1])) if last else None
        self.skipped = int(payload.get("skipped", 0))
        self.skips_in_row = int(payload.get("skips_in_row", 0))
        self.checkpoint_step = self.resumed_from = self.step

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
            "skipped_steps": self.skipped,
            "checkpoint_step": self.checkpoint_step,
            "signal": (self.meta or {}).get("signal") if status == "interrupted" else None,
            "error": (self.meta or {}).get("error") if status == "diverged" else None,
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
        value = loss.item()
        if not (math.isfinite(value) and math.isfinite(grad_norm)):
            raise NonFiniteStep(self._non_finite(value, grad_norm), value, grad_norm)
        self.optimizer.step()
        return value, self.task.metric(out.detach(), y), grad_norm

    def _non_finite(self, loss: float, grad_norm: float) -> str:
        """Name the offending quantity: the loss, or the first parameter with a non-finite gradient."""
        if not math.isfinite(loss):
            return f"loss is {loss} at step {self.step + 1}"
        bad = next((n for n, p in self.model.named_parameters()
                    if p.grad is not None and not torch.isfinite(p.grad).all()), "?")
        return f"gradient norm is {grad_norm} at step {self.step + 1} (first non-finite gradient: {bad})"

    def _run_hooks(self) -> None:
        for hook in self.hooks:
            hook(self)

    def _due(self, every: Optional[int]) -> bool:
        return (every is not None and self.step % every == 0) or self.step == self.cfg.train.steps

    def run(self, stop: Optional[StopSignals] = None) -> dict[str, Any]:
        """Train to the end (or early stop, divergence, or a stop signal); returns the summary.

        After ``restore()`` it continues in the same folder: metrics rows past the checkpoint are
        dropped first, and step 0 (eval, hooks) is not repeated.
        """
        cfg, t = self.cfg, self.cfg.train
        metrics = self.run_dir / "metrics.csv"
        remove_temp_files(self.run_dir)
        if self.resumed_from is not None:
            truncate_metrics(metrics, self.step)
        atomic_write_text(self.run_dir / "config.yaml", dump_config(cfg))
        if self.meta is None:
            self.meta = new_meta(self.argv, str(self.device), cfg.seed)
        self.meta.pop("error", None)
        # the orders that run (model.schedule auto: layerwise for steps and evaluation, wavefront
        # for gradient profiles); set again on resume, where a forced config change may change it
        self.meta["schedule"] = self.model.schedules()
        self._set_status("running")
        self.reporter.start(cfg, self.task, self.run_dir, count_parameters(self.model))
        log = MetricsLog(metrics)
        status = "completed"
        try:
            if self.resumed_from is None:
                solved = self._eval_and_log(log)  # step 0: the untrained model on the held-out set
                self._run_hooks()
                self._checkpoint()
            else:
                solved = bool(self.last_eval) and self.task.solved(self.last_eval[1], self.target)
            while self.step < t.steps and not (solved and t.early_stop):
                if stop is not None and stop.requested:
                    status = "interrupted"
                    break
                t0 = time.perf_counter()
                try:
                    loss, metric, grad_norm = self.train_step()
                    self.skips_in_row = 0
                except NonFiniteStep as e:
                    if t.on_nan == "stop" or self.skips_in_row + 1 >= t.skip_limit:
                        status = "diverged"
                        in_row = f" ({self.skips_in_row + 1} non-finite steps in a row)"
                        self.meta.update(error=f"{e}{in_row if t.on_nan == 'skip' else ''}",
                                         diverged_step=self.step + 1)
                        break
                    self.skipped += 1
                    self.skips_in_row += 1
                    loss, metric, grad_norm = e.loss, math.nan, e.grad_norm
                self.step += 1
                self.elapsed += time.perf_counter() - t0
                self.reporter.step(self.step, loss, metric)
                self._run_hooks()
                if self._due(t.log_every):
                    log.write({"step": self.step, "split": "train", "loss": loss, "metric": metric,
                               "grad_norm": grad_norm, "lr": self.optimizer.param_groups[0]["lr"],
                               "seconds": round(self.elapsed, 3)})
                if self._due(t.eval_every):
                    solved = self._eval_and_log(log)
                if self._due(t.checkpoint_every or t.eval_every):
                    self._checkpoint()
            if status in ("completed", "interrupted") and self.checkpoint_step != self.step:
                self._checkpoint()
            if status == "interrupted" and stop is not None:
                self.meta["signal"] = stop.name
        except KeyboardInterrupt:  # a second Ctrl-C (or one with no StopSignals): stop now
            status = "interrupted"
            self.meta["signal"] = "SIGINT"
            raise RunInterrupted(self.run_dir, self.checkpoint_step) from None
        except BaseException:
            status = "failed"
            raise
        finally:
            if stop is not None:  # the closing writes are short: let no signal tear them
                stop.hold()
            log.close()
            self.meta["checkpoint_step"] = self.checkpoint_step
            summary = self._summary(status)
            write_json(self.run_dir / "summary.json", summary)
            self._set_status(status)
            self.reporter.finish(summary)
        return summary


def train(cfg: Config, out_root: Path, device: str = "auto", reporter: Optional[Reporter] = None,
          argv: Optional[list[str]] = None) -> dict[str, Any]:
    """Create a run folder under ``out_root`` and train ``cfg`` in it; returns the summary."""
    dev = resolve_device(device)
    run_dir = make_run_dir(out_root, cfg.run_name)
    recorder = GradientRecorder(cfg, run_dir)  # gradients.at_steps → gradients/profiles.csv
    trainer = Trainer(cfg, run_dir, dev, reporter or SilentReporter(), argv or list(sys.argv), hooks=[recorder])
    with RunLock(run_dir), StopSignals() as stop:
        summary = trainer.run(stop)
        recorder.finish(trainer, summary["status"])
        return summary
