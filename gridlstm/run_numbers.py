"""The numbers a run folder is about, as flat scalars for trackers (MLflow metrics, TensorBoard hparams):
how it ended and what gradcheck measured. Read through the run folder's one reader (RunFolder),
leniently: a file that is missing or damaged gives no number, never an error.

    outcome/solved             1 or 0 (summary.json)
    outcome/steps              steps trained
    outcome/steps_to_solve     first eval step whose held-out metric reached the target (metrics.csv)
    outcome/samples_to_solve   steps_to_solve × train.batch_size
    outcome/eval_loss, outcome/eval_metric, outcome/loss_vs_chance
    grad/<state>/L<d>/slope          decades per step back (gradients/summary.csv)
    grad/<state>/L<d>/theory_slope   the prediction beside it, where the theory gives one
    grad/<state>/L<d>/underflow_step steps back until g < FLT_MIN
    depth/<state>/decades            decades lost from the top layer to layer 1 (gradients/depth.csv)
    depth/<state>/per_layer, depth/<state>/theory_per_layer

Each gradients folder of the run is read: ``gradients/`` (the last checkpoint) under ``grad/`` and
``depth/``, ``gradients-best/`` under ``best/grad/`` and ``best/depth/``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

from .errors import GridlstmError
from .runs.layout import DEPTH, GRADIENT_SUMMARY, GRADIENTS_DIR
from .runs.run import RunFolder

GRADIENT_FOLDERS = {GRADIENTS_DIR: "", f"{GRADIENTS_DIR}-best": "best/"}
SLOPES = {"slope_decades_per_step": "slope", "theory_slope": "theory_slope", "underflow_step": "underflow_step"}
DEPTHS = {"decades": "decades", "per_layer": "per_layer", "theory_per_layer": "theory_per_layer"}


def _number(v: Any) -> Optional[float]:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def steps_to_solve(folder: Path, metric_name: str, target: float) -> Optional[int]:
    """The first eval step of metrics.csv whose metric reached ``target`` (mse: at or below)."""
    rows, _ = RunFolder(folder).metrics_from(0)
    for row in rows:
        value = _number(row.get("metric"))
        if row.get("split") == "eval" and value is not None and (
                value <= target if metric_name == "mse" else value >= target):
            return int(row["step"])
    return None


def outcome(folder: Path) -> dict[str, float]:
    """How the run ended (empty before summary.json exists)."""
    run = RunFolder(folder)
    _, s = run.board()
    if not s:
        return {}
    out = {"outcome/solved": float(bool(s.get("solved"))), "outcome/steps": _number(s.get("steps")),
           "outcome/eval_loss": _number(s.get("eval_loss")), "outcome/eval_metric": _number(s.get("eval_metric"))}
    loss, chance = out["outcome/eval_loss"], _number(s.get("chance"))
    if loss is not None and chance:
        out["outcome/loss_vs_chance"] = loss / chance
    target = _number(s.get("target"))
    solved_at = steps_to_solve(Path(folder), str(s.get("metric_name")), target) if target is not None else None
    if solved_at is not None:
        try:
            batch = _number(((run.config_yaml().get("train")) or {}).get("batch_size"))
        except GridlstmError:
            batch = None
        out["outcome/steps_to_solve"] = float(solved_at)
        if batch is not None:
            out["outcome/samples_to_solve"] = solved_at * batch
    return {k: v for k, v in out.items() if v is not None}


def gradients(folder: Path) -> dict[str, float]:
    """What gradcheck wrote into the run's gradient folders (empty where it has not run)."""
    run, out = RunFolder(folder), {}
    for name, prefix in GRADIENT_FOLDERS.items():
        for r in run.measured_rows(GRADIENT_SUMMARY, name):
            for column, key in SLOPES.items():
                value = _number(r.get(column))
                if value is not None:
                    out[f"{prefix}grad/{r['state']}/L{r['layer']}/{key}"] = value
        for r in run.measured_rows(DEPTH, name):
            for column, key in DEPTHS.items():
                value = _number(r.get(column))
                if value is not None:
                    out[f"{prefix}depth/{r['state']}/{key}"] = value
    return out


def conclusion(folder: Path) -> Optional[str]:
    """gradcheck's one-line conclusion of the last checkpoint (gradients/meta.json), if measured."""
    try:
        said = RunFolder(folder).gradient_meta().get("conclusion")
    except GridlstmError:
        return None
    return said if isinstance(said, str) else None


def numbers(folder: Path) -> dict[str, float]:
    """outcome() and gradients() together: every scalar a tracker should sort and chart runs by."""
    return {**outcome(folder), **gradients(folder)}
