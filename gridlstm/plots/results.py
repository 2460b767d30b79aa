"""The results page's figures: learning curves with the seeds as a band, and ‖∂C/∂h_t‖ against t
at initialisation and after training (Arjovsky, Shah & Bengio 2016, fig. 4's axes: log-y down to
FLT_MIN). Legends name each model by its label in the results file (never ``variant=`` for a
model that has no variants)."""
from __future__ import annotations

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from gridlstm.probe.depth import FLT_MIN
from gridlstm.results.page import ModelResult
from gridlstm.results.profiles import ProfileModel

from .style import legend_below, new_figure


def _colors(n: int) -> list:
    return [mpl.colormaps["tab10"](i % 10) for i in range(n)]


def _band(ax, xs: list[np.ndarray], ys: list[np.ndarray], color, label: str) -> None:
    """Median over seeds as a line, min–max over seeds as a band, on the x of the shortest run."""
    n = min(len(x) for x in xs)
    x = xs[0][:n]
    y = np.stack([v[:n] for v in ys])                 # (seeds, n)
    ax.fill_between(x, y.min(0), y.max(0), color=color, alpha=0.2, lw=0)
    ax.plot(x, np.median(y, 0), color=color, lw=2, label=label)
    for xi, yi in zip(xs, ys, strict=True):           # where a seed ran on (others stopped solved)
        if len(xi) > n:
            ax.plot(xi[n - 1:], yi[n - 1:], color=color, lw=1, alpha=0.6)


def curves_figure(models: list[ModelResult], target: float) -> Figure:
    """Held-out metric against samples seen, one band per model."""
    fig = new_figure(10, 5.5)
    ax = fig.subplots()
    for m, color in zip(models, _colors(len(models)), strict=True):
        xs = [np.asarray(s.curve[0], dtype=float) for s in m.seeds]
        ys = [np.asarray(s.curve[1], dtype=float) for s in m.seeds]
        _band(ax, xs, ys, color, f"{m.label} ({len(m.seeds)} seeds, {m.params:,} params)")
    ax.axhline(target, color="0.3", ls=":", lw=1)
    ax.set_xlabel("training samples seen")
    ax.set_ylabel(f"held-out {models[0].seeds[0].metric_name}")
    if not models[0].higher_is_better:
        ax.set_yscale("log")
    handles, labels = ax.get_legend_handles_labels()
    legend_below(fig, handles, labels, 2, title="median over seeds, band: min–max; dotted: the target")
    return fig


def profiles_figure(models: list[ProfileModel]) -> Figure:
    """‖∂C/∂h_t‖ against t, log-y down to FLT_MIN: at initialisation (left), after training (right)."""
    fig = new_figure(12, 5.5)
    axes = fig.subplots(1, 2, sharey=True)
    for which, ax in enumerate(axes):
        for m, color in zip(models, _colors(len(models)), strict=True):
            gs = [np.maximum(g[::-1], FLT_MIN) for g in m.profiles[m.steps[which]]]   # index t-1
            t = np.arange(1, len(gs[0]) + 1, dtype=float)
            _band(ax, [t] * len(gs), gs, color, f"{m.label} ({m.init})")
        ax.set_yscale("log")
        ax.set_ylim(bottom=FLT_MIN * 0.5)
        ax.axhline(FLT_MIN, color="0.5", ls=":", lw=1)
        ax.set_xlabel("t")
        ax.set_title("at initialisation" if which == 0 else f"after {models[0].steps[1]} iterations")
    axes[0].set_ylabel("‖∂C/∂h_t‖")
    handles, labels = axes[0].get_legend_handles_labels()
    legend_below(fig, handles, labels, 2, title="median over seeds, band: min–max; dotted: FLT_MIN")
    return fig
