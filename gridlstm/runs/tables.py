"""Parsing the tables of a run folder (CSV files, the checked keys of a run's config) into values.

Gradient tables (gradients.csv written by ``gridlstm gradcheck``, profiles.csv by training) have the
columns ``step,seed,state,layer,t,norm``: the mean over the batch of per-example ‖∂ℓ/∂state[t, layer]‖₂
measured with the weights of training step ``step`` and measurement seed ``seed``. Only
``RunFolder`` (run.py) opens the files; this module turns their text into numbers.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
from pydantic import ValidationError

from gridlstm.config import TaskConfig
from gridlstm.errors import GridlstmError

from .files import open_regular
from .layout import GRADIENT_COLUMNS, GRADIENTS


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
        fix = "rewrite it with: gridlstm gradcheck RUN" if path.name == GRADIENTS else \
            "delete it; training records it again"
        reader, rows = read_csv(path, fix)
        missing = [c for c in GRADIENT_COLUMNS if c not in reader]
        if missing:
            raise GridlstmError(f"{path} lacks the columns {', '.join(missing)} ({fix})")
        if not rows:
            raise GridlstmError(f"{path} has no rows ({fix})")
        col: dict[str, list[Any]] = {k: [] for k in GRADIENT_COLUMNS}
        for i, r in enumerate(rows, start=2):
            for k in GRADIENT_COLUMNS:
                v: Any = r.get(k)
                try:
                    x: Any = v if k == "state" else (float(v) if k == "norm" else int(v))
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


def number(v: Optional[str]) -> Optional[float]:
    if not isinstance(v, str) or v.strip() == "":
        return None
    try:
        x = float(v)
    except ValueError:
        return None
    return int(x) if x.is_integer() and "." not in v and "e" not in v.lower() else x


