"""``gridlstm report``: one comparison table, one row per run, from the files in the run folders.

    summary.json            status, task, T, model, variant, tied, D, H, params, steps, wall time,
                            final eval loss, chance (the loss on the held-out set of the
                            population's best constant, chance_heldout; the task's analytic
                            chance for runs without it), metric, solved (a run still training, or
                            killed: config.yaml and the last eval row of metrics.csv; a gradcheck
                            of a config: config.yaml, status "untrained")
    gradients/summary.csv   decay slope (decades per step back) and first/last ratio of the
                            top layer's time hidden state h; blank when the run has no gradients
    gradients/summary.csv   with gradcheck's spectrum: the predicted slope λ₁/ln 10 beside it
    gradients/depth.csv     with the spectrum: the predicted decades lost per layer, −λ₁/ln 10 of
                            the depth Jacobians by QR (of the hidden state's row)
    gradients/gradients.csv depth: decades lost per layer from the top layer to layer 1 at the
                            scored step, of h (rnn, lstm) or the grid's depth hidden state h′,
                            mean over measurement seeds (probe/depth.py); a lower bound when
                            the gradient underflows (g < FLT_MIN) before layer 1

    config.yaml             every config key whose value differs between the selected runs
                            (differ.py), as a column named by the dotted key (``train.lr``)

Formats: rich (terminal), md (GitHub pipe table), csv (raw numbers, machine-readable) and latex
(booktabs tabular); these keep every column (the fixed ones, then the differing config keys).
The rich view shows what differs: the run, the differing config keys and a few results (VIEW),
with the shared config keys listed once above it; the measured decay slope and depth decay beside
their predictions where the runs have them.  ``--columns`` picks the columns of any format.
``--sort KEY`` orders by a column (a config key too), ``--sort -KEY`` descending; blanks last.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from typing import Any, Optional

from gridlstm.errors import GridlstmError, ParamError
from gridlstm.formatting import markdown_table
from gridlstm.nn import registry
from gridlstm.probe.depth import depth_hidden
from gridlstm.runs.run import RunFolder

from .collect import task_facts
from .columns import COLUMNS, FORMATS, KEYS, SAME_AS_COLUMN, VIEW, Column, finite  # noqa: F401  (FORMATS, KEYS: report's API)
from .depth import run_depth_decay
from .differ import configs, differing_keys, run_id, shared_items, short_names, value_text


@dataclass(frozen=True)
class Table:
    """Rows of a report and the config keys that differ between them (extra columns)."""

    rows: list[dict[str, Any]]
    config_keys: list[str]
    shared: dict[str, Any]

    def config_columns(self, repeated: bool = True) -> list[Column]:
        """A column per differing config key, headed by its last part unless a result column (or
        another key) has that header; ``repeated=False`` leaves out keys a result column shows."""
        names = short_names(self.config_keys)
        taken = {c.header for c in COLUMNS}
        names = {k: (k if n in taken else n) for k, n in names.items()}
        keys = [k for k in self.config_keys if repeated or k not in SAME_AS_COLUMN]
        return [Column(k, names[k], value_text, right=all(
            isinstance(r[k], (int, float)) and not isinstance(r[k], bool) for r in self.rows if r[k] is not None))
            for k in keys]

    def all_columns(self, repeated: bool = False) -> list[Column]:
        """Every result column, then the differing config keys (``repeated``: also those a result
        column shows already, as csv keeps them for a program reading it)."""
        return list(COLUMNS) + self.config_columns(repeated)

    def columns(self, chosen: Optional[list[str]] = None, view: bool = False,
                repeated: bool = False) -> list[Column]:
        """``chosen`` keys in that order; else every column, or (``view``) the rich view."""
        by_key = {c.key: c for c in (*COLUMNS, *self.config_columns())}  # any may be chosen
        if chosen:
            unknown = [k for k in chosen if k not in by_key]
            if unknown:
                raise ParamError("columns", ",".join(unknown), f"expected keys among {', '.join(by_key)}")
            return [by_key[k] for k in chosen]
        if not view:
            return self.all_columns(repeated)
        keys = ["run", *self.config_keys, *VIEW]
        if len({r["status"] for r in self.rows}) <= 1:
            keys.remove("status")
        if any(r["grad_predicted"] is not None for r in self.rows):  # measured slope beside its prediction
            keys += ["grad_slope", "grad_predicted"]
        if any(r["depth_decades_per_layer"] is not None for r in self.rows):
            keys.append("depth_decades_per_layer")
        if any(r["depth_predicted_per_layer"] is not None for r in self.rows):
            keys.append("depth_predicted_per_layer")
        metrics = {r["metric_name"] for r in self.rows}
        if len(metrics) == 1 and None not in metrics:  # one metric: its name heads the value column
            by_key["eval_metric"] = replace(by_key["eval_metric"], header=f"eval {metrics.pop()}")
        return [by_key[k] for k in keys]


def top_h_row(run: RunFolder) -> Optional[dict[str, Any]]:
    """The gradients/summary.csv row of the time hidden state h at the top layer, if any."""
    rows = run.gradient_summary()
    if not rows:
        return None
    h = [r for r in rows if r.get("state") == "h" and isinstance(r.get("layer"), int)]
    return max(h, key=lambda r: r["layer"]) if h else None


def depth_prediction(run: RunFolder) -> Optional[float]:
    """depth.csv's predicted decades lost per layer (the spectrum's) of the hidden depth carrier."""
    rows = run.gradient_depth()
    if not rows:
        return None
    want = depth_hidden([str(r["state"]) for r in rows if r.get("state")], run.config_data()["model"])
    value = next((r.get("predicted_per_layer") for r in rows if r.get("state") == want), None)
    return value if finite(value) else None


def run_summary(run: RunFolder) -> dict[str, Any]:
    """summary.json; for a run still training (or killed) the same keys from config.yaml and the
    last eval row of metrics.csv; for a gradcheck of a config (never trained) from config.yaml."""
    if run.summary_file.is_file():
        return run.summary_data()
    m, facts = run.config_data()["model"], task_facts(run)
    s: dict[str, Any] = {
        "status": run.meta_data().get("status", "unknown") if run.trained else "untrained",
        "task": run.task, "length": run.length, "model": m["kind"],
        "variant": registry.shown_variant(m["kind"], m.get("variant")), "tied": m.get("tied"),
        "layers": m.get("layers"), "hidden": m.get("hidden"), "chance": facts["chance"],
        "metric_name": facts["metric"], "steps": run.gradient_meta().get("step", 0) if not run.trained else None,
    }
    evals = [r for r in run.metric_values() if r["split"] == "eval"] if run.metrics_file.is_file() else []
    if evals:
        last = evals[-1]
        s.update(steps=last["step"], wall_seconds=last["seconds"], eval_loss=last["loss"],
                 eval_metric=last["metric"])
    return s


def report_row(run: RunFolder) -> dict[str, Any]:
    s = run_summary(run)
    # loss/chance against the population's best constant scored on the held-out set the eval loss
    # was measured on (summary.json chance_heldout); the analytic chance for older or running runs
    loss, chance = s.get("eval_loss"), s.get("chance_heldout") or s.get("chance")
    grad = top_h_row(run)
    depth = run_depth_decay(run)
    return {
        "run": run_id(run),
        "status": s.get("status"),
        "task": s.get("task"),
        "T": s.get("length"),
        "model": s.get("model"),
        "variant": registry.current_variant(s.get("variant")),
        "tied": s.get("tied"),
        "layers": s.get("layers"),
        "hidden": s.get("hidden"),
        "params": s.get("params"),
        "steps": s.get("steps"),
        "wall_seconds": s.get("wall_seconds"),
        "eval_loss": loss,
        "chance": chance,
        "loss_vs_chance": loss / chance if finite(loss) and finite(chance) and chance else None,
        "metric_name": s.get("metric_name"),
        "eval_metric": s.get("eval_metric"),
        "solved": s.get("solved"),
        "grad_slope": grad.get("slope_decades_per_step") if grad else None,
        "grad_predicted": grad.get("predicted_slope") if grad else None,
        "grad_ratio": grad.get("first_last_ratio") if grad else None,
        "depth_decades_per_layer": depth.per_layer if depth else None,
        "depth_predicted_per_layer": depth_prediction(run),
    }


def sort_rows(rows: list[dict[str, Any]], sort: Optional[str], extra: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    if not sort:
        return rows
    key, desc = (sort[1:], True) if sort.startswith("-") else (sort, False)
    if key not in KEYS + extra:
        raise ParamError("sort", sort, f"expected one of {', '.join(KEYS + extra)} (prefix - for descending)")
    present = [r for r in rows if r[key] is not None]
    blank = [r for r in rows if r[key] is None]
    return sorted(present, key=lambda r: (str(type(r[key])), r[key]), reverse=desc) + blank


def collect_table(runs: list[RunFolder], sort: Optional[str] = None) -> Table:
    """The report of ``runs``: fixed columns plus the config keys that differ between them."""
    flat = configs(runs)
    keys = differing_keys(flat)
    rows = [{**report_row(r), **{k: c.get(k) for k in keys}} for r, c in zip(runs, flat, strict=True)]
    return Table(sort_rows(rows, sort, tuple(keys)), keys, shared_items(flat))


def collect_rows(runs: list[RunFolder], sort: Optional[str] = None) -> list[dict[str, Any]]:
    return collect_table(runs, sort).rows


def cells(row: dict[str, Any], columns: Optional[list[Column]] = None) -> list[str]:
    return [c.fmt(row[c.key]) if row[c.key] is not None else "" for c in (columns or COLUMNS)]


def to_markdown(rows: list[dict[str, Any]], columns: list[Column]) -> str:
    return markdown_table([c.header for c in columns], [cells(r, columns) for r in rows],
                          [c.right for c in columns])


def to_csv(rows: list[dict[str, Any]], columns: list[Column]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([c.key for c in columns])
    for r in rows:
        writer.writerow(["" if r[c.key] is None else r[c.key] for c in columns])
    return buf.getvalue()


def _latex_escape(s: str) -> str:
    out = s.replace("\\", "\0")
    for a in "_%&#${}":
        out = out.replace(a, "\\" + a)
    return out.replace("\0", r"\textbackslash{}")


def to_latex(rows: list[dict[str, Any]], columns: list[Column]) -> str:
    spec = "".join("r" if c.right else "l" for c in columns)
    lines = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(_latex_escape(c.header) for c in columns) + r" \\", r"\midrule"]
    lines += [" & ".join(_latex_escape(x) for x in cells(r, columns)) + r" \\" for r in rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def render(table: Table | list[dict[str, Any]], fmt: str, chosen: Optional[list[str]] = None) -> str:
    """The table as text: md, csv or latex (the terminal's rich table is drawn by the CLI); every
    column unless ``chosen``."""
    writers = {"md": to_markdown, "csv": to_csv, "latex": to_latex}
    if fmt not in writers:
        raise GridlstmError(f"format {fmt}: expected one of {', '.join(writers)}")
    if isinstance(table, list):
        table = Table(table, [], {})
    return writers[fmt](table.rows, table.columns(chosen, repeated=fmt == "csv"))
