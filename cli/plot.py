"""``gridlstm plot``: figures from run folders (the logic lives in gridlstm/plots/)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from gridlstm.plots.kinds import DPI, WHAT, X_AXES

from .common import handle_errors
from .complete import complete_paths

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.command(context_settings=CONTEXT)
@click.argument("runs", nargs=-1, metavar="RUN...", shell_complete=complete_paths)
@click.option("--what", type=click.Choice(WHAT), default="gradients", show_default=True,
              help="gradients: norm against steps back, one line per run; heatmap: time × depth map "
                   "per state kind; loss: learning curves with the chance baseline; profiles: the "
                   "gradient profiles recorded during training; depth: norm against layer d at the "
                   "scored step, one line per run and state kind; spectrum: the Lyapunov exponents "
                   "(gradcheck --spectrum) against their index, one line per run and axis.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output file; its suffix picks the format (.png, .svg, .pdf). "
                   "Default: RUN/plots/WHAT.png; several runs: compare/WHAT-Nruns-<UTC stamp>.png in "
                   "their common parent folder (a sweep's folder for its runs).")
@click.option("--state", default=None,
              help="State kind, as the run's cell names its states (gradients.csv's state column: h, c, "
                   "h_depth, ...) or x (the input) [default: h; depth: the depth-carrying states, those "
                   "the cell sends up: h, or h_depth and the grid's depth memory].")
@click.option("--layer", type=int, default=None, help="Layer 1..D for gradients/profiles [default: top].")
@click.option("--x", "x_axis", type=click.Choice(X_AXES), default="auto", show_default=True,
              help="x axis: steps back from the loss, or timestep; auto picks steps-back when the "
                   "task scores only the last step.")
@click.option("--mean-t", is_flag=True,
              help="depth: add a panel with the profile averaged over t (the steps with a path to the "
                   "loss) beside the one at the scored step.")
@click.option("--dpi", type=int, default=DPI, show_default=True,
              help="Pixels per inch of PNG output (figures are 11 inches wide or so).")
@handle_errors
def plot(runs: tuple[str, ...], what: str, out: Optional[Path], state: Optional[str],
         layer: Optional[int], x_axis: str, mean_t: bool, dpi: int) -> None:
    """Draw figures of one or more RUN folders (folders holding runs and globs work too).

    Prints the path of every file written.

    \b
    Example:
      gridlstm plot outputs/adding-rnn/* outputs/adding-grid/* --what gradients --out rnn_vs_grid.png
      gridlstm plot outputs/adding-grid/20261128-101500-ab12 --what heatmap
      gridlstm plot 'outputs/adding-*/*' --what loss
      gridlstm plot outputs/adding-rnn/20261128-101500-ab12 --what profiles --state h
      gridlstm plot outputs/gradcheck/adding-lstm/* outputs/gradcheck/adding-grid/* --what depth --mean-t
    """
    from gridlstm.plots.figures import plot as make_plots  # matplotlib loads only now
    from gridlstm.results.collect import load_runs

    for path in make_plots(load_runs(runs), what, out, state, layer, x_axis, dpi, mean_t):
        click.echo(str(path))
