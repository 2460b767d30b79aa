"""Gradient figures: norms against time (several runs), time × depth heatmaps, training profiles.

The quantity drawn is g[t, d] = mean_b ‖∂ℓ_b/∂state_b[t, d]‖₂ from the run's gradients/ tables
(docs/gradients.md).  A tanh RNN's g falls by a constant factor per step back from the loss (a straight
line on the log-y axis); a memory path with forget gates near 1 keeps it flat.  Log axes cannot show
an exact zero, so where a curve underflows (g < FLT_MIN, as the tables count it: probe/zeros.py) a ▼
marks the first such step on the bottom edge; a state with no path to the loss gets none.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import LogFormatterSciNotation, LogLocator, MaxNLocator

from gridlstm.errors import GridlstmError, ParamError
from gridlstm.nn import registry
from gridlstm.probe.zeros import UNDERFLOW, underflow_step
from gridlstm.results.collect import Curve, GradientTable, scores, single_task
from gridlstm.results.differ import run_label
from gridlstm.runs.layout import GRADIENTS, PROFILES
from gridlstm.runs.run import RunFolder

from .kinds import X_AXES
from .style import legend_below, new_figure, run_colors, run_labels, run_markers, task_parameter


def describe(state: str, runs: Sequence[RunFolder] = ()) -> str:
    """'depth memory c′': a state as the runs' cells label it (nn/cells.py ``state_labels``)."""
    labels = (registry.state_label(r.config_data()["model"], state) for r in runs)
    return next((lab for lab in labels if lab != state), registry.state_label({}, state))


def symbol(state: str, runs: Sequence[RunFolder] = ()) -> str:
    """The symbol of a state, the last word of its label: 'c′' for the depth memory c_depth."""
    return describe(state, runs).rsplit(" ", 1)[-1]


def pick_layer(run: RunFolder, table: GradientTable, state: str, layer: Optional[int], source: str) -> int:
    """The requested layer of ``state``, by default the top one (layer 0 for the input x)."""
    if state not in table.states:
        raise ParamError("state", state, f"{run.path} has no such state in gradients/{source}; expected "
                         f"one of {', '.join(table.states)}")
    layers = table.layers(state)
    if layer is None:
        return layers[-1]
    if layer not in layers:
        raise ParamError("layer", layer, f"{run.path} has no such layer of state {state!r} in "
                         f"gradients/{source}; expected one of {', '.join(map(str, layers))}")
    return layer


def resolve_x_axis(runs: list[RunFolder], x_axis: str) -> str:
    if x_axis not in X_AXES:
        raise ParamError("x_axis", x_axis, f"expected one of {', '.join(X_AXES)}")
    if x_axis == "auto":
        return "steps-back" if all(scores(r) == "last" for r in runs) else "timestep"
    return x_axis


def x_values(curve: Curve, x_axis: str) -> np.ndarray:
    """Timestep t (1..T), or steps back from the last step T - t (the loss sits at t = T)."""
    return curve.t.max() - curve.t if x_axis == "steps-back" else curve.t


def x_label(x_axis: str) -> str:
    if x_axis == "steps-back":
        return "steps back from the loss, T − t (steps)"
    return "timestep t (steps)"


def draw_curve(ax: Axes, x: np.ndarray, curve: Curve, color, label: str,
               marker: Optional[str] = None) -> tuple[Line2D, bool, bool]:
    """Median over seeds as a line (clipped at FLT_MIN: below it the float32 gradient has
    underflowed and the value means nothing), min–max band over seeds, ▼ at the first underflow.
    Returns (line, band drawn, underflow marked)."""
    order = np.argsort(x)
    x, mid, lo, hi = x[order], curve.mid[order], curve.lo[order], curve.hi[order]
    pos = np.where(mid >= UNDERFLOW, mid, np.nan)
    (line,) = ax.plot(x, pos, color=color, lw=2.2, label=label, gid="curve", marker=marker, ms=6,
                      markevery=max(1, len(x) // 8))
    band = curve.seeds > 1
    if band:
        ax.fill_between(x, np.where(lo >= UNDERFLOW, lo, np.nan), np.where(hi >= UNDERFLOW, hi, np.nan),
                        color=color, alpha=0.2, lw=0)
    # Underflow as the tables count it (probe/zeros.py): g < FLT_MIN further back than a normal g;
    # a structural zero (no path to the loss, e.g. the top layer's c′) gets no marker.
    back = np.argsort(-curve.t[order])  # steps back from the loss
    s = underflow_step(mid[back]) if (mid >= UNDERFLOW).any() else None
    if s is not None:
        trans = mpl.transforms.blended_transform_factory(ax.transData, ax.transAxes)
        ax.plot([x[back[s]]], [0.0], transform=trans, marker="v", ms=11, color=color,
                ls="none", clip_on=False, gid="underflow", label="_underflow")
    return line, band, s is not None


def legend_outside(fig: Figure, ax: Axes, band: bool, underflow: bool, title: Optional[str] = None,
                   seeds: Optional[int] = None) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if band:
        handles.append(Patch(color="0.6", alpha=0.4))
        labels.append(f"line: median, band: min–max over {seeds or 'the'} seeds")
    if underflow:
        handles.append(Line2D([], [], marker="v", ms=10, color="0.3", ls="none"))
        labels.append("underflows (g < FLT_MIN) here")
    legend_below(fig, handles, labels, ncols=3, title=title)


def gradients_figure(runs: list[RunFolder], state: str = "h", layer: Optional[int] = None,
                     x_axis: str = "auto") -> Figure:
    """One line per run: g against steps back from the loss (or timestep), log-y."""
    task = single_task(runs, "gradients")
    x_axis = resolve_x_axis(runs, x_axis)
    tables = [r.gradients() for r in runs]
    layers = [pick_layer(r, tab, state, layer, GRADIENTS)
              for r, tab in zip(runs, tables, strict=True)]
    fig = new_figure(11, 5.2)
    ax = fig.add_subplot()
    ax.set_yscale("log")
    labels = run_labels(runs)
    any_band = any_zero = False
    colors, markers = run_colors(runs), run_markers(runs)
    seeds = {len(set(tab.seed[tab.step == tab.steps[-1]].tolist())) for tab in tables}
    for tab, lay, color, marker, label in zip(tables, layers, colors, markers, labels, strict=True):
        curve = tab.curve(state, lay)
        label += f", weights of step {curve.step}"
        if len(seeds) > 1:
            label += f", {curve.seeds} seed{'s' if curve.seeds > 1 else ''}"
        _, band, zero = draw_curve(ax, x_values(curve, x_axis), curve, color, label,
                                   marker if len(runs) > 1 else None)
        any_band, any_zero = any_band or band, any_zero or zero
    lengths = sorted({r.length for r in runs})
    where = "top layer" if layer is None else f"layer {layer}"
    if state == "x":
        where = "input"
    ax.set_title(f"How far back the gradient reaches: {task}, {task_parameter(task, lengths)}")
    ax.set_xlabel(x_label(x_axis))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"‖∂ℓ/∂{symbol(state, runs)}[t]‖₂, {where}\n(per example, batch mean; log scale)")
    legend_outside(fig, ax, any_band, any_zero, title=f"{describe(state, runs)}",
                   seeds=next(iter(seeds)) if len(seeds) == 1 else None)
    return fig


def heatmap_figure(run: RunFolder) -> Figure:
    """One panel per state kind: rows are layers 1..D, columns timesteps 1..T, log colour scale."""
    table = run.gradients()
    states = [s for s in table.states if s != "x"]
    step = table.steps[-1]
    maps = {}
    for s in states:
        layers = table.layers(s)
        curves = [table.curve(s, d, step) for d in layers]
        maps[s] = (layers, curves[0].t, np.stack([c.mid for c in curves]))  # (D, T)
    values = np.concatenate([m.ravel() for _, _, m in maps.values()])
    positive = values[values > 0]
    if positive.size == 0:
        raise GridlstmError(f"{run.path}: every gradient norm in gradients/gradients.csv is 0; nothing to "
                            f"map (remeasure with: gridlstm gradcheck {run.path})")
    norm = mpl.colors.LogNorm(vmin=positive.min(), vmax=positive.max())
    cmap = mpl.colormaps["viridis"].with_extremes(bad="0.85")
    D = max(len(layers) for layers, _, _ in maps.values())
    fig = new_figure(11, 1.3 + len(states) * (1.0 + 0.28 * min(D, 10)))
    axes = fig.subplots(len(states), 1, sharex=True, squeeze=False)[:, 0]
    image = None
    for ax, s in zip(axes, states, strict=True):
        layers, ts, m = maps[s]
        image = ax.imshow(np.ma.masked_less_equal(m, 0), norm=norm, cmap=cmap, origin="lower",
                          aspect="auto", interpolation="nearest",
                          extent=(ts[0] - 0.5, ts[-1] + 0.5, layers[0] - 0.5, layers[-1] + 0.5))
        ax.set_title(describe(s, [run]), loc="left", fontsize=12)
        ax.set_ylabel("layer d")
        ax.yaxis.set_major_locator(MaxNLocator(nbins=min(len(layers), 6), integer=True))
        ax.grid(False)
    where = "the loss is read at t = T" if scores(run) == "last" else "the loss is read at every step"
    grey = "; grey: exactly 0" if (values == 0).any() else ""
    axes[-1].set_xlabel(f"timestep t (steps; {where}{grey})")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    assert image is not None  # one image per state, and there is at least one state
    bar = fig.colorbar(image, ax=list(axes), location="right", shrink=0.95,
                       ticks=LogLocator(base=10, numticks=12), format=LogFormatterSciNotation())
    bar.set_label("‖∂ℓ/∂state[t, d]‖₂ (log scale)")  # the ticks are the norms, 10^k
    fig.suptitle(f"Gradient norm over time × depth: {run_label(run)} on {run.task} (weights of step {step})")
    return fig


def profiles_figure(run: RunFolder, state: str = "h", layer: Optional[int] = None,
                    x_axis: str = "auto", max_lines: int = 8) -> Figure:
    """The profiles recorded during training: one line per training step, light (early) to dark."""
    table = run.gradients(PROFILES)
    lay = pick_layer(run, table, state, layer, PROFILES)
    x_axis = resolve_x_axis([run], x_axis)
    steps = table.steps
    if len(steps) > max_lines:
        steps = [steps[int(round(i))] for i in np.linspace(0, len(steps) - 1, max_lines)]
    fig = new_figure(11, 5.2)
    ax = fig.add_subplot()
    ax.set_yscale("log")
    cmap = mpl.colormaps["viridis_r"]
    any_band = any_zero = False
    for i, step in enumerate(steps):
        curve = table.curve(state, lay, step)
        color = cmap(0.15 + 0.8 * i / max(len(steps) - 1, 1))
        _, band, zero = draw_curve(ax, x_values(curve, x_axis), curve, color, f"step {step}")
        any_band, any_zero = any_band or band, any_zero or zero
    where = "input" if state == "x" else f"layer {lay}"
    ax.set_title(f"Gradient profile during training: {run_label(run)} on {run.task}")
    ax.set_xlabel(x_label(x_axis))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    sym = "x" if state == "x" else state.replace("_depth", "′")
    ax.set_ylabel(f"‖∂ℓ/∂{sym}[t]‖₂, {where}\n(per example, batch mean; log scale)")
    seeds = {len(set(table.seed[table.step == s].tolist())) for s in steps}
    legend_outside(fig, ax, any_band, any_zero, title="training step",
                   seeds=next(iter(seeds)) if len(seeds) == 1 else None)
    return fig


def profiles_compare_figure(runs: list[RunFolder], state: str = "h", x_axis: str = "auto") -> Figure:
    """Several runs' recorded profiles (profiles.csv) on one axis: each run at its first recorded
    training step (dotted) and its last (solid), top layer — Arjovsky et al. 2016's figure 4."""
    task = single_task(runs, "profiles")
    x_axis = resolve_x_axis(runs, x_axis)
    fig = new_figure(11, 5.2)
    ax = fig.add_subplot()
    ax.set_yscale("log")
    any_band = any_zero = False
    for run, color, label in zip(runs, run_colors(runs), run_labels(runs), strict=True):
        table = run.gradients(PROFILES)
        lay = pick_layer(run, table, state, None, PROFILES)
        for step, ls in ((table.steps[0], ":"), (table.steps[-1], "-")):
            curve = table.curve(state, lay, step)
            line, band, zero = draw_curve(ax, x_values(curve, x_axis), curve, color, f"{label}, step {step}")
            line.set_linestyle(ls)  # type: ignore[arg-type]  # ':' and '-' are in matplotlib's Literal
            any_band, any_zero = any_band or band, any_zero or zero
    lengths = sorted({r.length for r in runs})
    ax.set_title(f"Gradient over time before and after training: {task}, {task_parameter(task, lengths)}")
    ax.set_xlabel(x_label(x_axis))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"‖∂ℓ/∂{state.replace('_depth', '′')}[t]‖₂, top layer\n(per example, batch mean; log scale)")
    legend_outside(fig, ax, any_band, any_zero, title="run, training step (dotted: first, solid: last)")
    return fig
