"""``gridlstm gradcheck``: gradient norm per timestep and layer (logic in gridlstm/probe/gradcheck.py)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import click
from rich.table import Table

from gridlstm.probe.depth_theory import DEPTH_HEADERS, DEPTH_LEGEND, depth_cells, depth_lines
from gridlstm.probe.gradcheck import (
    HEADERS,
    LEGEND,
    SHOWN,
    GradcheckResult,
    cell,
    load_source,
    run_gradcheck,
    title,
    write_to,
)
from gridlstm.probe.verify import Check, verify_all

from .common import (
    check_out_dir,
    device_option,
    handle_errors,
    measurement_options,
    split_config_args,
    stderr_console,
)

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.command(context_settings=CONTEXT)
@click.argument("args", nargs=-1, metavar="[CONFIG|RUN_DIR] [KEY=VALUE]...")
@measurement_options(1000, 1, "Measurement seeds (batches; from a config also fresh initial weights): mean "
                     "and spread.", "train.batch_size")
@click.option("--length", type=click.IntRange(2), default=None, help="Sequence length T (task.length).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the files [default: RUN_DIR/gradients, or a fresh "
                   "outputs/gradcheck/NAME/<time>-<id>/gradients for a config].")
@click.option("--verify", is_flag=True,
              help="Also check the gradients: autograd.gradcheck (float64) on every cell kind and "
                   "central finite differences against the probe; exit code 1 on a failure.")
@click.option("--from", "which", type=click.Choice(["last", "best"]), default="last", show_default=True,
              help="Which checkpoint of RUN_DIR: last (checkpoint.pt) or best (best.pt, the step of "
                   "the best eval metric).")
@device_option
@handle_errors
def gradcheck(args: tuple[str, ...], seeds: int, batch: Optional[int], length: Optional[int],
              out: Optional[Path], verify: bool, which: str, device: str) -> None:
    """Gradient norm ‖∂L/∂state[t, d]‖ for every timestep t, layer d and state kind, from ONE
    backward pass, with the decay summary beside the vanishing-gradient theory (σ_max bound for
    the RNN, forget gates for LSTM / grid memory), and the decay along depth at the scored step
    beside its theory (the layer Jacobian bound of a stacked model, the grid's depth forget gates).

    CONFIG measures the model at initialisation; RUN_DIR measures its checkpoint. Writes
    gradients.csv, summary.csv, summary.md, depth.csv (more than one layer) and meta.json; prints
    their paths on stdout, the folder last.

    \b
    Example:
      gridlstm gradcheck configs/adding_rnn.yaml task.length=200
      gridlstm gradcheck outputs/adding-grid/20261128-101500-3f2a
      gridlstm gradcheck outputs/adding-grid/20261128-101500-3f2a --from best
      gridlstm gradcheck configs/adding_grid.yaml --seeds 5 --verify
    """
    path, overrides = split_config_args(args)
    if length is not None:
        overrides.append(f"task.length={length}")
    source = load_source(path, overrides, which)
    # where the outputs go can be written: checked before the measurement, not after
    check_out_dir(out if out is not None else source.path / "gradients" if source.kind == "run" else Path("outputs"))
    result = run_gradcheck(source, seeds, batch, device)
    console = stderr_console()
    console.print(decay_table(result))
    for line in result.theory:
        console.print(f"  {line}", markup=False)
    if result.depth:  # a model with one layer has no decay along depth
        console.print(depth_table(result))
        for line in depth_lines(result.depth):
            console.print(f"  {line}", markup=False)
    folder, files = write_to(result, source, out)
    for file in files:
        click.echo(str(file))
    click.echo(str(folder))
    if verify:
        checks = verify_all(source)
        console.print(verify_table(checks))
        if not all(c.passed for c in checks):
            sys.exit(1)


def decay_table(result: GradcheckResult) -> Table:
    """gradcheck's summary for a terminal: the columns of summary.md, the legend as its caption."""
    table = Table(title=title(result.meta), caption=LEGEND, header_style="bold")
    for h in HEADERS:
        table.add_column(h, justify="left" if h == "state" else "right")
    for r in result.summary:
        table.add_row(*(cell(r, k) for k in SHOWN))
    return table


def depth_table(result: GradcheckResult) -> Table:
    """The decay along depth at the scored step beside its theory (summary.md's depth section)."""
    table = Table(title="decay along depth at the scored step", caption=DEPTH_LEGEND, header_style="bold")
    for h in DEPTH_HEADERS:
        table.add_column(h, justify="left" if h in ("state", "theory") else "right")
    for r in result.depth:
        table.add_row(*depth_cells(r))
    return table


def verify_table(checks: list[Check]) -> Table:
    table = Table(title="gradient verification (float64)", header_style="bold")
    for h in ("check", "max rel error", "tolerance", "result"):
        table.add_column(h, justify="left" if h == "check" else "right")
    for c in checks:
        table.add_row(c.name, f"{c.max_rel_error:.2e}", f"{c.tolerance:.0e}",
                      "[green]pass[/]" if c.passed else "[red]FAIL[/]")
    return table
