"""Learning curves from metrics.csv: loss (and metric) against training step for several runs.

Every loss is drawn next to its task's chance baseline (the loss of the best input-blind predictor,
tasks.py) as a dashed line, and the success threshold as a dotted one.  For ``adding`` the metric
is the MSE itself, so one panel holds loss, chance and threshold; other tasks get a second panel
for the metric (accuracy).
"""
from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gridlstm.errors import GridlstmError
from gridlstm.results.collect import single_task, task_facts
from gridlstm.runs.run import RunFolder

from .style import fitting_columns, legend_below, new_figure, run_colors, run_labels, task_parameter


def split_rows(run: RunFolder, split: str) -> tuple[list[int], list[float], list[float]]:
    rows = [r for r in run.metric_values() if r["split"] == split and r["loss"] is not None]
    return [r["step"] for r in rows], [r["loss"] for r in rows], [r["metric"] for r in rows]


def _style_keys(ax: Axes) -> list[tuple[Line2D, str]]:
    return [(Line2D([], [], color="0.3", lw=1.0, alpha=0.6), "train (batch)"),
            (Line2D([], [], color="0.3", lw=2.2, marker="o", ms=4), "eval (held-out set)")]


def loss_figure(runs: list[RunFolder]) -> Figure:
    task = single_task(runs, "loss")
    facts = [task_facts(r) for r in runs]
    if any(not split_rows(r, "eval")[0] and not split_rows(r, "train")[0] for r in runs):
        bare = next(r for r in runs if not split_rows(r, "eval")[0] and not split_rows(r, "train")[0])
        raise GridlstmError(f"{bare.path}/metrics.csv has no logged steps yet "
                            "(train it further with: gridlstm train CONFIG)")
    metric_is_loss = facts[0]["metric_is_loss"]
    fig = new_figure(12 if not metric_is_loss else 11, 5.2)
    axes = fig.subplots(1, 1 if metric_is_loss else 2, squeeze=False)[0]
    loss_ax = axes[0]
    colors = run_colors(runs)
    for run, color, label in zip(runs, colors, run_labels(runs), strict=True):
        ts, tl, tm = split_rows(run, "train")
        es, el, em = split_rows(run, "eval")
        loss_ax.plot(ts, tl, color=color, lw=1.0, alpha=0.6, gid="train", label="_train")
        loss_ax.plot(es, el, color=color, lw=2.2, marker="o", ms=4, gid="eval", label=label)
        if not metric_is_loss:
            axes[1].plot(es, em, color=color, lw=2.2, marker="o", ms=4, gid="eval", label="_eval")
            axes[1].plot(ts, tm, color=color, lw=1.0, alpha=0.6, gid="train", label="_train")
    extra: list[tuple[Line2D, str]] = []
    chances = sorted({round(f["chance"], 9): f["chance"] for f in facts}.values())
    for chance in chances:
        loss_ax.axhline(chance, color="black", ls="--", lw=1.4, gid="chance")
        loss_ax.annotate(f"chance {chance:.4g}", (1.0, chance), xycoords=("axes fraction", "data"),
                         ha="right", va="bottom", fontsize=10, xytext=(-4, 2), textcoords="offset points")
    extra.append((Line2D([], [], color="black", ls="--", lw=1.4), "chance baseline (input-blind)"))
    f0 = facts[0]
    sign = "≥" if f0["higher"] else "≤"
    target_ax = loss_ax if metric_is_loss else axes[1]
    targets = sorted({f["target"] for f in facts})
    for target in targets:
        target_ax.axhline(target, color="0.35", ls=":", lw=1.8, gid="target")
    extra.append((Line2D([], [], color="0.35", ls=":", lw=1.8),
                  f"success: {f0['metric']} {sign} {', '.join(f'{t:g}' for t in targets)}"))
    lengths = sorted({r.length for r in runs})
    # Log y when the losses span more than a decade (with the threshold); linear ticks read better
    # for a loss that stays within a factor of a few of chance.
    values = [v for line in loss_ax.get_lines() for v in line.get_ydata() if v > 0] + chances
    if metric_is_loss:
        values += targets
    log = max(values) / min(values) > 10
    if log:
        loss_ax.set_yscale("log")
    scale = "log scale" if log else "linear"
    loss_ax.set_xlabel("training step")
    loss_ax.set_ylabel(f"MSE ({scale})" if metric_is_loss else f"cross-entropy (nats, {scale})")
    if not metric_is_loss:
        loss_ax.set_title("loss")
    if not metric_is_loss:
        axes[1].set_xlabel("training step")
        axes[1].set_ylabel(f"{f0['metric']} (fraction)")
        axes[1].set_title(f0["metric"])
        axes[1].set_ylim(-0.02, 1.02)
    fig.suptitle(f"Learning curves: {task}, {task_parameter(task, lengths)}")
    handles, texts = loss_ax.get_legend_handles_labels()
    ncols = min(max(len(handles), 2), 4, fitting_columns(fig, texts))
    handles += [Line2D([], [], alpha=0)] * (-len(handles) % ncols)  # runs on their own row(s)
    texts += [""] * (len(handles) - len(texts))
    for h, t in _style_keys(loss_ax) + extra:
        handles.append(h)
        texts.append(t)
    legend_below(fig, handles, texts, ncols=ncols)
    return fig
