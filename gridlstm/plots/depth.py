"""Depth profiles: ‖∂ℓ/∂state[t*, d]‖ against layer d at the scored step (probe/depth.py).

All runs share one axis, one line per run and state kind (colour: the run; solid: hidden states,
dashed: memories), log-y, median over measurement seeds with a min–max band. A log axis cannot
show what is not a positive float32, so two marks sit on the bottom edge:

    ▼  underflow: the median falls below FLT_MIN (float32 tiny, 1.18e-38, the threshold of the
       gradcheck table); drawn at the highest layer where it does
    ○  structurally zero: the state has no path to the loss at that layer (e.g. the paper grid's
       time h and m at t = T); never called underflow

``mean_t`` adds a second panel with the profile averaged over t (the timesteps with a path to
the loss) instead of read at the scored step.
"""
from __future__ import annotations

from typing import Optional

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from gridlstm.errors import ParamError
from gridlstm.nn import registry
from gridlstm.probe.depth import FLT_MIN, DepthProfile, depth_profile, depth_states
from gridlstm.results.collect import single_task
from gridlstm.results.differ import model_labels
from gridlstm.runs.layout import GRADIENTS, PROFILES
from gridlstm.runs.run import RunFolder

from .gradients import describe, symbol
from .style import legend_below, new_figure, run_colors, run_markers, style, task_parameter


def layers_of(run: RunFolder) -> int:
    return int(run.config_data()["model"]["layers"])


def draw_profile(ax: Axes, profile: DepthProfile, color, label: str,
                 memory: bool = False, marker: str = "o") -> tuple[bool, bool, bool]:
    """One line (median over seeds, positive float32 values only; dashed for a ``memory``), its
    band, and the bottom-edge marks. Returns (band drawn, underflow marked, structural zero marked)."""
    x, mid = profile.layers, profile.mid
    structural, underflow = profile.structural, profile.underflow
    shown = ~structural & ~underflow
    style = "--" if memory else "-"
    ax.plot(x, np.where(shown, mid, np.nan), color=color, ls=style, lw=2.0, marker=marker, ms=4.5,
            markevery=max(1, len(x) // 12),
            label=label, gid="curve")
    band = profile.seeds > 1
    if band:
        lo, hi = profile.lo, profile.hi
        ax.fill_between(x, np.where(shown & (lo >= FLT_MIN), lo, np.nan),
                        np.where(shown & (hi >= FLT_MIN), hi, np.nan), color=color, alpha=0.15, lw=0)
    edge = mpl.transforms.blended_transform_factory(ax.transData, ax.transAxes)
    if underflow.any():
        first = x[np.flatnonzero(underflow)[-1]]  # the highest layer (nearest the loss) that underflows
        ax.plot([first], [0.0], transform=edge, marker="v", ms=11, color=color, ls="none",
                clip_on=False, gid="underflow", label="_underflow")
    if structural.any():
        ax.plot(x[structural], np.zeros(int(structural.sum())), transform=edge, marker="o", ms=7,
                mfc="none", mec=color, ls="none", clip_on=False, gid="structural", label="_structural")
    return band, bool(underflow.any()), bool(structural.any())


def _states(run: RunFolder, available: list[str], state: Optional[str]) -> list[str]:
    if state is None:
        return depth_states(available, run.config_data()["model"])
    if state not in available:
        raise ParamError("state", state, f"{run.path} has no such state in its gradients.csv; expected "
                         f"one of {', '.join(available)}")
    return [state]


def depth_axes(ax: Axes, runs: list[RunFolder], state: Optional[str], over: str, colors,
               source: str = GRADIENTS, when: str = "last") -> tuple[bool, bool, bool]:
    """Draw every run's depth profiles on ``ax``; returns which marks were used. ``source``:
    gradients.csv (gradcheck) or profiles.csv (recorded while training); ``when``: the first or
    the last training step the file holds."""
    marks = [False, False, False]
    ax.set_yscale("log")
    labels = model_labels(runs)
    for run, color, marker, label in zip(runs, colors, run_markers(runs), labels, strict=True):
        table = run.gradients(source)
        if labels.count(label) > 1:
            label += f" ({run.path.name[-4:]})"
        step = table.steps[0] if when == "first" else table.steps[-1]
        for s in _states(run, [x for x in table.states if x != "x"], state):
            profile = depth_profile(table, s, over, step)
            used = draw_profile(ax, profile, color, f"{label}: {symbol(s, [run])}",
                                registry.is_memory(run.config_data()["model"], s), marker)
            marks = [a or b for a, b in zip(marks, used, strict=True)]
    ax.set_xlabel("layer d (1 = bottom)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return marks[0], marks[1], marks[2]


def depth_legend(fig: Figure, ax: Axes, band: bool, underflow: bool, structural: bool,
                 seeds: Optional[int], title: str) -> None:
    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="0.3", ls="-"), Line2D([], [], color="0.3", ls="--")]
    labels += ["solid: hidden state", "dashed: memory"]
    if band:
        handles.append(Patch(color="0.6", alpha=0.4))
        labels.append(f"line: median, band: min–max over {seeds or 'the'} seeds")
    if underflow:
        handles.append(Line2D([], [], marker="v", ms=10, color="0.3", ls="none"))
        labels.append(f"underflow (g < FLT_MIN = {FLT_MIN:.3g}) from here down")
    if structural:
        handles.append(Line2D([], [], marker="o", ms=7, mfc="none", mec="0.3", ls="none"))
        labels.append("structurally 0: no path to the loss")
    legend_below(fig, handles, labels, ncols=3, title=title)


def depth_figure(runs: list[RunFolder], state: Optional[str] = None, mean_t: bool = False) -> Figure:
    """g against layer at the scored step for every run and state kind on one axis, log-y."""
    task = single_task(runs, "depth")
    colors = run_colors(runs)
    fig = new_figure(12 if mean_t else 11, 6.0)
    panels = fig.subplots(1, 2 if mean_t else 1, squeeze=False, sharey=True)[0]
    marks = [False, False, False]
    for ax, over in zip(panels, ("scored", "mean"), strict=False):
        used = depth_axes(ax, runs, state, over, colors)
        marks = [a or b for a, b in zip(marks, used, strict=True)]
        ax.set_title("at the scored step t = T" if over == "scored" else "mean over t (steps with a path "
                     "to the loss)", fontsize=12)
    what = "depth-carrying states" if state is None else describe(state, runs)
    panels[0].set_ylabel("‖∂ℓ/∂state[t, d]‖₂ (per example, batch mean; log scale)")
    fig.suptitle(f"How far down the gradient reaches: {task}, {task_parameter(task, [r.length for r in runs])} "
                 f"({what})")
    seeds = {len(set(r.gradients().seed.tolist())) for r in runs}
    depth_legend(fig, panels[0], marks[0], marks[1], marks[2],
                 next(iter(seeds)) if len(seeds) == 1 else None, title="run: state")
    return fig


def study_figure(runs: list[RunFolder]) -> Figure:
    """The depth study: one panel per depth D (each with its own y range), every model's
    depth-carrying states at the scored step on each."""
    with style():
        depths = sorted({layers_of(r) for r in runs})
        fig = new_figure(min(6.0 * len(depths), 18), 6.6)
        # per-panel y limits: at D = 64 the gradient spans tens of decades more than at D = 4, and a
        # shared axis squeezed the shallow panels into a sliver
        panels = fig.subplots(1, len(depths), squeeze=False, sharey=False)[0]
        marks = [False, False, False]
        for ax, D in zip(panels, depths, strict=True):
            group = [r for r in runs if layers_of(r) == D]
            used = depth_axes(ax, group, None, "scored", run_colors(group))
            marks = [a or b for a, b in zip(marks, used, strict=True)]
            ax.set_title(f"D = {D}", fontsize=12)
        panels[0].set_ylabel("‖∂ℓ/∂state[T, d]‖₂ (per example, batch mean; log scale)")
        first = [r for r in runs if layers_of(r) == depths[0]]
        for line in panels[0].get_lines():  # the legend names models, not one depth's runs
            line.set_label(line.get_label().replace(f" D={depths[0]}", ""))
        task, lengths = runs[0].task, sorted({r.length for r in runs})
        fig.suptitle(f"Gradient along depth at initialisation: {task}, {task_parameter(task, lengths)}, "
                     "scored step t = T; each panel its own y range")
        seeds = {len(set(r.gradients().seed.tolist())) for r in first}
        depth_legend(fig, panels[0], marks[0], marks[1], marks[2],
                     next(iter(seeds)) if len(seeds) == 1 else None, title="model: state")
    return fig


def before_after_figure(runs: list[RunFolder]) -> Figure:
    """Two panels from the profiles recorded while training (profiles.csv): the depth profile at
    the first recorded step (initialisation) and at the last (the trained weights), same y axis."""
    with style():
        fig = new_figure(13, 6.0)
        panels = fig.subplots(1, 2, squeeze=False, sharey=True)[0]
        colors = run_colors(runs)
        marks = [False, False, False]
        for ax, when in zip(panels, ("first", "last"), strict=True):
            used = depth_axes(ax, runs, None, "scored", colors, PROFILES, when)
            marks = [a or b for a, b in zip(marks, used, strict=True)]
            steps = sorted({(r.gradients(PROFILES).steps[0 if when == "first" else -1]) for r in runs})
            ax.set_title(("before training" if when == "first" else "after training")
                         + f" (step {', '.join(map(str, steps))})", fontsize=12)
        panels[0].set_ylabel("‖∂ℓ/∂state[T, d]‖₂ (per example, batch mean; log scale)")
        fig.suptitle(f"Gradient along depth before and after training: {runs[0].task}, scored step t = T")
        depth_legend(fig, panels[0], marks[0], marks[1], marks[2], None, title="run: state")
    return fig
