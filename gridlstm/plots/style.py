"""The style every figure shares: one colour family per model kind, fonts, the Agg canvas, legends
placed outside the data, and saving by suffix."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gridlstm.nn.registry import colors as kind_colors
from gridlstm.results.collect import Run

DPI = 150

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
    """Colour of each run: its kind's family (the same in every figure, declared by its cell,
    nn/registry.py); the n runs of a kind get n shades, darkest first."""
    import matplotlib as mpl

    colors = []
    for r in runs:
        same = [x for x in runs if x.kind == r.kind]
        i, n = same.index(r), len(same)
        color, cmap = kind_colors(r.kind)
        if n == 1:
            colors.append(mpl.colors.to_rgba(color))
        else:
            colors.append(mpl.colormaps[cmap](0.95 - 0.5 * i / (n - 1)))
    return colors


def save(fig: Figure, path: Path, dpi: int = DPI) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with style():
        fig.savefig(path, format=path.suffix.lstrip(".").lower(), dpi=dpi)
    return path
