"""Finding run folders and reading what they hold, for ``plot`` and ``report``.

A *run* is a folder with ``config.yaml`` and ``meta.json`` (runs.py writes both before the first
step); a finished run also has ``summary.json``.  A folder that ``gridlstm gradcheck CONFIG`` made
(``config.yaml`` and ``gradients/``, no training) counts too, for the gradient figures, and so does a
*gradient-only* folder, the one ``gridlstm gradcheck --out DIR`` writes (``gradients.csv`` and the
gradcheck ``meta.json`` directly inside, no ``config.yaml``): its model and task are read from that
``meta.json``.  Arguments may be run folders, folders that contain runs at any depth (``outputs/``),
or glob patterns the shell did not expand (``'outputs/adding-*/*'``).

Gradient tables (written by ``gridlstm gradcheck``, gradients.py) have the columns
``step,seed,state,layer,t,norm``: the mean over the batch of per-example ‖∂ℓ/∂state[t, layer]‖₂
measured with the weights of training step ``step`` and measurement seed ``seed``.
"""
from __future__ import annotations

import csv
import glob
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Optional

import numpy as np
from pydantic import ValidationError

from gridlstm.config import TaskConfig
from gridlstm.errors import ConfigError, GridlstmError
from gridlstm.nn import registry
from gridlstm.runs.checks import record_problem
from gridlstm.runs.files import check_folder, open_regular
from gridlstm.runs.folder import read_json
from gridlstm.safe_yaml import read_yaml
from gridlstm.tasks import make_task, task_class

from .columns import finite  # noqa: F401  (one home: columns.py; collect.finite for its users)

GLOB_CHARS = "*?["
GRADIENT_FIELDS = ("step", "seed", "state", "layer", "t", "norm")


def is_run(path: Path) -> bool:
    """A training run (config.yaml + meta.json), a gradcheck of a config (config.yaml + gradients/),
    or a gradient-only folder (gradcheck --out DIR)."""
    return path.is_dir() and (path / "config.yaml").is_file() and (
        (path / "meta.json").is_file() or (path / "gradients" / "gradients.csv").is_file()
    ) or is_gradient_folder(path)


def is_gradient_folder(path: Path) -> bool:
    """What ``gridlstm gradcheck --out DIR`` writes: gradients.csv and its meta.json, no config.yaml."""
    return (path.is_dir() and not (path / "config.yaml").is_file()
            and (path / "gradients.csv").is_file() and (path / "meta.json").is_file())


def _inside_a_run(path: Path) -> bool:
    """RUN/gradients/ of a run folder: reached through the run itself, not listed twice."""
    return path.name == "gradients" and (path.parent / "config.yaml").is_file()


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
        inside = sorted({p.parent for p in path.rglob("config.yaml") if is_run(p.parent)}
                        | {p.parent for p in path.rglob("gradients.csv")
                           if is_gradient_folder(p.parent) and not _inside_a_run(p.parent)})
        if inside:
            return inside
    raise GridlstmError(f"{path} is not a run folder (no config.yaml and meta.json, nor the "
                        "gradients.csv and meta.json of gradcheck --out) and holds none "
                        "(make one with: gridlstm train CONFIG)")


@dataclass(frozen=True)
class GradientTable:
    """Columns of a gradients.csv / profiles.csv as numpy arrays, one entry per row."""

    step: np.ndarray   # (N,) int
    seed: np.ndarray   # (N,) int
    state: np.ndarray  # (N,) str
    layer: np.ndarray  # (N,) int
    t: np.ndarray      # (N,) int, 1..T
    norm: np.ndarray   # (N,) float

    @classmethod
    def read(cls, path: Path) -> GradientTable:
        fix = "rewrite it with: gridlstm gradcheck RUN" if path.name == "gradients.csv" else \
            "delete it; training records it again"
        reader, rows = read_csv(path, fix)
        missing = [c for c in GRADIENT_FIELDS if c not in reader]
        if missing:
            raise GridlstmError(f"{path} lacks the columns {', '.join(missing)} ({fix})")
        if not rows:
            raise GridlstmError(f"{path} has no rows ({fix})")
        col: dict[str, list[Any]] = {k: [] for k in GRADIENT_FIELDS}
        for i, r in enumerate(rows, start=2):
            for k in GRADIENT_FIELDS:
                v = r.get(k)
                try:
                    x = v if k == "state" else (float(v) if k == "norm" else int(v))
                    if k not in ("state", "norm") and not -2**63 <= x < 2**63:
                        raise ValueError
                    col[k].append(x)
                except (TypeError, ValueError):
                    kind = "a number" if k == "norm" else "an integer"
                    raise GridlstmError(f"{path}, line {i}: {k} {str(v)[:30]!r} is not {kind}; the file "
                                        f"is damaged ({fix})") from None
                if k == "state" and v is None:
                    raise GridlstmError(f"{path}, line {i}: the row is cut short; the file is damaged ({fix})")
        return cls(step=np.array(col["step"], dtype=np.int64), seed=np.array(col["seed"], dtype=np.int64),
                   state=np.array(col["state"], dtype=str), layer=np.array(col["layer"], dtype=np.int64),
                   t=np.array(col["t"], dtype=np.int64), norm=np.array(col["norm"], dtype=float))

    @property
    def states(self) -> list[str]:
        return list(dict.fromkeys(self.state.tolist()))

    @property
    def steps(self) -> list[int]:
        return sorted(set(self.step.tolist()))

    def layers(self, state: str) -> list[int]:
        return sorted(set(self.layer[self.state == state].tolist()))

    def curve(self, state: str, layer: int, step: Optional[int] = None) -> Curve:
        """Norm against t for one state and layer at one training step (default the latest) over
        the measurement seeds: the median (a log axis's centre that an exact 0 in one seed does
        not drag to 0, nor one large seed to the top), and min/max for the spread."""
        step = self.steps[-1] if step is None else step
        sel = (self.state == state) & (self.layer == layer) & (self.step == step)
        ts = np.array(sorted(set(self.t[sel].tolist())), dtype=int)
        seeds = sorted(set(self.seed[sel].tolist()))
        grid = np.full((len(seeds), len(ts)), np.nan)  # (S, T)
        si = {s: i for i, s in enumerate(seeds)}
        ti = {t: i for i, t in enumerate(ts.tolist())}
        for s, t, n in zip(self.seed[sel], self.t[sel], self.norm[sel], strict=True):
            grid[si[s], ti[t]] = n
        return Curve(t=ts, mid=np.nanmedian(grid, 0), lo=np.nanmin(grid, 0), hi=np.nanmax(grid, 0),
                     seeds=len(seeds), step=step)


@dataclass(frozen=True)
class Curve:
    t: np.ndarray     # (T,)
    mid: np.ndarray   # (T,) median over seeds
    lo: np.ndarray    # (T,) min over seeds
    hi: np.ndarray    # (T,) max over seeds
    seeds: int
    step: int


@dataclass(frozen=True)
class Run:
    """One run folder, read lazily; every missing file is a one-line error naming its producer."""

    path: Path

    def __post_init__(self) -> None:
        check_folder(self.path)  # regular files only, none leaving the folder

    @property
    def gradient_only(self) -> bool:
        """A folder of gradcheck --out DIR: gradients.csv etc. directly inside, no config.yaml."""
        return not (self.path / "config.yaml").is_file()

    @cached_property
    def config(self) -> dict[str, Any]:
        """config.yaml, with the keys that plot and report read checked (not the whole schema: a
        run of an older gridlstm still reads)."""
        if self.gradient_only:  # what gradcheck's meta.json says about the model and the task
            g = self.gradient_meta
            model = {"kind": g["model"], "variant": g.get("variant") or registry.DEFAULT_VARIANT,
                     "tied": bool(g.get("tied")), "hidden": g.get("hidden"), "layers": g.get("D")}
            return {"task": {"name": g["task"], "length": g["length"]}, "model": model, "train": {}}
        path = self.path / "config.yaml"
        try:
            data = read_yaml(path)
        except ConfigError as e:
            raise GridlstmError(f"{e.problems[0]} (the run's config.yaml is damaged)") from None
        problem = config_problem(data)
        if problem:
            raise GridlstmError(f"{path}: {problem} (the run's config.yaml is damaged)")
        return data

    @cached_property
    def meta(self) -> dict[str, Any]:
        path = self.path / "meta.json"
        if self.gradient_only or not path.is_file():
            return {"status": "not trained (gradcheck of a config)"}
        return checked(read_json(path), path, "meta")

    @cached_property
    def summary(self) -> dict[str, Any]:
        path = self.path / "summary.json"
        if not path.is_file():
            status = self.meta.get("status", "unknown")
            raise GridlstmError(f"{self.path} has no summary.json (status: {status}); it is written "
                                "when `gridlstm train` ends")
        return checked(read_json(path), path, "summary")

    @cached_property
    def task_facts(self) -> dict[str, Any]:
        """Chance loss, metric name and success threshold of the run's task (from its config)."""
        task = make_task(TaskConfig(**self.config["task"]))
        target = self.config.get("train", {}).get("target")
        if target is not None and not finite(target):
            raise GridlstmError(f"{self.path / 'config.yaml'}: train.target {str(target)[:20]} is not a "
                                "finite number (the run's config.yaml is damaged)")
        # a gradient-only folder records the task's name and length only: a task whose chance reads
        # more settings (temporal_order's keys, memorize's vocabulary) has a chance level it cannot know
        unknown = self.gradient_only and bool(task.chance_depends)
        return {"chance": None if unknown else task.chance, "metric": task.metric_name, "higher": task.higher_is_better,
                "target": task.default_target if target is None else target, "metric_is_loss": task.metric_is_loss}

    @property
    def trained(self) -> bool:
        return not self.gradient_only and (self.path / "meta.json").is_file()

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
        path = self.path / "metrics.csv"
        if not path.exists():
            raise GridlstmError(f"{self.path} has no metrics.csv (train it with: gridlstm train CONFIG)")
        _, rows = read_csv(path, "the run's metrics.csv is damaged")
        return [{k: (v if k == "split" else _num(v)) for k, v in r.items() if isinstance(k, str)} for r in rows]

    def gradient_file(self, name: str) -> Path:
        return self.path / name if self.gradient_only else self.path / "gradients" / name

    def gradients(self, name: str = "gradients.csv") -> GradientTable:
        path = self.gradient_file(name)
        if not path.exists():
            producer = (f"gridlstm gradcheck {self.path}" if name == "gradients.csv" else
                        "gridlstm train CONFIG gradients.at_steps=[0,100], which records them")
            raise GridlstmError(f"{self.path} has no gradients/{name} (make it with: {producer})")
        return GradientTable.read(path)

    @cached_property
    def gradient_meta(self) -> dict[str, Any]:
        path = self.gradient_file("meta.json")
        return read_json(path) if path.is_file() else {}

    @property
    def scores(self) -> str:
        """Where the loss sits: "last" (the final step only) or "all" (every step)."""
        return self.gradient_meta.get("scores") or task_class(self.task).scores

    def gradient_summary(self) -> Optional[list[dict[str, Any]]]:
        path = self.gradient_file("summary.csv")
        if not path.is_file():
            return None
        _, rows = read_csv(path, "rewrite it with: gridlstm gradcheck RUN")
        return [{k: (v if k in ("state", "theory_kind") else _num(v)) for k, v in r.items() if isinstance(k, str)}
                for r in rows]


def checked(data: dict[str, Any], path: Path, kind: str) -> dict[str, Any]:
    """``data`` of meta.json/summary.json, or a one-line error naming the damaged field."""
    problem = record_problem(data, kind)
    if problem:
        raise GridlstmError(f"{path}: {problem}; the file is damaged")
    return data


def read_csv(path: Path, fix: str) -> tuple[list[str], list[dict[str, Any]]]:
    """(header, rows) of a CSV file; a file that is not readable text or not CSV is a one-line error."""
    if path.is_dir():
        raise GridlstmError(f"{path} is a folder, not a CSV file ({fix})")
    if not path.is_file():  # a FIFO would block
        raise GridlstmError(f"{path} is not a regular file ({fix})")
    try:
        with open_regular(path, None, "r", newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            return list(reader.fieldnames or []), rows
    except UnicodeDecodeError as e:
        raise GridlstmError(f"{path}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}); "
                            f"the file is damaged ({fix})") from None
    except csv.Error as e:
        raise GridlstmError(f"{path}: not a valid CSV file ({str(e)[:80]}); the file is damaged ({fix})") from None
    except OSError as e:
        raise GridlstmError(f"cannot read {path}: {e.strerror or e}") from None


CONFIG_FIELDS = {("task", "name"): str, ("task", "length"): int, ("model", "kind"): str,
                 ("model", "layers"): int, ("model", "hidden"): int}


def config_problem(data: dict[str, Any]) -> Optional[str]:
    """What is wrong with the keys of a run's config that plot and report rely on, if anything."""
    for (section, key), kind in CONFIG_FIELDS.items():
        node = data.get(section)
        value = node.get(key) if isinstance(node, dict) else None
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"{section}.{key} is missing or not {'an integer' if kind is int else 'text'}"
    for section in ("model", "train"):
        if section in data and not isinstance(data[section], dict):
            return f"{section} is not a mapping"
    try:
        TaskConfig.model_validate(data["task"])
    except ValidationError as e:
        err = e.errors()[0]
        return f"task.{'.'.join(map(str, err['loc']))}: {err['msg']}".replace("task.: ", "task: ")
    return None


def _num(v: Optional[str]) -> Optional[float]:
    if not isinstance(v, str) or v.strip() == "":
        return None
    try:
        x = float(v)
    except ValueError:
        return None
    return int(x) if x.is_integer() and "." not in v and "e" not in v.lower() else x


def load_runs(args: list[str] | tuple[str, ...]) -> list[Run]:
    return [Run(p) for p in find_run_dirs(args)]


def single_task(runs: list[Run], what: str) -> str:
    """The one task all ``runs`` share; a mixture is an error (one figure holds one task)."""
    tasks = sorted({r.task for r in runs})
    if len(tasks) > 1:
        raise GridlstmError(f"the runs mix tasks ({', '.join(tasks)}); one {what} figure holds one task: "
                            f"plot each separately, e.g. gridlstm plot outputs/{tasks[0]}-*/* --what {what}")
    return tasks[0]


