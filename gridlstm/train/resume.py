"""``gridlstm train --resume RUN_DIR``: which run to continue, and whether it may be continued.

    checkpoint.pt (step s: model, optimizer, RNG states, data stream) + config.yaml
        → Trainer.restore → metrics.csv rows past step s dropped → steps s+1.. as if never stopped

Guards, each a one-line error: the folder must be a run folder whose checkpoint loads
(``weights_only=True``) and was written for its config.yaml; a config that differs from the run's
(a CONFIG file or KEY=VALUE overrides) is refused, naming the keys, unless ``force``; a run another
process still holds is refused (lifecycle.py takes the lock). A completed run with an unchanged
config is left untouched. Continuing it is lifecycle.resume_run's, the same life as a new run's.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional, Union

from gridlstm.config import Config, config_diff, load_config
from gridlstm.errors import GridlstmError, ParamError
from gridlstm.runs.files import check_folder
from gridlstm.runs.layout import CONFIG
from gridlstm.runs.records import FINISHED, Meta, Status, Summary
from gridlstm.runs.run import RunFolder

from .trainer import CHECKPOINT_FORMAT


@dataclass(frozen=True)
class ResumePlan:
    """A run that may be continued: its folder, the config to continue with, its meta, and its
    checkpoint (None: stopped before its first one, so it starts over in its folder; the start is a
    function of the seed, so this too equals the uninterrupted run)."""

    folder: RunFolder
    cfg: Config
    meta: Meta
    payload: Optional[dict[str, Any]]
    changed: list[str]


def _resume_config(run_dir: Path, config_path: Optional[Path], overrides: list[str]) -> tuple[Config, Config]:
    """(the run's own config, the config to continue with)."""
    if not run_dir.is_dir():
        raise ParamError("run_dir", run_dir, "no such run folder")
    check_folder(run_dir)  # a FIFO as metrics.csv, a config.yaml linked to a file outside: refused
    if not (run_dir / CONFIG).is_file():
        raise ParamError("run_dir", run_dir, "not a gridlstm run folder (no config.yaml)")
    saved = load_config(run_dir / CONFIG)
    wanted = load_config(config_path or run_dir / CONFIG, overrides)
    return saved, wanted


def plan_resume(run_dir: Path, config_path: Optional[Path] = None, overrides: tuple[str, ...] | list[str] = (),
                force: bool = False) -> Union[ResumePlan, Summary]:
    """Check ``run_dir`` for resuming (read-only); its summary with ``nothing_to_do`` when it had
    already completed and nothing changed."""
    run_dir = Path(run_dir)
    saved, cfg = _resume_config(run_dir, config_path, list(overrides))
    folder = RunFolder(run_dir)
    meta = folder.meta()
    started = folder.checkpoint_file.exists() or meta.status in FINISHED
    payload = folder.checkpoint() if started else {"format": CHECKPOINT_FORMAT, "config": saved.to_dict()}
    theirs: Any = payload.get("config") or {}
    foreign = config_diff(saved.to_dict(), theirs)
    if foreign:
        raise ParamError(None, None, f"{folder.checkpoint_file} was written for another config than the folder's "
                         f"config.yaml ({'; '.join(foreign[:3])}): a checkpoint from another run, or an "
                         "edited config.yaml (give changes as KEY=VALUE with {force=True} instead)", ("force",))
    changed = config_diff(saved.to_dict(), cfg.to_dict())
    if changed and not force:
        raise ParamError(None, None, f"config differs from the run's ({'; '.join(changed)}); resume without "
                         "changes, or add {force=True} to continue with the new values", ("force",))
    if meta.status == Status.COMPLETED and not changed:
        summary = folder.summary()
        if summary is None:
            raise GridlstmError(f"summary.json not found in {run_dir}")
        return replace(summary, nothing_to_do=True, run_dir=str(run_dir))  # this folder (a copy has moved)
    check_writable(folder)
    return ResumePlan(folder, cfg, meta, payload if started else None, changed)


def check_writable(folder: RunFolder) -> None:
    """The files a resumed run appends to can be written, checked before meta.json changes: a file
    made read-only is the user's to fix, not a failure of the run (its status stays as it was)."""
    for path in (folder.metrics_file, folder.profiles_file):
        if path.is_file():
            try:
                open(path, "r+b").close()  # opened for writing, nothing written
            except OSError as e:
                raise ParamError("run_dir", folder.path, f"cannot write {path} ({e.strerror}); a run "
                                 "continues in its own folder: make the file writable, or copy the "
                                 "folder somewhere writable and resume the copy") from None
