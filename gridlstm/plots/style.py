"""The style every figure shares: one colour family per model kind, fonts, the Agg canvas, legends
placed outside the data, and saving by suffix."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gridlstm.nn.registry import colors as kind_colors
from gridlstm.results import differ
from gridlstm.runs.run import RunFolder

from .kinds import DPI

STYLE: dict[Any, Any] = {
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
    first, so the entries are reordered, and padded with blanks to a full last row. No more columns
    than the figure's width holds for the longest label; the figure grows taller for a legend of
    many rows (12 runs or more), so that it stays inside the figure."""
    from matplotlib.lines import Line2D

    ncols = max(1, min(ncols, len(labels), fitting_columns(fig, labels)))
    rows = -(-len(labels) // ncols)
    if rows > 3:
        fig.set_figheight(fig.get_figheight() + LEGEND_ROW_INCHES * (rows - 3))
    pad = rows * ncols - len(labels)
    handles = list(handles) + [Line2D([], [], alpha=0)] * pad
    labels = list(labels) + [""] * pad
    order = [r * ncols + c for c in range(ncols) for r in range(rows)]
    fig.legend([handles[i] for i in order], [labels[i] for i in order], loc="outside lower center",
               ncols=ncols, title=title, frameon=False)


LEGEND_ROW_INCHES = 0.24  # one legend row at legend.fontsize 10.5


def fitting_columns(fig: Figure, labels: list[str]) -> int:
    """How many legend columns of the longest label fit the figure's width (an average glyph of
    10.5 pt text is about 0.6 em wide; the handle and gaps take about 5 more glyphs)."""
    glyph = 0.6 * 10.5 / 72  # inches
    longest = max((len(x) for x in labels), default=1)
    return max(1, int(fig.get_figwidth() / ((longest + 5) * glyph)))


def run_labels(runs: list[RunFolder]) -> list[str]:
    """Legend label of each run: what differs between them, by report's rule (differ.py); one run
    alone is described by its model (``grid memory_input D=2 T=100``)."""
    return differ.labels(runs) if len(runs) > 1 else [differ.run_label(r) for r in runs]


def run_colors(runs: list[RunFolder]) -> list[tuple[float, ...]]:
    """Colour of each run: its kind's family (the same in every figure, declared by its cell,
    nn/registry.py); the n runs of a kind get n shades, darkest first."""
    import matplotlib as mpl

    colors: list[tuple[float, ...]] = []
    for r in runs:
        same = [x for x in runs if x.kind == r.kind]
        i, n = same.index(r), len(same)
        color, cmap = kind_colors(r.kind)
        if n == 1:
            colors.append(mpl.colors.to_rgba(color))
        else:  # shades far enough apart to tell five runs of a kind apart (markers tell them too)
            colors.append(mpl.colormaps[cmap](SHADES[1] - (SHADES[1] - SHADES[0]) * i / (n - 1)))
    return colors


SHADES = (0.35, 1.0)  # the span of a kind's colour map that its runs' shades take, light to dark
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def run_markers(runs: list[RunFolder]) -> list[str]:
    """Marker of each run: the i-th run of its kind gets the i-th marker, so that runs of one colour
    family differ by shape too (and in print without colour)."""
    return [MARKERS[[x for x in runs if x.kind == r.kind].index(r) % len(MARKERS)] for r in runs]


# what task.length counts in each task (config.py's TaskConfig.length), for titles: "addition, k = 4 digits"
TASK_PARAMETER = {"addition": ("k", "digits"), "parity": ("T", "bits"), "memorize": ("n", "symbols"),
                  "copy": ("T", "steps of delay")}


def task_parameter(task: str, lengths: list[int]) -> str:
    """``T = 100`` for a sequence length; the task's own parameter where length counts something
    else: ``k = 4 digits`` (addition), ``T = 40 bits`` (parity), ``n = 10 symbols`` (memorize)."""
    symbol, unit = TASK_PARAMETER.get(task, ("T", ""))
    return f"{symbol} = {', '.join(map(str, sorted(set(lengths))))}" + (f" {unit}" if unit else "")


def save(fig: Figure, path: Path, dpi: int = DPI) -> Path:
    """``fig`` written whole or not at all (atomic_open): a failure keeps the file that was there,
    and leaves no folder made for it."""
    from gridlstm.runs.files import new_folders
    from gridlstm.runs.folder import atomic_open

    with new_folders(path.parent), style(), atomic_open(path) as f:
        fig.savefig(f, format=path.suffix.lstrip(".").lower(), dpi=dpi)
    return path
