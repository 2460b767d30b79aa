"""``gridlstm sweep``: many runs over axes of a config, locally or on Ray (logic in gridlstm/sweep/)."""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import click
from rich.console import Console
from rich.table import Table

from gridlstm.errors import GridlstmError
from gridlstm.runs.layout import TRACEBACK

from .common import check_out_dir, device_option, given, handle_errors, stderr_console, stops_as_interrupts
from .complete import complete_args, complete_paths
from .tracking import log_sweep, log_sweep_tensorboard, sweep_tracker, tracking_option

if TYPE_CHECKING:  # the sweep stack imports torch: only when a sweep runs, not for --help or Tab
    from gridlstm.sweep.spec import Sweep

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.command(context_settings=CONTEXT)
@click.argument("target", type=click.Path(path_type=Path), metavar="CONFIG|SWEEP_FILE|SWEEP_FOLDER",
                shell_complete=complete_paths)
@click.argument("overrides", nargs=-1, metavar="[KEY=A,B,...] [GROUP=NAME] [KEY=VALUE]...",
                shell_complete=complete_args)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("outputs"),
              show_default=True, help="Root folder; a new sweep goes to OUT/sweeps/NAME/<UTC time>-<id>/.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: a process pool on this machine; ray: a Ray cluster (pip install '.[ray]').")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="local: runs at once (default: all cores; torch threads per run = cores // jobs). "
                   "ray without --address: CPUs of the private Ray instance.")
@click.option("--address", default=None, metavar="auto|HOST:PORT|ray://HOST:PORT",
              help="ray: the cluster to use (default: start a private instance on 127.0.0.1).")
@click.option("--num-cpus", type=float, default=1.0, show_default=True, help="ray: CPUs per run.")
@click.option("--num-gpus", type=float, default=0.0, show_default=True,
              help="ray: GPUs per run (> 0 trains on cuda).")
@click.option("--gradients/--no-gradients", default=True, show_default=True,
              help="Measure each finished run's gradient profile (gradcheck) for the slope figure.")
@click.option("--dry-run", is_flag=True, help="Validate and list the runs; run nothing, write nothing.")
@device_option
@tracking_option
@handle_errors
def sweep(target: Path, overrides: tuple[str, ...], out: Path, executor: str, jobs: Optional[int],
          address: Optional[str], num_cpus: float, num_gpus: float, gradients: bool, dry_run: bool,
          device: str, tracking_uri: Optional[str]) -> None:
    """Run every point of a sweep (a base config × axes over dotted keys), or resume a sweep
    folder: only its unfinished runs run. KEY=VALUE overrides change the base of a new sweep;
    name=NAME names the sweep (its folder OUT/sweeps/NAME/, and every run in it).

    KEY=A,B,C (an unquoted comma) makes an axis: over a run CONFIG it builds the sweep on the
    command line, over a SWEEP_FILE it adds or replaces that axis; GROUP=A,B (model=rnn,lstm) picks
    configs/GROUP/A.yaml, then B.yaml, as train's GROUP=NAME does; KEY="'A,B'" is one literal value.
    The sweep folder's sweep.yaml records the expansion; a sweep file is the way to keep a sweep.

    Every run is validated before any starts; each writes an ordinary run folder under
    SWEEP/runs/; a failed run does not stop the others (its traceback is in its folder). Ctrl-C
    checkpoints the running runs and leaves a resumable sweep. At the end: the grouped table
    (mean ± std over seeds), SWEEP/results.csv and SWEEP/plots/. The sweep folder is printed on the
    last line of stdout; the exit code is 1 when some run failed, 130 when interrupted.

    \b
    Example:
      gridlstm sweep configs/sweeps/adding_length.yaml train.steps=200 --jobs 2
      gridlstm sweep configs/sweeps/adding_length.yaml --executor ray --address auto
      gridlstm sweep outputs/sweeps/adding_length/20260101-120000-ab12     # resume
      gridlstm sweep configs/sweeps/grid_depth.yaml --dry-run
      gridlstm sweep configs/default.yaml model=rnn,lstm,grid seed=0,1,2 --dry-run
    """
    from gridlstm.sweep.folder import create_sweep_dir, open_target, run_sweep
    from gridlstm.sweep.results import write_results

    from .sweep_display import RichSweepProgress, expansion_table

    console = stderr_console()
    runner = check_sweep_options(target, out, executor, jobs, address, num_cpus, num_gpus, dry_run)
    spec, sweep_dir, _ = open_target(target, overrides, out, create=False)
    base = spec.runs[0].config.tracking if spec.runs else None
    if base is not None and base.tensorboard:  # a missing extra is refused before any folder exists
        from gridlstm.tensorboard_log import writer_class

        writer_class()
    if dry_run:
        Console(highlight=False).print(expansion_table(spec))
        return
    # the URI checked (and a missing extra refused) before any folder exists
    tracker = sweep_tracker(tracking_uri or (base.uri if base else None))
    sweep_dir = sweep_dir or create_sweep_dir(spec, out)
    seen: dict[str, str] = {}
    try:
        with stops_as_interrupts() as seen:  # also when started with SIGINT ignored, as train is
            board = run_sweep(spec, sweep_dir, runner, RichSweepProgress(console), device, gradients,
                              tuple(sys.argv))
    except KeyboardInterrupt as e:
        name = seen.get("signal") or getattr(e, "signal", "SIGINT")
        console.print(f"[yellow]interrupted[/] by {name}: {runner.stopped}; resume with: gridlstm sweep "
                      f"{sweep_dir}", soft_wrap=True)
        click.echo(sweep_dir)
        sys.exit(143 if name == "SIGTERM" else 130)
    grouped, paths = write_results(spec, sweep_dir)
    if not console.is_terminal:  # piped or logged: do not squeeze the table into 80 columns
        console = Console(stderr=True, highlight=False, width=240)
    console.print(rich_table(spec, grouped))
    for run_id, error, path in board.failures():
        console.print(f"[red]failed[/] {run_id}: {error} ({path / TRACEBACK})")
    for run_id, why, _ in board.unfinished():  # resumable: its checkpoint is in its folder
        console.print(f"[yellow]stopped[/] {run_id}: {why}; continue it with: gridlstm sweep {sweep_dir}",
                      soft_wrap=True)
    console.print("wrote " + ", ".join(str(p.relative_to(sweep_dir)) for p in paths))
    log_sweep(tracker, sweep_dir, base.experiment if base else None)
    log_sweep_tensorboard(base.tensorboard if base else None, sweep_dir)
    click.echo(sweep_dir)
    if board.failures() or board.unfinished():
        sys.exit(1)


def check_sweep_options(target: Path, out: Path, executor: str, jobs: Optional[int], address: Optional[str],
                        num_cpus: float, num_gpus: float, dry_run: bool) -> Any:
    """Every option checked (and the executor made) before a sweep folder exists."""
    from gridlstm.sweep.executors import make_executor

    for option, value in (("--num-cpus", num_cpus), ("--num-gpus", num_gpus)):
        if not math.isfinite(value) or value < 0 or (option == "--num-cpus" and value == 0):
            raise GridlstmError(f"{option} {value:g}: expected a finite number "
                                f"{'> 0' if option == '--num-cpus' else '>= 0'} per run")
    if executor == "local" and given("num_cpus"):
        raise GridlstmError("--num-cpus applies only to --executor ray (local runs: --jobs)")
    runner = make_executor(executor, jobs, address, num_cpus, num_gpus)
    if not dry_run and not Path(target).is_dir():
        check_out_dir(out)
    return runner


def rich_table(sweep: Sweep, grouped: list[dict[str, Any]]) -> Table:
    from gridlstm.sweep.results import table_rows

    headers, rows = table_rows(sweep, grouped)
    seeds = "mean ± std over seeds" if "seed" in sweep.keys else "one run per row"
    table = Table(title=f"sweep {sweep.name}: {len(sweep.runs)} runs ({seeds})", header_style="bold")
    for h in headers:
        table.add_column(h, justify="left" if h in sweep.group_keys else "right")
    for g, r in zip(grouped, rows, strict=True):
        if g["failed"]:
            r[len(sweep.group_keys)] = f"[red]{r[len(sweep.group_keys)]}[/]"
        table.add_row(*r)
    return table
