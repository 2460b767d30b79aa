"""``gridlstm plot``: which figure, and where it goes (the shared style lives in style.py).

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot, no display, no
global state) and written as PNG, or SVG/PDF when ``--out`` ends so.  Without ``--out`` a figure of
one run goes to ``RUN/plots/<what>.png``; a figure comparing several runs belongs to none of them:
it goes to ``compare/<what>-<n>runs-<UTC stamp>.png`` in the folder that holds them all (their
common parent; for a sweep's ``runs/<id>`` folders, the sweep's folder), and the CLI prints it.
Runs are labelled by what differs between them, the rule of ``report`` (results/differ.py).

    gradients  log-y ‖∂ℓ/∂state‖ against steps back from the loss, one line per run  (gradients.py)
    heatmap    time × depth map of the norms, one panel per state kind, one figure per run
    depth      log-y ‖∂ℓ/∂state[T, d]‖ against layer d, one line per run and state kind  (depth.py)
    profiles   the profiles recorded at several training steps, one figure per run
    loss       train/eval loss and metric against step, chance baseline, success threshold (training.py)
    spectrum   the Lyapunov exponents against their index, one line per run and axis  (spectrum.py)
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional

from matplotlib.figure import Figure

from gridlstm.errors import GridlstmError, ParamError
from gridlstm.runs.run import RunFolder

from .depth import depth_figure
from .gradients import gradients_figure, heatmap_figure, profiles_figure
from .kinds import WHAT  # one home: kinds.py (no matplotlib, for the command line)
from .spectrum import spectrum_figure
from .style import DPI, save, style
from .training import loss_figure

FORMATS = (".png", ".svg", ".pdf")


def output_paths(runs: list[RunFolder], what: str, out: Optional[Path], per_run: bool) -> list[Path]:
    """Where each figure goes (one per run when ``per_run``, else one for all runs)."""
    if out is not None:
        if out.suffix.lower() not in FORMATS:
            raise ParamError("out", out, f"the suffix picks the format; use one of {', '.join(FORMATS)}")
        if per_run and len(runs) > 1:
            raise ParamError("out", out, f"{{what={what}}} draws one figure per run and {{name}} names one "
                             "file: give one run, or leave {name} out to write RUN/plots/ for each", ("what",))
        return [out]
    if per_run:
        return [r.path / "plots" / f"{what}.png" for r in runs]
    if len(runs) == 1:
        return [runs[0].path / "plots" / f"{what}.png"]
    return [compare_dir(runs) / f"{what}-{len(runs)}runs-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.png"]


def compare_dir(runs: list[RunFolder]) -> Path:
    """``compare/`` in the common parent of ``runs`` (never inside one of them); a sweep's
    ``runs/`` folder is skipped for the sweep's own folder."""
    parent = Path(os.path.commonpath([r.path.resolve().parent for r in runs]))
    if parent.name == "runs":
        parent = parent.parent
    return parent / "compare"


def make_figures(runs: list[RunFolder], what: str, state: Optional[str] = None, layer: Optional[int] = None,
                 x_axis: str = "auto", mean_t: bool = False) -> list[Figure]:
    """Build the figures of kind ``what`` for ``runs`` (one, or one per run for heatmap/profiles).
    ``state`` None: h for gradients/profiles, every depth-carrying state for depth."""
    if what not in WHAT:
        raise ParamError("what", what, f"expected one of {', '.join(WHAT)}")
    with style():
        if what == "depth":
            return [depth_figure(runs, state, mean_t)]
        if what == "spectrum":
            return [spectrum_figure(runs)]
        state = state or "h"
        if what == "gradients":
            return [gradients_figure(runs, state, layer, x_axis)]
        if what == "loss":
            return [loss_figure(runs)]
        if what == "heatmap":
            return [heatmap_figure(r) for r in runs]
        return [profiles_figure(r, state, layer, x_axis) for r in runs]


def plot(runs: list[RunFolder], what: str, out: Optional[Path] = None, state: Optional[str] = None,
         layer: Optional[int] = None, x_axis: str = "auto", dpi: int = DPI,
         mean_t: bool = False) -> list[Path]:
    """Draw and write the figures; returns their paths (checked before anything is drawn)."""
    if not runs:
        raise GridlstmError("no runs to plot")
    if not 30 <= dpi <= 600:
        raise ParamError("dpi", dpi, f"expected 30..600 (pixels per inch; {DPI} by default)")
    paths = output_paths(runs, what, out, per_run=what in ("heatmap", "profiles"))
    figures = make_figures(runs, what, state, layer, x_axis, mean_t)
    return [save(fig, path, dpi) for fig, path in zip(figures, paths, strict=True)]
