"""``gridlstm gradcheck``: gradient norm per timestep and layer (logic in gridlstm/probe/gradcheck.py)."""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import click

from gridlstm.probe.spectrum_settings import (
    EXAMPLES,
    PREDICTION,
    PREDICTION_EXAMPLES,
    PREDICTION_K,
    SpectrumSettings,
)

from .common import (
    check_out_dir,
    device_option,
    handle_errors,
    measurement_options,
    split_config_args,
    stderr_console,
)
from .complete import complete_args
from .tracking import log_measurement

if TYPE_CHECKING:  # the measurement stack imports torch: only when a command runs, not for --help
    from rich.table import Table

    from gridlstm.probe.gradcheck import GradcheckResult
    from gridlstm.probe.verify import Check

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.command(context_settings=CONTEXT)
@click.argument("args", nargs=-1, metavar="[CONFIG|RUN_DIR] [KEY=VALUE]...", shell_complete=complete_args)
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
@click.option("--spectrum", "spectrum", metavar="K|all", default=None, is_flag=False, flag_value="8",
              help="The top K Lyapunov exponents of the backward Jacobians (QR method) along time and "
                   "along depth, on the first --spectrum-examples examples of each batch: the predicted "
                   "slope λ₁/ln10 and depth decay beside the measured ones, and gradients/spectrum.csv "
                   f"[default: {PREDICTION_K}, the top exponent only; 8 when the flag is given alone; "
                   "all: the whole carried state; 0: none, the bare measurement].")
@click.option("--spectrum-examples", type=click.IntRange(1), default=None,
              help="Examples of each measured batch (the first ones) whose spectra are computed "
                   f"[default: {PREDICTION_EXAMPLES} for the default prediction, {EXAMPLES} with --spectrum K].")
@device_option
@handle_errors
def gradcheck(args: tuple[str, ...], seeds: int, batch: Optional[int], length: Optional[int],
              out: Optional[Path], verify: bool, which: str, spectrum: Optional[str], spectrum_examples: Optional[int],
              device: str) -> None:
    """Gradient norm ‖∂L/∂state[t, d]‖ for every timestep t, layer d and state kind, from ONE
    backward pass, with the decay summary beside the vanishing-gradient theory (σ_max bound for
    the RNN, forget gates for LSTM / grid memory), and the decay along depth at the scored step
    beside its theory (the layer Jacobian bound of a stacked model, the grid's depth forget gates).
    Beside both bounds, the prediction: the top Lyapunov exponent of the backward Jacobians
    (--spectrum).

    CONFIG measures the model at initialisation; RUN_DIR measures its checkpoint. Writes
    gradients.csv, summary.csv, summary.md, depth.csv (more than one layer), spectrum.csv (unless
    --spectrum 0) and meta.json; prints their paths on stdout, the folder last.

    \b
    Example:
      gridlstm gradcheck configs/adding_rnn.yaml task.length=200
      gridlstm gradcheck outputs/adding-rnn/20261128-101500-ab12
      gridlstm gradcheck outputs/adding-grid/20261128-101500-3f2a
      gridlstm gradcheck outputs/adding-grid/20261128-101500-3f2a --from best
      gridlstm gradcheck configs/adding_grid.yaml --seeds 5 --verify
      gridlstm gradcheck configs/adding_lstm.yaml --spectrum 0
    """
    from gridlstm.probe.depth_theory import depth_lines
    from gridlstm.probe.gradcheck import conclusion, load_source, run_gradcheck, target_folder, write_to
    from gridlstm.probe.verify import verify_all

    path, overrides = split_config_args(args)
    if length is not None:
        overrides.append(f"task.length={length}")
    settings = spectrum_settings(spectrum, spectrum_examples)
    source = load_source(path, overrides, which)
    # where the outputs go can be written: checked before the measurement, not after
    check_out_dir(target_folder(source, out) or Path("outputs"))
    result = run_gradcheck(source, seeds, batch, device, settings)
    console = stderr_console()
    console.print(decay_table(result))
    for line in result.theory:
        console.print(f"  {line}", markup=False)
    if result.depth:  # a model with one layer has no decay along depth
        console.print(depth_table(result))
        for line in depth_lines(result.depth):
            console.print(f"  {line}", markup=False)
    for line in result.spectrum_lines:
        console.print(f"  {line}", markup=False)
    said = conclusion(result.summary, source.cfg.model.layers)
    if said:
        console.print(said[0].upper() + said[1:] + ".", markup=False, soft_wrap=True)
    folder, files = write_to(result, source, out)
    for file in files:
        click.echo(str(file))
    if source.kind == "run" and out is None:  # the run's own trackers get the numbers too
        log_measurement(source.path)
    click.echo(str(folder))
    if verify:
        checks = verify_all(source)
        console.print(verify_table(checks))
        if not all(c.passed for c in checks):
            sys.exit(1)


def spectrum_settings(value: Optional[str], examples: Optional[int] = None) -> Optional[SpectrumSettings]:
    """--spectrum K|all|0 and --spectrum-examples -> what to compute (not given: the top exponent
    on PREDICTION_EXAMPLES examples, PREDICTION; 0: None, no spectrum); a bad K is a usage error."""
    if value is None:
        return replace(PREDICTION, examples=examples) if examples else PREDICTION
    examples = examples or EXAMPLES
    if value == "all":
        return SpectrumSettings(k=None, examples=examples)
    if not value.isdigit():
        raise click.BadParameter(f"{value!r}: expected a number of exponents, 'all', or 0 for none",
                                 param_hint="--spectrum")
    return SpectrumSettings(k=int(value), examples=examples) if int(value) else None


def decay_table(result: GradcheckResult) -> Table:
    """gradcheck's summary for a terminal: the columns of summary.md, the legend as its caption."""
    from rich.table import Table

    from gridlstm.probe.gradcheck import LEGEND, cell, columns, title

    table = Table(title=title(result.meta), caption=LEGEND, header_style="bold")
    shown, headers = columns(result)
    for h in headers:
        table.add_column(h, justify="left" if h == "state" else "right")
    for r in result.summary:
        table.add_row(*(cell(r, k) for k in shown))
    return table


def depth_table(result: GradcheckResult) -> Table:
    """The decay along depth at the scored step beside its theory (summary.md's depth section)."""
    from rich.table import Table

    from gridlstm.probe.depth_theory import DEPTH_LEGEND, depth_headers, depth_row_cells

    table = Table(title="decay along depth at the scored step", caption=DEPTH_LEGEND, header_style="bold")
    headers = depth_headers(result.depth)
    for h in headers:
        table.add_column(h, justify="left" if h in ("state", "theory") else "right")
    for r in result.depth:
        table.add_row(*depth_row_cells(r, headers))
    return table


def verify_table(checks: list[Check]) -> Table:
    from rich.table import Table

    table = Table(title="gradient verification (float64)", header_style="bold")
    for h in ("check", "max rel error", "tolerance", "result"):
        table.add_column(h, justify="left" if h == "check" else "right")
    for c in checks:
        table.add_row(c.name, f"{c.max_rel_error:.2e}", f"{c.tolerance:.0e}",
                      "[green]pass[/]" if c.passed else "[red]FAIL[/]")
    return table
