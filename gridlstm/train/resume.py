"""``gridlstm train --resume RUN_DIR``: continue a run in its own folder, exactly.

    checkpoint.pt (step s: model, optimizer, RNG states, data stream) + config.yaml
        → Trainer.restore → metrics.csv rows past step s dropped → steps s+1.. as if never stopped

Guards, each a one-line error: the folder must be a run folder whose checkpoint loads
(``weights_only=True``) and was written for its config.yaml; a config that differs from the run's
(a CONFIG file or KEY=VALUE overrides) is refused, naming the keys, unless ``force``; a run another
process still holds is refused. A completed run with an unchanged config is left untouched.
"""
from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

from gridlstm.config import Config, config_diff, load_config
from gridlstm.errors import GridlstmError
from gridlstm.probe.gradients import GradientRecorder
from gridlstm.runs.folder import METRIC_FIELDS, RunLock, load_checkpoint, read_json, truncate_rows, utc_now

from .signals import StopSignals
from .trainer import CHECKPOINT_FORMAT, Reporter, SilentReporter, Trainer, resolve_device


def _resume_config(run_dir: Path, config_path: Optional[Path], overrides: list[str]) -> tuple[Config, Config]:
    """(the run's own config, the config to continue with)."""
    if not run_dir.is_dir():
        raise GridlstmError(f"--resume {run_dir}: no such run folder")
    if not (run_dir / "config.yaml").is_file():
        raise GridlstmError(f"--resume {run_dir}: not a gridlstm run folder (no config.yaml)")
    saved = load_config(run_dir / "config.yaml")
    wanted = load_config(config_path or run_dir / "config.yaml", overrides)
    return saved, wanted


def resume(run_dir: Path, config_path: Optional[Path] = None, overrides: tuple[str, ...] | list[str] = (),
           force: bool = False, device: str = "auto", reporter: Optional[Reporter] = None,
           argv: Optional[list[str]] = None,
           hooks: tuple[Callable[[Trainer], None], ...] = ()) -> dict[str, Any]:
    """Continue ``run_dir`` from its checkpoint; returns the summary (``nothing_to_do`` when the run
    had already completed). A run stopped before its step-0 checkpoint starts over in its folder
    (the start is a function of the seed, so this too equals the uninterrupted run)."""
    run_dir = Path(run_dir)
    saved, cfg = _resume_config(run_dir, config_path, list(overrides))
    meta = read_json(run_dir / "meta.json")
    started = (run_dir / "checkpoint.pt").exists() or meta.get("status") in ("completed", "diverged")
    payload = load_checkpoint(run_dir / "checkpoint.pt") if started else {
        "format": CHECKPOINT_FORMAT, "config": saved.to_dict()}
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise GridlstmError(f"{run_dir / 'checkpoint.pt'}: checkpoint format {payload.get('format')!r}, "
                            f"this gridlstm reads format {CHECKPOINT_FORMAT}")
    foreign = config_diff(saved.to_dict(), payload.get("config") or {})
    if foreign:
        raise GridlstmError(f"{run_dir / 'checkpoint.pt'} was written for another config than the folder's "
                            f"config.yaml ({'; '.join(foreign[:3])}): a checkpoint from another run, or an "
                            "edited config.yaml (give changes as KEY=VALUE with --force instead)")
    changed = config_diff(saved.to_dict(), cfg.to_dict())
    if changed and not force:
        raise GridlstmError(f"config differs from the run's ({'; '.join(changed)}); resume without "
                            "changes, or add --force to continue with the new values")
    if meta.get("status") == "completed" and not changed:
        summary = read_json(run_dir / "summary.json")
        return {**summary, "nothing_to_do": True}

    recorder = GradientRecorder(cfg, run_dir)  # as in train(): gradients.at_steps → profiles.csv
    trainer = Trainer(cfg, run_dir, resolve_device(device), reporter or SilentReporter(),
                      list(argv if argv is not None else sys.argv), hooks=[recorder, *hooks])
    with RunLock(run_dir), StopSignals() as stop:
        if started:
            trainer.restore(payload)
        else:  # rows written before the first checkpoint are written again
            truncate_rows(run_dir / "metrics.csv", -1, ",".join(METRIC_FIELDS) + "\n")
        truncate_rows(recorder.path, trainer.step if started else -1)  # profiles after the checkpoint recur
        meta.setdefault("resumes", []).append({"at": utc_now(), "from_step": trainer.step,
                                               "previous_status": meta.get("status"),
                                               "argv": trainer.argv, "forced_changes": changed})
        meta.update(ended=None, pid=os.getpid())
        for stale in ("signal", "diverged_step", "checkpoint_step"):
            meta.pop(stale, None)
        trainer.meta = meta
        summary = trainer.run(stop)
        recorder.finish(trainer, summary["status"])
        return summary


def outcome(summary: dict[str, Any]) -> tuple[str, int]:
    """The closing line for the terminal and the exit code: 0 completed, 1 diverged, 128+signal
    (130 SIGINT, 143 SIGTERM) interrupted."""
    run_dir, status = summary["run_dir"], summary["status"]
    if summary.get("nothing_to_do"):
        return f"{run_dir} already completed at step {summary['steps']}; nothing to do", 0
    if status == "interrupted":
        name = summary.get("signal") or "SIGINT"
        return (f"interrupted by {name} after step {summary['steps']}; checkpoint at step "
                f"{summary['checkpoint_step']}. Resume with: gridlstm train --resume {run_dir}",
                128 + int(getattr(signal, name, signal.SIGINT)))
    if status == "diverged":
        return (f"diverged: {summary.get('error')}; the last good checkpoint (step "
                f"{summary['checkpoint_step']}) is kept. To go on from it with a smaller step size: "
                f"gridlstm train --resume {run_dir} --force train.lr=<smaller>", 1)
    return f"{status}: {run_dir}", 0
