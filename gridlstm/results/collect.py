"""Finding run folders, and ``Run``: the view that ``plot`` and ``report`` take of one (its files
are read by gridlstm.runs.run.RunFolder, the one reader of a run folder).

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
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Optional

from gridlstm.config import TaskConfig
from gridlstm.errors import GridlstmError
from gridlstm.nn import registry
from gridlstm.runs.files import check_folder
from gridlstm.runs.layout import CONFIG, GRADIENTS, GRADIENTS_DIR, META
from gridlstm.runs.run import RunFolder
from gridlstm.runs.tables import Curve, GradientTable
from gridlstm.tasks import make_task, task_class

from .columns import finite  # noqa: F401  (one home: columns.py; collect.finite for its users)

__all__ = ["Curve", "GradientTable", "Run", "find_run_dirs", "load_runs", "single_task"]
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


@dataclass(frozen=True)
class Run:
    """One run folder as plot and report see it: its RunFolder's records, read once and lazily
    (every missing file is a one-line error naming its producer), and the labels drawn from them."""

    path: Path

    @cached_property
    def folder(self) -> RunFolder:
        return RunFolder(self.path)

    def __post_init__(self) -> None:
        check_folder(self.path)  # regular files only, none leaving the folder

    @property
    def gradient_only(self) -> bool:
        return self.folder.gradient_only

    @cached_property
    def config(self) -> dict[str, Any]:
        return self.folder.config_data()

    @cached_property
    def meta(self) -> dict[str, Any]:
        return self.folder.meta_data()

    @cached_property
    def summary(self) -> dict[str, Any]:
        return self.folder.summary_data()

    @cached_property
    def task_facts(self) -> dict[str, Any]:
        """Chance loss, metric name and success threshold of the run's task (from its config)."""
        task = make_task(TaskConfig(**self.config["task"]))
        target = self.config.get("train", {}).get("target")
        if target is not None and not finite(target):
            raise GridlstmError(f"{self.folder.config_file}: train.target {str(target)[:20]} is not a "
                                "finite number (the run's config.yaml is damaged)")
        # a gradient-only folder records the task's name and length only: a task whose chance reads
        # more settings (temporal_order's keys, memorize's vocabulary) has a chance level it cannot know
        unknown = self.gradient_only and bool(task.chance_depends)
        return {"chance": None if unknown else task.chance, "metric": task.metric_name, "higher": task.higher_is_better,
                "target": task.default_target if target is None else target, "metric_is_loss": task.metric_is_loss}

    @property
    def trained(self) -> bool:
        return not self.gradient_only and self.folder.meta_file.is_file()

    @property
    def id(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"

    @property
    def task(self) -> str:
        return self.config["task"]["name"]

    @property
    def length(self) -> int:
        return int(self.config["task"]["length"])

    @property
    def kind(self) -> str:
        return self.config["model"]["kind"]

    @property
    def label(self) -> str:
        """e.g. ``grid memory_input D=2 T=100``, ``rnn D=1 T=200``, ``lstm tied D=4 T=50``."""
        m = self.config["model"]
        return f"{registry.describe(m)} D={m['layers']} T={self.length}"

    @cached_property
    def metrics(self) -> list[dict[str, Any]]:
        return self.folder.metric_values()

    def gradient_file(self, name: str) -> Path:
        return self.folder.gradient_file(name)

    def gradients(self, name: str = GRADIENTS) -> GradientTable:
        return self.folder.gradients(name)

    @cached_property
    def gradient_meta(self) -> dict[str, Any]:
        return self.folder.gradient_meta()

    @property
    def scores(self) -> str:
        """Where the loss sits: "last" (the final step only) or "all" (every step)."""
        return self.gradient_meta.get("scores") or task_class(self.task).scores

    def gradient_summary(self) -> Optional[list[dict[str, Any]]]:
        return self.folder.gradient_summary()


def load_runs(args: list[str] | tuple[str, ...]) -> list[Run]:
    return [Run(p) for p in find_run_dirs(args)]


def single_task(runs: list[Run], what: str) -> str:
    """The one task all ``runs`` share; a mixture is an error (one figure holds one task)."""
    tasks = sorted({r.task for r in runs})
    if len(tasks) > 1:
        raise GridlstmError(f"the runs mix tasks ({', '.join(tasks)}); one {what} figure holds one task: "
                            f"plot each separately, e.g. gridlstm plot outputs/{tasks[0]}-*/* --what {what}")
    return tasks[0]


