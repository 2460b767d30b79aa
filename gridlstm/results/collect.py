"""Finding the run folders that ``plot`` and ``report`` are given, and the task facts they draw
from one (its files are read by gridlstm.runs.run.RunFolder, the one reader of a run folder).

A *run* is a folder with ``config.yaml`` and ``meta.json`` (runs.py writes both before the first
step); a finished run also has ``summary.json``.  A folder that ``gridlstm gradcheck CONFIG`` made
(``config.yaml`` and ``gradients/``, no training) counts too, for the gradient figures, and so does a
*gradient-only* folder, the one ``gridlstm gradcheck --out DIR`` writes (``gradients.csv`` and the
gradcheck ``meta.json`` directly inside, no ``config.yaml``): its model and task are read from that
``meta.json``.  Arguments may be run folders, folders that contain runs at any depth (``outputs/``),
or glob patterns the shell did not expand (``'outputs/adding-*/*'``).
"""
from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

from gridlstm.config import TaskConfig
from gridlstm.errors import GridlstmError
from gridlstm.runs.layout import CONFIG, GRADIENTS, GRADIENTS_DIR, META
from gridlstm.runs.run import RunFolder
from gridlstm.runs.tables import Curve, GradientTable
from gridlstm.tasks import make_task, task_class

from .columns import finite  # noqa: F401  (one home: columns.py; collect.finite for its users)

__all__ = ["Curve", "GradientTable", "RunFolder", "find_run_dirs", "load_runs", "scores", "single_task", "task_facts"]
GLOB_CHARS = "*?["


def is_run(path: Path) -> bool:
    """A training run (config.yaml + meta.json), a gradcheck of a config (config.yaml + gradients/),
    or a gradient-only folder (gradcheck --out DIR)."""
    return path.is_dir() and (path / CONFIG).is_file() and (
        (path / META).is_file() or (path / GRADIENTS_DIR / GRADIENTS).is_file()
    ) or is_gradient_folder(path)


def is_gradient_folder(path: Path) -> bool:
    """What ``gridlstm gradcheck --out DIR`` writes: gradients.csv and its meta.json, no config.yaml."""
    return (path.is_dir() and not (path / CONFIG).is_file()
            and (path / GRADIENTS).is_file() and (path / META).is_file())


def _inside_a_run(path: Path) -> bool:
    """RUN/gradients/ of a run folder: reached through the run itself, not listed twice."""
    return path.name == GRADIENTS_DIR and (path.parent / CONFIG).is_file()


def find_run_dirs(args: list[str] | tuple[str, ...]) -> list[Path]:
    """Run folders named by ``args`` (folders, parents of runs, globs), in order, without repeats."""
    if not args:
        raise GridlstmError("no run folders given: pass RUN folders, e.g. outputs/default/* "
                            "(make one with: gridlstm train)")
    found: list[Path] = []
    for arg in args:
        if any(c in arg for c in GLOB_CHARS) and not Path(arg).exists():
            matches = [Path(p) for p in sorted(glob.glob(arg))]
            if not matches:
                raise GridlstmError(f"no folders match {arg!r} (make a run with: gridlstm train CONFIG)")
        else:
            matches = [Path(arg)]
        for path in matches:
            found += _runs_in(path)
    unique: dict[Path, Path] = {}  # resolved -> as given (printed paths stay as the user wrote them)
    for p in found:
        unique.setdefault(p.resolve(), p)
    return list(unique.values())


def _runs_in(path: Path) -> list[Path]:
    if not path.exists():
        raise GridlstmError(f"{path} does not exist (make a run with: gridlstm train CONFIG)")
    if is_run(path):
        return [path]
    if path.is_dir():
        inside = sorted({p.parent for p in path.rglob(CONFIG) if is_run(p.parent)}
                        | {p.parent for p in path.rglob(GRADIENTS)
                           if is_gradient_folder(p.parent) and not _inside_a_run(p.parent)})
        if inside:
            return inside
    raise GridlstmError(f"{path} is not a run folder (no config.yaml and meta.json, nor the "
                        "gradients.csv and meta.json of gradcheck --out) and holds none "
                        "(make one with: gridlstm train CONFIG)")


def task_facts(run: RunFolder) -> dict[str, Any]:
    """Chance loss, metric name and success threshold of the run's task (from its config)."""
    config = run.config_data()
    task = make_task(TaskConfig(**config["task"]))
    target = config.get("train", {}).get("target")
    if target is not None and not finite(target):
        raise GridlstmError(f"{run.config_file}: train.target {str(target)[:20]} is not a "
                            "finite number (the run's config.yaml is damaged)")
    # a gradient-only folder records the task's name and length only: a task whose chance reads
    # more settings (temporal_order's keys, memorize's vocabulary) has a chance level it cannot know
    unknown = run.gradient_only and bool(task.chance_depends)
    return {"chance": None if unknown else task.chance, "metric": task.metric_name, "higher": task.higher_is_better,
            "target": task.default_target if target is None else target, "metric_is_loss": task.metric_is_loss}


def scores(run: RunFolder) -> str:
    """Where the run's loss sits: "last" (the final step only) or "all" (every step)."""
    return run.gradient_meta().get("scores") or task_class(run.task).scores


def load_runs(args: list[str] | tuple[str, ...]) -> list[RunFolder]:
    """The run folders named by ``args`` (find_run_dirs), each checked and ready to read."""
    return [RunFolder.read(p) for p in find_run_dirs(args)]


def single_task(runs: list[RunFolder], what: str) -> str:
    """The one task all ``runs`` share; a mixture is an error (one figure holds one task)."""
    tasks = sorted({r.task for r in runs})
    if len(tasks) > 1:
        raise GridlstmError(f"the runs mix tasks ({', '.join(tasks)}); one {what} figure holds one task: "
                            f"plot each separately, e.g. gridlstm plot outputs/{tasks[0]}-*/* --what {what}")
    return tasks[0]


