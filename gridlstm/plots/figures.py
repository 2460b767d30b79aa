"""``gridlstm plot``: which figure, where it goes, and the style every figure shares.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot, no display, no
global state) and written as PNG, or SVG/PDF when ``--out`` ends so.  Without ``--out`` a figure of
one run goes to ``RUN/plots/<what>.png``; a figure comparing several runs goes to the first run's
``plots/<what>-<n>runs.png``.

    gradients  log-y ‖∂ℓ/∂state‖ against steps back from the loss, one line per run  (plots_gradients)
    heatmap    time × depth map of the norms, one panel per state kind, one figure per run
    depth      log-y ‖∂ℓ/∂state[T, d]‖ against layer d, one line per run and state kind  (plots_depth)
    profiles   the profiles recorded at several training steps, one figure per run
    loss       train/eval loss and metric against step, chance baseline, success threshold (plots_training)
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gridlstm.errors import GridlstmError
from gridlstm.results.collect import Run

WHAT = ("gradients", "heatmap", "loss", "profiles", "depth")
FORMATS = (".png", ".svg", ".pdf")
DPI = 150

# One colour family per model kind, the same in every figure; several runs of one kind get shades.
KIND_CMAPS = {"rnn": "Reds", "lstm": "Blues", "grid": "Greens"}
KIND_COLORS = {"rnn": "#c0392b", "lstm": "#1f5fa8", "grid": "#1e8449"}

STYLE = {
    "font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12, "legend.fontsize": 10.5,
    "xtick.labelsize": 11, "ytick.labelsize": 11, "axes.grid": True, "grid.alpha": 0.3,
    "axes.spines.top": False, "axes.spines.right": False, "savefig.dpi": DPI, "figure.dpi": DPI,
}


@contextlib.contextmanager
def style() -> Iterator[None]:
    with matplotlib.rc_context(STYLE):
        yield


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def legend_below(fig: Figure, handles: list, labels: list[str], ncols: int, title: Optional[str] = None) -> None:
    """One legend under the axes (never over the data), read row by row: matplotlib fills columns
    first, so the entries are reordered, and padded with blanks to a full last row."""
    from matplotlib.lines import Line2D

    ncols = max(1, min(ncols, len(labels)))
    rows = -(-len(labels) // ncols)
    pad = rows * ncols - len(labels)
    handles = list(handles) + [Line2D([], [], alpha=0)] * pad
    labels = list(labels) + [""] * pad
    order = [r * ncols + c for c in range(ncols) for r in range(rows)]
    fig.legend([handles[i] for i in order], [labels[i] for i in order], loc="outside lower center",
               ncols=ncols, title=title, frameon=False)


def run_colors(runs: list[Run]) -> list[tuple[float, ...]]:
    """Colour of each run: its kind's family; the n runs of a kind get n shades, darkest first."""
    import matplotlib as mpl

    colors = []
    for r in runs:
        same = [x for x in runs if x.kind == r.kind]
        i, n = same.index(r), len(same)
        if n == 1:
            colors.append(mpl.colors.to_rgba(KIND_COLORS.get(r.kind, "#555555")))
        else:
            cmap = mpl.colormaps[KIND_CMAPS.get(r.kind, "Greys")]
            colors.append(cmap(0.95 - 0.5 * i / (n - 1)))
    return colors


def output_paths(runs: list[Run], what: str, out: Optional[Path], per_run: bool) -> list[Path]:
    """Where each figure goes (one per run when ``per_run``, else one for all runs)."""
    if out is not None:
        if out.suffix.lower() not in FORMATS:
            raise GridlstmError(f"--out {out}: the suffix picks the format; use one of "
                                f"{', '.join(FORMATS)}")
        if per_run and len(runs) > 1:
            raise GridlstmError(f"--what {what} draws one figure per run and --out names one file: "
                                "give one run, or leave --out out to write RUN/plots/ for each")
        return [out]
    if per_run:
        return [r.path / "plots" / f"{what}.png" for r in runs]
    name = f"{what}.png" if len(runs) == 1 else f"{what}-{len(runs)}runs.png"
    return [runs[0].path / "plots" / name]


def save(fig: Figure, path: Path, dpi: int = DPI) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with style():
        fig.savefig(path, format=path.suffix.lstrip(".").lower(), dpi=dpi)
    return path


def make_figures(runs: list[Run], what: str, state: Optional[str] = None, layer: Optional[int] = None,
                 x_axis: str = "auto", mean_t: bool = False) -> list[Figure]:
    """Build the figures of kind ``what`` for ``runs`` (one, or one per run for heatmap/profiles).
    ``state`` None: h for gradients/profiles, every depth-carrying state for depth."""
    from .depth import depth_figure
    from .gradients import gradients_figure, heatmap_figure, profiles_figure
    from .training import loss_figure

    if what not in WHAT:
        raise GridlstmError(f"--what {what}: expected one of {', '.join(WHAT)}")
    with style():
        if what == "depth":
            return [depth_figure(runs, state, mean_t)]
        state = state or "h"
        if what == "gradients":
            return [gradients_figure(runs, state, layer, x_axis)]
        if what == "loss":
            return [loss_figure(runs)]
        if what == "heatmap":
            return [heatmap_figure(r) for r in runs]
        return [profiles_figure(r, state, layer, x_axis) for r in runs]


def plot(runs: list[Run], what: str, out: Optional[Path] = None, state: Optional[str] = None,
         layer: Optional[int] = None, x_axis: str = "auto", dpi: int = DPI,
         mean_t: bool = False) -> list[Path]:
    """Draw and write the figures; returns their paths (checked before anything is drawn)."""
    if not runs:
        raise GridlstmError("no runs to plot")
    if not 30 <= dpi <= 600:
        raise GridlstmError(f"--dpi {dpi}: expected 30..600 (pixels per inch; {DPI} by default)")
    paths = output_paths(runs, what, out, per_run=what in ("heatmap", "profiles"))
    figures = make_figures(runs, what, state, layer, x_axis, mean_t)
    return [save(fig, path, dpi) for fig, path in zip(figures, paths, strict=True)]
