"""``gridlstm report``: one comparison table of runs (the logic lives in gridlstm/results/report.py)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import click
from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from gridlstm.results.columns import FORMATS, KEYS

from .common import handle_errors
from .complete import complete_paths

if TYPE_CHECKING:  # the run readers import torch: only when a report is made, not for --help or Tab
    from gridlstm.results.report import Table as Report

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.command(context_settings=CONTEXT)
@click.argument("runs", nargs=-1, metavar="RUN...", shell_complete=complete_paths)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="rich", show_default=True,
              help="rich: terminal table; md: Markdown; csv: raw numbers; latex: booktabs tabular.")
@click.option("--sort", default=None, metavar="KEY",
              help=f"Sort by a column, -KEY for descending; one of: {', '.join(KEYS)}.")
@click.option("--columns", default=None, metavar="KEY,KEY...",
              help="The columns, in order: result keys above or config keys (train.lr) "
                   "[default rich: run, the config keys that differ, status, steps, eval loss, "
                   "metric, solved, wall; md/csv/latex: every column].")
@handle_errors
def report(runs: tuple[str, ...], fmt: str, sort: Optional[str], columns: Optional[str]) -> None:
    """One row per RUN: the config keys whose values differ between the runs (the keys they share
    are listed once above the rich table), steps, wall time, final eval loss against chance,
    metric, solved; md/csv/latex add task, T, model, size and the gradient decay slope and
    first/last ratio of the top layer's h (gradients/summary.csv; blank without gradcheck).
    Folders holding runs and globs work too.

    \b
    Example:
      gridlstm report outputs/adding-*/* --format md
      gridlstm report outputs/ --sort -eval_loss
      gridlstm report outputs/sweeps/adding_length/*/runs --columns model.kind,task.length,eval_loss,solved
    """
    from gridlstm.results.collect import load_runs
    from gridlstm.results.report import collect_table, render

    table = collect_table(load_runs(runs), sort)
    chosen = [k.strip() for k in columns.split(",") if k.strip()] if columns else None
    if fmt != "rich":
        click.echo(render(table, fmt, chosen), nl=False)
        return
    console = Console(highlight=False)
    if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
        console = Console(highlight=False, width=260)
    console.print(rich_report(table, chosen))


def rich_report(table: Report, chosen: Optional[list[str]] = None) -> RenderableType:
    """The report for a terminal: what the runs share, once, then a table of what differs (cells
    wrap instead of being cut short), solved in green or red."""
    from gridlstm.results.differ import value_text
    from gridlstm.results.report import cells

    rows = table.rows
    shared = Text("shared: ", style="bold")
    shared.append("  ".join(f"{k}={value_text(v)}" for k, v in table.shared.items()) or "nothing")
    view = Table(title=f"{len(rows)} run{'s' if len(rows) != 1 else ''}", header_style="bold",
                 box=box.SIMPLE_HEAD, pad_edge=False)
    cols = table.columns(chosen, view=True)
    for c in cols:
        view.add_column(c.header, justify="right" if c.right else "left", overflow="fold")
    keys = [c.key for c in cols]
    for r in rows:
        row = cells(r, cols)
        if "solved" in keys and row[keys.index("solved")]:
            i = keys.index("solved")
            row[i] = f"[green]{row[i]}[/]" if r["solved"] else f"[red]{row[i]}[/]"
        view.add_row(*row)
    return Group(shared, view) if len(rows) > 1 else view

