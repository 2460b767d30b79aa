"""Training: one task, one model, one run folder.

    for step in 1..steps:
        x, y  = task.sample(B, data_gen)                 # seeded stream, position checkpointed
        loss  = task.loss(model(x), y); loss.backward()
        clip the global gradient norm (Pascanu et al. 2013); optimizer.step()
        every log_every:  a "train" row in metrics.csv
        every eval_every: a held-out "eval" row, a checkpoint, and an early stop at the target

The trainer holds only the loop: it writes metrics.csv rows and checkpoints into the folder it is
given. Starting, reopening and finishing a run folder (config, meta, lock, signals, gradient
profiles, summary) is lifecycle.py's, the same for train, resume and sweeps; the reporter only shows.

Reliability: a checkpoint (model, optimizer, step, RNG states, data-stream position) is written at
step 0, every ``checkpoint_every`` steps (default: at every eval), on an interrupt and at the end, so
``resume`` (resume.py) continues bit-for-bit. A NaN/Inf loss or gradient stops the run as
``diverged`` before the update (``train.on_nan: stop``) or skips that batch (``skip``); the last good
checkpoint is never overwritten by bad weights.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Protocol

import torch
from torch import nn

from gridlstm.config import Config
from gridlstm.errors import GridlstmError
from gridlstm.factory import build, make_optimizer
from gridlstm.runs.checks import CHECKPOINT_FORMAT as CHECKPOINT_FORMAT  # its home: the readers' checks
from gridlstm.runs.folder import MetricsLog, rng_state, save_checkpoint, set_rng_state
from gridlstm.runs.layout import BEST, CHECKPOINT, METRICS
from gridlstm.runs.records import Status
from gridlstm.tasks import Task

from .data import FixedSet, eval_set, heldout_chance
from .signals import StopSignals


class NonFiniteStep(FloatingPointError):
    """A training step whose loss or gradient norm is NaN/Inf; raised before the optimizer step."""

    def __init__(self, message: str, loss: float, grad_norm: float):
        super().__init__(message)
        self.loss, self.grad_norm = loss, grad_norm


class Reporter(Protocol):
    def resumed(self, step: int) -> None: ...  # before start(): the run continues from ``step``
    def start(self, cfg: Config, task: Task, run_dir: Path, params: int) -> None: ...
    def step(self, step: int, loss: float, metric: float) -> None: ...
    def evaluated(self, step: int, loss: float, metric: float) -> None: ...
    def finish(self, summary: Any) -> None: ...


class SilentReporter:
    def resumed(self, *a: Any) -> None: ...
    def start(self, *a: Any) -> None: ...
    def step(self, *a: Any) -> None: ...
    def evaluated(self, *a: Any) -> None: ...
    def finish(self, *a: Any) -> None: ...


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
    """The model, optimizer, data stream and training loop of one run (its folder: lifecycle.py)."""

    cfg: Config
    device: torch.device
    reporter: Reporter = field(default_factory=SilentReporter)
    # Called with the trainer before the first step (step 0) and after every optimizer step;
    # e.g. gradient profiles recorded at chosen steps.
    hooks: list[Callable[[Trainer], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.task, self.model = build(self.cfg, self.device)
        self.optimizer = make_optimizer(self.cfg, self.model.parameters())
        self.data_gen = torch.Generator().manual_seed(self.cfg.seed)
        n = self.cfg.train.train_set  # a fixed set is drawn from the stream once, before any step
        self.train_data = FixedSet(self.task, n, self.cfg.train.batch_size, self.data_gen, self.cfg.seed) if n else None
        self.eval_batches = eval_set(self.task, self.cfg.train.eval_batches, self.cfg.train.batch_size,
                                     self.cfg.task.eval_seed)
        self.chance_heldout = heldout_chance(self.task, self.eval_batches)
        self.target = self.cfg.train.target if self.cfg.train.target is not None else self.task.default_target
        self.run_dir: Optional[Path] = None  # set by run()
        self.step = 0
        self.elapsed = 0.0
        self._session: Optional[tuple[float, float]] = None  # (elapsed at start, perf_counter at start)
        self.last_eval: Optional[tuple[float, float]] = None
        self.best: Optional[tuple[int, float]] = None  # (step, eval metric) of best.pt
        self.skipped = 0          # on_nan skip: batches whose update was skipped, in all
        self.skips_in_row = 0     # ... and in a row (skip_limit of them = diverged)
        self.checkpoint_step: Optional[int] = None  # step of the checkpoint on disk
        self.resumed_from: Optional[int] = None     # set by restore()
        self.error: Optional[str] = None            # diverged: what was not finite, and where
        self.diverged_step: Optional[int] = None

    # -- files ---------------------------------------------------------------------------------
    def _tick(self) -> None:
        """Wall time: this session's clock (evals, hooks and checkpoints included) on top of the
        time the checkpoint carried over from earlier sessions."""
        if self._session is not None:
            base, t0 = self._session
            self.elapsed = base + time.perf_counter() - t0

    def _payload(self) -> dict[str, Any]:
        return {
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
            "best": list(self.best) if self.best else None,
        }

    def _checkpoint(self) -> None:
        assert self.run_dir is not None
        self._tick()
        save_checkpoint(self.run_dir / CHECKPOINT, self._payload())
        self.checkpoint_step = self.step

    def _keep_best(self, metric: float) -> None:
        """best.pt: the checkpoint of the best eval metric so far (the first of equals), beside
        checkpoint.pt (the last one, which resume reads); same format, written atomically."""
        if not math.isfinite(metric) or self.run_dir is None:
            return
        if self.best is not None:
            better = metric > self.best[1] if self.task.higher_is_better else metric < self.best[1]
            if not better:
                return
        self.best = (self.step, metric)
        self._tick()
        save_checkpoint(self.run_dir / BEST, self._payload())

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
        best = payload.get("best")
        self.best = (int(best[0]), float(best[1])) if best else None
        self.checkpoint_step = self.resumed_from = self.step

    # -- loop ----------------------------------------------------------------------------------
    def _eval_and_log(self, log: MetricsLog) -> bool:
        loss, metric = evaluate(self.model, self.task, self.eval_batches, self.device)
        self._tick()
        self.last_eval = (loss, metric)
        log.write({"step": self.step, "split": "eval", "loss": loss, "metric": metric,
                   "lr": self.optimizer.param_groups[0]["lr"], "seconds": round(self.elapsed, 3)})
        self.reporter.evaluated(self.step, loss, metric)
        self._keep_best(metric)
        return self.task.solved(metric, self.target)

    def train_step(self) -> tuple[float, float, float]:
        x, y = self.train_data.batch(self.step) if self.train_data else \
            self.task.sample(self.cfg.train.batch_size, self.data_gen)
        x, y = x.to(self.device), y.to(self.device)
        out = self.model(x, self.task.scores)
        loss = self.task.loss(out, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.train.clip_value:  # element-wise, before the norm (which is then measured clipped)
            torch.nn.utils.clip_grad_value_(self.model.parameters(), self.cfg.train.clip_value)
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

    def run(self, run_dir: Path, stop: Optional[StopSignals] = None) -> Status:
        """Train to the end (or early stop, divergence, or a stop signal) writing metrics.csv rows and
        checkpoints into ``run_dir``; returns how it ended. A second Ctrl-C raises KeyboardInterrupt.

        After ``restore()`` it continues from the checkpoint: step 0 (eval, hooks) is not repeated.
        """
        self.run_dir = run_dir
        self._session = (self.elapsed, time.perf_counter())
        log = MetricsLog(run_dir / METRICS)
        try:
            return self._loop(log, stop)
        finally:
            self._tick()
            self._session = None
            log.close()

    def _loop(self, log: MetricsLog, stop: Optional[StopSignals]) -> Status:
        t = self.cfg.train
        if self.resumed_from is None:
            solved = self._eval_and_log(log)  # step 0: the untrained model on the held-out set
            self._run_hooks()
            self._checkpoint()
        else:
            solved = self.last_eval is not None and self.task.solved(self.last_eval[1], self.target)
        status = Status.COMPLETED
        while self.step < t.steps and not (solved and t.early_stop):
            if stop is not None and stop.requested:
                status = Status.INTERRUPTED
                break
            try:
                loss, metric, grad_norm = self.train_step()
                self.skips_in_row = 0
            except NonFiniteStep as e:
                if t.on_nan == "stop" or self.skips_in_row + 1 >= t.skip_limit:
                    in_row = f" ({self.skips_in_row + 1} non-finite steps in a row)"
                    self.error = f"{e}{in_row if t.on_nan == 'skip' else ''}"
                    self.diverged_step = self.step + 1
                    return Status.DIVERGED
                self.skipped += 1
                self.skips_in_row += 1
                loss, metric, grad_norm = e.loss, math.nan, e.grad_norm
            self.step += 1
            self._tick()
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
        if self.checkpoint_step != self.step:
            self._checkpoint()
        return status
