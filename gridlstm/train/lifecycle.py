"""One run's life, the same for ``gridlstm train``, ``gridlstm train --resume`` and every sweep run.

    start_run(cfg, out_root)          a new run: OUT/<name>/<stamp>-<id>/
    start_run(cfg, run_dir=PATH)      a new run at a given path (a sweep's runs/<id>/)
    resume_run(run_dir)               an existing run, from its checkpoint (resume.py checks it first)

Each of them, in this order:
    1. SIGINT/SIGTERM handled from the first instruction (StopSignals; or the caller's, already on)
    2. model, task, optimizer and eval set built, so that a bad config fails before any file exists
       (a new run stopped by a signal up to here writes nothing: StoppedBeforeStart)
    3. the folder appears whole with config.yaml and meta.json inside (RunFolder.create/claim), or
       is reopened: checkpoint restored, rows past it dropped, meta records the resume
    4. the folder locked; gradient profiles recorded at gradients.at_steps (GradientRecorder)
    5. Trainer.run: the loop
    6. summary.json and meta.json with the final Status, whatever happened (signals held meanwhile)

A run is therefore resumable from the moment its folder exists: with no checkpoint yet, it starts
over in place (the start is a function of the seed).
"""
from __future__ import annotations

import math
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Optional

from gridlstm import limits
from gridlstm.config import Config
from gridlstm.errors import RunInterrupted, StoppedBeforeStart
from gridlstm.factory import resolve_device
from gridlstm.nn import registry
from gridlstm.nn.model import count_parameters
from gridlstm.runs.folder import remove_temp_files, truncate_metrics, truncate_rows, utc_now
from gridlstm.runs.records import Meta, Status, Summary
from gridlstm.runs.run import RunFolder
from gridlstm.threads import ThreadChoice, apply_threads

from .recorder import GradientRecorder
from .resume import plan_resume
from .signals import StopSignals
from .trainer import Reporter, SilentReporter, Trainer

Hook = Callable[[Trainer], None]


def on_stage(stage: str) -> None:
    """Called at each start-up stage: "signals" (handlers on), "built" (model etc. built), "folder"
    (the folder exists). A no-op; tests replace it to stop a process exactly there."""


def _signals(stop: Optional[StopSignals]) -> AbstractContextManager[StopSignals]:
    return nullcontext(stop) if stop is not None else StopSignals()


def start_run(cfg: Config, out_root: Path = Path("outputs"), device: str = "auto",
              reporter: Optional[Reporter] = None, argv: Optional[list[str]] = None, *,
              run_dir: Optional[Path] = None, hooks: tuple[Hook, ...] = (),
              stop: Optional[StopSignals] = None, max_threads: Optional[int] = None) -> Summary:
    """Train ``cfg`` in a new run folder under ``out_root`` (or at ``run_dir``); returns its summary.

    ``stop``: StopSignals the caller installed earlier (the CLI does, before its imports); ``hooks``:
    called with the trainer at step 0 and after every step, after the gradient recorder;
    ``max_threads``: a cap on ``train.threads`` (a sweep's share of the cores).
    """
    limits.require(cfg)  # before anything is allocated (the run folder included)
    with _signals(stop) as stop:
        on_stage("signals")
        dev = resolve_device(device)
        threads = run_threads(cfg, max_threads)
        trainer = Trainer(cfg, dev, reporter or SilentReporter())
        on_stage("built")
        if stop.requested and run_dir is None:
            raise StoppedBeforeStart(stop.name)
        meta = replace(Meta.new(list(sys.argv if argv is None else argv), str(dev), cfg.seed),
                       schedule=trainer.model.schedules(), threads=threads.to_json())
        folder = RunFolder.claim(run_dir, cfg, meta) if run_dir is not None else RunFolder.create(out_root, cfg, meta)
        on_stage("folder")
        return _live(folder, trainer, stop, hooks, lambda: meta)


def resume_run(run_dir: Path, config_path: Optional[Path] = None, overrides: tuple[str, ...] | list[str] = (),
               force: bool = False, device: str = "auto", reporter: Optional[Reporter] = None,
               argv: Optional[list[str]] = None, hooks: tuple[Hook, ...] = (),
               stop: Optional[StopSignals] = None, max_threads: Optional[int] = None) -> Summary:
    """Continue ``run_dir`` from its checkpoint, in place and exactly; returns the summary
    (``nothing_to_do`` when the run had already completed). See resume.py for the checks."""
    with _signals(stop) as stop:
        plan = plan_resume(Path(run_dir), config_path, overrides, force)
        if isinstance(plan, Summary):
            return plan
        limits.require(plan.cfg)  # continuing is work: checked here, never when the run is read
        threads = run_threads(plan.cfg, max_threads)
        trainer = Trainer(plan.cfg, resolve_device(device), reporter or SilentReporter())
        folder = plan.folder

        def reopen() -> Meta:
            if plan.payload is not None:
                trainer.restore(plan.payload)
            last = trainer.step if plan.payload is not None else -1  # rows after the checkpoint recur
            truncate_metrics(folder.metrics_file, last)
            truncate_rows(folder.profiles_file, last)
            meta = plan.meta.resumed({"at": utc_now(), "from_step": trainer.step,
                                      "previous_status": plan.meta.status,
                                      "argv": list(sys.argv if argv is None else argv),
                                      "forced_changes": plan.changed})
            # set again: a forced config change may change the schedule
            meta = replace(meta, schedule=trainer.model.schedules(), threads=threads.to_json(),
                           torch_threads=threads.threads)
            folder.write_start(plan.cfg, meta)
            return meta

        return _live(folder, trainer, stop, hooks, reopen)


def run_threads(cfg: Config, max_threads: Optional[int] = None) -> ThreadChoice:
    """Set torch's thread count for a run of ``cfg`` (``train.threads``, gridlstm/threads.py)."""
    return apply_threads(cfg.train.threads, cfg.train.batch_size, cfg.model.hidden, max_threads)


def _live(folder: RunFolder, trainer: Trainer, stop: StopSignals, hooks: tuple[Hook, ...],
          begin: Callable[[], Meta]) -> Summary:
    """Steps 4-6 of the module docstring; ``begin`` (under the lock) returns the running meta."""
    recorder = GradientRecorder(trainer.cfg, folder.path)
    trainer.hooks = [recorder, *hooks]
    with folder.lock():
        remove_temp_files(folder.path)
        meta = begin()
        if trainer.resumed_from is not None:
            trainer.reporter.resumed(trainer.resumed_from)
        trainer.reporter.start(trainer.cfg, trainer.task, folder.path, count_parameters(trainer.model))
        status, signal = Status.FAILED, None
        try:
            status = trainer.run(folder.path, stop)
            signal = stop.name if status == Status.INTERRUPTED else None
        except KeyboardInterrupt:  # a second Ctrl-C (or one with no StopSignals): stop now
            status, signal = Status.INTERRUPTED, "SIGINT"
            raise RunInterrupted(folder.path, trainer.checkpoint_step) from None
        finally:
            stop.hold()  # the closing writes are short: let no signal tear them
            meta = meta.ending(status, checkpoint_step=trainer.checkpoint_step, signal=signal,
                               error=trainer.error if status == Status.DIVERGED else None,
                               diverged_step=trainer.diverged_step if status == Status.DIVERGED else None)
            summary = summarize(trainer, folder, meta)
            folder.write_summary(summary)
            folder.write_meta(meta)
            trainer.reporter.finish(summary)
        recorder.finish(trainer, status)
        return summary


def summarize(trainer: Trainer, folder: RunFolder, meta: Meta) -> Summary:
    """summary.json of ``trainer``'s run as it ended (``meta``)."""
    cfg, m, task = trainer.cfg, trainer.cfg.model, trainer.task
    loss, metric = trainer.last_eval if trainer.last_eval else (math.nan, math.nan)
    return Summary(
        name=cfg.run_name, run_dir=str(folder.path), status=meta.status, task=cfg.task.name,
        length=cfg.task.length, model=m.kind, variant=registry.shown_variant(m.kind, m.variant),
        tied=m.tied, layers=m.layers, hidden=m.hidden, params=count_parameters(trainer.model),
        steps=trainer.step, eval_loss=loss, chance=task.chance,
        chance_heldout=trainer.chance_heldout, metric_name=task.metric_name,
        eval_metric=metric, target=trainer.target,
        solved=bool(trainer.last_eval) and task.solved(metric, trainer.target),
        wall_seconds=round(trainer.elapsed, 3), device=str(trainer.device), skipped_steps=trainer.skipped,
        checkpoint_step=trainer.checkpoint_step, signal=meta.signal, error=meta.error)

