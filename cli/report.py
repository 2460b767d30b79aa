"""``gridlstm report``: one comparison table of runs (the logic lives in gridlstm/results/report.py)."""
from __future__ import annotations

from typing import Any, Optional

import click
from rich.console import Console
from rich.table import Table

from gridlstm.results.collect import load_runs
from gridlstm.results.report import COLUMNS, FORMATS, KEYS, cells, collect_rows, render

from .common import handle_errors

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.command(context_settings=CONTEXT)
@click.argument("runs", nargs=-1, metavar="RUN...")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="rich", show_default=True,
              help="rich: terminal table; md: Markdown; csv: raw numbers; latex: booktabs tabular.")
@click.option("--sort", default=None, metavar="KEY",
              help=f"Sort by a column, -KEY for descending; one of: {', '.join(KEYS)}.")
@handle_errors
def report(runs: tuple[str, ...], fmt: str, sort: Optional[str]) -> None:
    """One row per RUN: task, T, model, size, steps, wall time, final eval loss against chance,
    metric, solved, the gradient decay slope and first/last ratio of the top layer's h (from
    gradients/summary.csv) and the depth decay: decades lost per layer from the top layer to layer
    1 at the scored step, of h (grid: the depth state h′), from gradients/gradients.csv; blank
    without gradcheck. Folders holding runs, globs and gradcheck --out folders work too.

    \b
    Example:
      gridlstm report outputs/adding-*/* --format md
      gridlstm report outputs/ --sort -eval_loss
      gridlstm report 'outputs/*/*' --format csv > runs.csv
    """
    rows = collect_rows(load_runs(runs), sort)
    if fmt != "rich":
        click.echo(render(rows, fmt), nl=False)
        return
    console = Console(highlight=False)
    if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
        console = Console(highlight=False, width=260)
    console.print(rich_table(rows))


def rich_table(rows: list[dict[str, Any]]) -> Table:
    """The report for a terminal: the same cells as md/csv/latex, solved in green or red."""
    table = Table(title=f"{len(rows)} run{'s' if len(rows) != 1 else ''}", header_style="bold")
    for c in COLUMNS:
        table.add_column(c.header, justify="right" if c.right else "left")
    solved = KEYS.index("solved")
    for r in rows:
        row = cells(r)
        if row[solved]:
            row[solved] = f"[green]{row[solved]}[/]" if r["solved"] else f"[red]{row[solved]}[/]"
        table.add_row(*row)
    return table
