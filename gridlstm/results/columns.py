"""The columns of `gridlstm report` (keys, headers, formats) and its output formats: no torch, no
matplotlib here, so the command line's choices and --help load at once (report.py fills the rows)."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


FORMATS = ("rich", "md", "csv", "latex")


def _g(digits: int) -> Callable[[Any], str]:
    return lambda v: f"{v:.{digits}g}" if finite(v) else ""


def _yes(v: Any) -> str:
    return "" if v is None else ("yes" if v else "no")


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    fmt: Callable[[Any], str] = str
    right: bool = True


COLUMNS = (
    Column("run", "run", right=False),
    Column("status", "status", right=False),
    Column("task", "task", right=False),
    Column("T", "T"),
    Column("model", "model", right=False),
    Column("variant", "variant", lambda v: v or "", right=False),
    Column("tied", "tied", _yes, right=False),
    Column("layers", "D"),
    Column("hidden", "H"),
    Column("params", "params", lambda v: f"{v:,}" if isinstance(v, int) else ""),
    Column("steps", "steps"),
    Column("wall_seconds", "wall (s)", lambda v: f"{v:.1f}" if finite(v) else ""),
    Column("eval_loss", "eval loss", _g(4)),
    Column("chance", "chance", _g(4)),
    Column("loss_vs_chance", "loss/chance", _g(3)),
    Column("metric_name", "metric", right=False),
    Column("eval_metric", "value", _g(4)),
    Column("solved", "solved", _yes, right=False),
    Column("grad_slope", "h slope (dec/step, top layer)", _g(3)),
    Column("grad_predicted", "predicted λ₁/ln10", _g(3)),
    Column("grad_ratio", "h first/last", _g(3)),
    Column("depth_decades_per_layer", "depth", _g(3)),  # decades lost per layer
    Column("depth_predicted_per_layer", "depth predicted", _g(3)),  # −λ₁/ln 10 per layer (QR)
)
KEYS = tuple(c.key for c in COLUMNS)
# The rich view's results, after the run and its differing config keys (status only where it differs).
VIEW = ("status", "steps", "eval_loss", "eval_metric", "solved", "wall_seconds")

# config keys that are a result column's fact already (task.length is T): not repeated as a column
SAME_AS_COLUMN = {"task.name": "task", "task.length": "T", "model.kind": "model", "model.variant": "variant",
                  "model.tied": "tied", "model.layers": "layers", "model.hidden": "hidden"}
