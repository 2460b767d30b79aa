"""The Lyapunov spectrum (gradients/spectrum.csv, probe/spectrum_summary.py): exponent λ_i/ln 10
against its index i, one line per run and axis, every run on one shared axis.

    time   solid, decades per step back (the backward time map of the whole carried state)
    depth  dashed, decades per layer down (the depth Jacobians at the scored step)

Each line is the mean over the examples and seeds measured, its band ± the spread over examples.
The top exponent of time is the slope predicted for every measured gradient profile.
"""
from __future__ import annotations

import csv

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from gridlstm.errors import GridlstmError
from gridlstm.runs.run import RunFolder

from .style import legend_below, new_figure, run_colors, run_labels

DASHES = {"time": "-", "depth": "--"}


def read_spectrum(run: RunFolder) -> dict[str, np.ndarray]:
    """axis → (K, 2) rows of (decades, spread over examples) by exponent index."""
    path = run.gradient_file("spectrum.csv")
    if not path.is_file():
        raise GridlstmError(f"{run.path} has no spectrum.csv (make it with: gridlstm gradcheck {run.path} "
                            "--spectrum)")
    out: dict[str, list[tuple[float, float]]] = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            try:
                out.setdefault(r["axis"], []).append((float(r["decades"]), float(r["decades_std_examples"])))
            except (KeyError, ValueError):
                raise GridlstmError(f"{path} is not a spectrum table (axis, index, decades, ...): "
                                    "rewrite it with gridlstm gradcheck --spectrum") from None
    return {a: np.array(v) for a, v in out.items()}


def spectrum_figure(runs: list[RunFolder]) -> Figure:
    """One axes: λ_i/ln 10 against i for every run (colour) and axis (line style)."""
    spectra = [read_spectrum(r) for r in runs]
    fig = new_figure(9.0, 5.2)
    ax = fig.add_subplot()
    handles, labels = [], []
    for run_spec, label, color in zip(spectra, run_labels(runs), run_colors(runs), strict=True):
        for axis, rows in ((a, r) for a, r in run_spec.items() if a in DASHES):
            i = np.arange(1, len(rows) + 1)
            ax.fill_between(i, rows[:, 0] - rows[:, 1], rows[:, 0] + rows[:, 1], color=color, alpha=0.15, lw=0)
            (line,) = ax.plot(i, rows[:, 0], DASHES.get(axis, ":"), color=color, marker="o", ms=3)
            handles.append(line)
            labels.append(f"{label} ({axis})")
    ax.axhline(0.0, color="0.4", lw=0.8)
    ax.set_xlabel("exponent index i (1 = the top one)")
    ax.set_ylabel("λᵢ / ln 10  (decades per step; per layer along depth)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if max((len(r) for spec in spectra for a, r in spec.items() if a in DASHES), default=1) == 1:  # K = 1
        ax.set_xlim(0.5, 1.5)
        ax.set_xticks([1])                     # one integer tick, not a fractional axis around it
    ax.set_title("Lyapunov spectrum of the backward Jacobians (band: ± spread over examples)")
    handles += [Line2D([], [], color="0.3", ls=ls) for ls in DASHES.values()]
    labels += [f"— {a}" for a in DASHES]
    legend_below(fig, handles, labels, ncols=3)
    return fig


def study_figure(panels: list[tuple]) -> Figure:
    """The spectrum study's figure: one panel per axis (time: decades per step; depth: per layer),
    one colour per entry, solid at initialisation and dashed after training.  panels: (entry, the
    init folder, the trained run folder) in order (studies/spectrum.py)."""
    import matplotlib as mpl

    from gridlstm.nn.registry import colors as kind_colors

    axes_used = [a for a in DASHES if any(e.axis == a for e, _, _ in panels)]
    fig = new_figure(6.0 * len(axes_used), 5.0)
    axes = {a: fig.add_subplot(1, len(axes_used), i + 1) for i, a in enumerate(axes_used)}
    handles, labels = [], []
    shade: dict[str, int] = {}
    for entry, init, trained in panels:
        kind = entry.config.model.kind
        base, cmap = kind_colors(kind)
        i = shade[kind] = shade.get(kind, -1) + 1
        color: str | tuple[float, float, float, float] = mpl.colormaps[cmap](0.9 - 0.3 * i) if i else base
        ax = axes[entry.axis]
        for folder, ls, stage in ((init, "-", "init"), (trained, "--", "trained")):
            rows = read_spectrum(RunFolder.read(folder))[entry.axis]
            (line,) = ax.plot(np.arange(1, len(rows) + 1), rows[:, 0], ls, color=color, marker="o", ms=3)
            if stage == "init":
                handles.append(line)
                labels.append(entry.name)
    for a, ax in axes.items():
        ax.axhline(0.0, color="0.4", lw=0.8)
        ax.set_xlabel("exponent index i")
        ax.set_ylabel("λᵢ / ln 10, decades per " + ("step" if a == "time" else "layer"))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"along {a}")
    handles += [Line2D([], [], color="0.3", ls="-"), Line2D([], [], color="0.3", ls="--")]
    labels += ["at initialisation", "after training"]
    legend_below(fig, handles, labels, ncols=4)
    return fig
