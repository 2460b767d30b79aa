"""A sweep's results: the report over its runs, grouped by the axes, and three figures.

    report.csv    one row per finished run (report.py's columns) plus its axis values
    results.csv   one row per group (every swept key but the seed): runs, failed, and
                  mean and sample std over the seeds of eval loss, metric and gradient slope,
                  the success rate (solved / finished) and the chance loss
    results.md    the same, "mean ± std"
    plots/final_loss.png      eval loss vs the x axis, one line per series, chance dashed
    plots/success_rate.png    fraction of seeds that reached the target vs the x axis
    plots/gradient_slope.png  decay slope of ‖∂ℓ/∂h‖ (top layer, decades per step back) vs the x
                              axis; only when the runs have gradients/summary.csv

A series is one combination of the swept keys other than x and the seed (e.g. model.kind).
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Optional

import numpy as np
from matplotlib.ticker import NullLocator

from gridlstm.formatting import markdown_table, show, sig
from gridlstm.nn import registry
from gridlstm.plots.style import new_figure, save, style
from gridlstm.results.collect import finite
from gridlstm.results.report import KEYS as REPORT_KEYS
from gridlstm.results.report import collect_rows
from gridlstm.runs.folder import atomic_write_text
from gridlstm.runs.records import Status
from gridlstm.runs.run import RunFolder

from .folder import DONE, run_dir, run_state
from .spec import Sweep

STATS = ("eval_loss", "eval_metric", "grad_slope")
FIGURES = ("final_loss.png", "success_rate.png", "gradient_slope.png")


def read_run(path: Path) -> dict[str, Any]:
    """One finished run as a report row (report.py): the one place a run folder is read here."""
    return collect_rows([RunFolder.read(path)])[0]


def mean_std(values: list[Any]) -> tuple[Optional[float], Optional[float]]:
    """Mean and sample standard deviation (ddof=1) of the finite values; None where undefined."""
    xs = [float(v) for v in values if finite(v)]
    if not xs:
        return None, None
    return float(np.mean(xs)), (float(np.std(xs, ddof=1)) if len(xs) > 1 else None)


def collect(sweep: Sweep, sweep_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(per-run rows of finished runs, grouped rows), both in the sweep's run order."""
    per_run: list[dict[str, Any]] = []
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for r in sweep.runs:
        key = tuple(show(r.values[k]) for k in sweep.group_keys)
        g = groups.setdefault(key, {**dict(zip(sweep.group_keys, key, strict=True)), "runs": 0, "finished": 0,
                                    "failed": 0, "_rows": []})
        g["runs"] += 1
        state = run_state(run_dir(sweep_dir, r.id))
        if state in DONE:
            row = {**{k: show(v) for k, v in r.values.items()}, **read_run(run_dir(sweep_dir, r.id))}
            per_run.append(row)
            g["finished"] += 1
            g["_rows"].append(row)
        elif state == Status.FAILED:
            g["failed"] += 1
    grouped = []
    for g in groups.values():
        rows = g.pop("_rows")
        for s in STATS:
            g[f"{s}_mean"], g[f"{s}_std"] = mean_std([x[s] for x in rows])
        g["chance"] = mean_std([x["chance"] for x in rows])[0]
        g["metric_name"] = rows[0]["metric_name"] if rows else None
        g["success_rate"] = (sum(bool(x["solved"]) for x in rows) / len(rows)) if rows else None
        g["params"] = rows[0]["params"] if rows else None
        g["wall_seconds_mean"] = mean_std([x["wall_seconds"] for x in rows])[0]
        grouped.append(g)
    return per_run, grouped


# ----------------------------------------------------------------------------- tables


def _pm(g: dict[str, Any], stat: str) -> str:
    m, s = g[f"{stat}_mean"], g[f"{stat}_std"]
    if m is None:
        return ""
    return f"{m:.4g} ± {s:.2g}" if s is not None else f"{m:.4g}"


def _runs_cell(g: dict[str, Any]) -> str:
    cell = f"{g['finished']}/{g['runs']}"
    return cell + (f" ({g['failed']} failed)" if g["failed"] else "")


def table_rows(sweep: Sweep, grouped: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Headers and cells of the grouped table (shared by markdown and rich)."""
    headers = [*sweep.group_keys, "runs", "params", "eval loss", "chance", "metric", "success",
               "h slope (dec/step)", "wall (s)"]
    rows = []
    for g in grouped:
        metric = f"{g['metric_name']} {_pm(g, 'eval_metric')}" if g["metric_name"] else ""
        success = f"{g['success_rate']:.0%}" if g["success_rate"] is not None else ""
        rows.append([*(g[k] for k in sweep.group_keys), _runs_cell(g),
                     f"{g['params']:,}" if isinstance(g["params"], int) else "",
                     _pm(g, "eval_loss"), sig(g["chance"]), metric, success, _pm(g, "grad_slope"),
                     sig(g["wall_seconds_mean"], 3)])
    return headers, rows


def to_markdown(sweep: Sweep, grouped: list[dict[str, Any]]) -> str:
    return markdown_table(*table_rows(sweep, grouped))


def grouped_csv(sweep: Sweep, grouped: list[dict[str, Any]]) -> str:
    fields = [*sweep.group_keys, "runs", "finished", "failed", "params", "eval_loss_mean", "eval_loss_std",
              "chance", "metric_name", "eval_metric_mean", "eval_metric_std", "success_rate",
              "grad_slope_mean", "grad_slope_std", "wall_seconds_mean"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows([{k: ("" if g.get(k) is None else g.get(k)) for k in fields} for g in grouped])
    return buf.getvalue()


# ----------------------------------------------------------------------------- figures


def _series(sweep: Sweep, grouped: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Groups split into lines: one per combination of the non-x group keys."""
    others = [k for k in sweep.group_keys if k != x_key(sweep)]
    out: dict[str, list[dict[str, Any]]] = {}
    for g in grouped:
        label = ", ".join(f"{k.rsplit('.', 1)[-1]}={g[k]}" for k in others) or "all runs"
        out.setdefault(label, []).append(g)
    return out


def x_key(sweep: Sweep) -> str:
    """The swept key on the x axis (a sweep is drawn only when it has one)."""
    assert sweep.plot_x is not None
    return sweep.plot_x


def _x_positions(sweep: Sweep) -> tuple[dict[str, float], bool, list[str], bool]:
    """x value (as shown) → position; log axis?; the labels in order; numeric (else categories)?"""
    labels = list(dict.fromkeys(show(r.values[x_key(sweep)]) for r in sweep.runs))
    raw = list(dict.fromkeys(r.values[x_key(sweep)] for r in sweep.runs))
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw)
    if numeric:
        log = min(raw) > 0 and max(raw) / min(raw) >= 8
        return {show(v): float(v) for v in raw}, log, labels, True
    return {lab: float(i) for i, lab in enumerate(labels)}, False, labels, False


def _color(label: str, i: int) -> Any:
    kind = label.split("kind=", 1)[1].split(",", 1)[0] if "kind=" in label else None
    return registry.colors(kind)[0] if kind in registry.kinds() and label.count("=") == 1 else f"C{i}"


MARKERS = "osD^vP*X"


def _axis_figure(sweep: Sweep, grouped: list[dict[str, Any]], stat: str, ylabel: str, title: str,
                 chance: bool = False, log_y: bool = False, dodge: bool = False):
    """One line per series of ``stat`` (mean ± std over seeds) against the sweep's x axis.

    ``dodge`` shifts the series slightly apart along x, so that equal values (a success rate of 0
    for every model) stay visible."""
    pos, log_x, labels, numeric = _x_positions(sweep)
    series = _series(sweep, grouped)
    fig = new_figure(6.4, 4.2)
    ax = fig.add_subplot()
    for i, (label, gs) in enumerate(series.items()):
        shift = (i - (len(series) - 1) / 2) * 0.025 if dodge else 0.0
        value = (lambda g: g[stat]) if stat == "success_rate" else (lambda g: g[f"{stat}_mean"])
        pts = sorted((pos[g[x_key(sweep)]], value(g), g.get(f"{stat}_std") or 0.0)
                     for g in gs if finite(value(g)))
        if not pts:
            continue
        x, y, e = (np.array(v) for v in zip(*pts, strict=True))
        x = x * 10 ** shift if log_x else x + shift * (max(pos.values()) - min(pos.values()) or 1.0)
        ax.errorbar(x, y, yerr=None if stat == "success_rate" else e, marker=MARKERS[i % len(MARKERS)],
                    capsize=3, label=label, color=_color(label, i),
                    linestyle="-" if numeric else "none")  # no line between categories
    if chance:
        by_x: dict[float, list[float]] = {}
        for g in grouped:
            if finite(g["chance"]):
                by_x.setdefault(pos[g[x_key(sweep)]], []).append(g["chance"])
        if by_x:
            xs = sorted(by_x)
            ax.plot(xs, [float(np.mean(by_x[x])) for x in xs], "k--", lw=1.2, label="chance")
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.set_xticks(sorted(pos.values()), sorted(labels, key=lambda v: pos[v]))
    ax.xaxis.set_minor_locator(NullLocator())
    if not numeric:
        ax.set_xlim(-0.5, len(labels) - 0.5)
    ax.set_xlabel(x_key(sweep))
    ax.set_ylabel(ylabel)
    seeds = len({r.values["seed"] for r in sweep.runs}) if "seed" in sweep.keys else 0
    spread = f"mean ± std over {seeds} seeds" if seeds > 1 else ""
    if stat == "success_rate":
        spread = f"fraction of {seeds} seeds" if seeds > 1 else ""
    ax.set_title(title + (f"\n{spread}" if spread else ""), fontsize=12)
    ax.legend()
    return fig


def figures(sweep: Sweep, grouped: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """The sweep's figures in ``out_dir``; the gradient figure only where slopes were measured."""
    if sweep.plot_x is None or not any(g["finished"] for g in grouped):
        return []
    metric = next((g["metric_name"] for g in grouped if g["metric_name"]), "metric")
    losses = [v for g in grouped for v in (g["eval_loss_mean"], g["chance"]) if finite(v)]
    log_loss = bool(losses) and min(losses) > 0 and max(losses) / min(losses) >= 10  # spans a decade
    paths = []
    with style():
        paths.append(save(_axis_figure(sweep, grouped, "eval_loss", "final eval loss",
                                       "Final held-out loss", chance=True, log_y=log_loss),
                          out_dir / FIGURES[0]))
        fig = _axis_figure(sweep, grouped, "success_rate", f"success rate ({metric} reaches target)",
                           "Runs that reached the target", dodge=True)
        fig.axes[0].set_ylim(-0.05, 1.05)
        paths.append(save(fig, out_dir / FIGURES[1]))
        if any(finite(g["grad_slope_mean"]) for g in grouped):
            fig = _axis_figure(sweep, grouped, "grad_slope", "decay slope of ‖∂ℓ/∂h‖ (decades / step back)",
                               "Gradient decay after training (top layer)")
            fig.axes[0].axhline(0.0, color="grey", lw=0.8)
            paths.append(save(fig, out_dir / FIGURES[2]))
    return paths


def write_results(sweep: Sweep, sweep_dir: Path) -> tuple[list[dict[str, Any]], list[Path]]:
    """report.csv, results.csv, results.md and the figures; returns (grouped rows, written paths)."""
    per_run, grouped = collect(sweep, sweep_dir)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[*sweep.keys, *REPORT_KEYS], lineterminator="\n")
    writer.writeheader()
    writer.writerows([{k: ("" if v is None else v) for k, v in row.items()} for row in per_run])
    atomic_write_text(sweep_dir / "report.csv", buf.getvalue())
    atomic_write_text(sweep_dir / "results.csv", grouped_csv(sweep, grouped))
    atomic_write_text(sweep_dir / "results.md", to_markdown(sweep, grouped))
    paths = [sweep_dir / n for n in ("report.csv", "results.csv", "results.md")]
    return grouped, paths + figures(sweep, grouped, sweep_dir / "plots")
