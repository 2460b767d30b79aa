"""``gridlstm``: train recurrent networks on long-range tasks and measure how their gradients flow."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from gridlstm import __version__
from gridlstm.display import RichReporter
from gridlstm.train import train as train_run

from .common import config_from_args, device_option, handle_errors, stderr_console

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="gridlstm")
def cli() -> None:
    """Naive RNN, stacked LSTM and 2D Grid LSTM on synthetic long-range tasks.

    \b
    Example:
      gridlstm train                                   # configs/default.yaml
      gridlstm train configs/adding_rnn.yaml task.length=200
    """


@cli.command(context_settings=CONTEXT)
@click.argument("args", nargs=-1, metavar="[CONFIG] [KEY=VALUE]...")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("outputs"),
              show_default=True, help="Root folder for run folders.")
@click.option("--name", default=None, help="Run group name (folder under --out); overrides `name`.")
@device_option
@handle_errors
def train(args: tuple[str, ...], out: Path, name: str | None, device: str) -> None:
    """Train CONFIG (default configs/default.yaml) with dotted KEY=VALUE overrides.

    Writes OUT/NAME/<UTC time>-<id>/ with config.yaml, meta.json, metrics.csv, checkpoint.pt and
    summary.json, and prints its path on the last line of stdout.

    \b
    Examples:
      gridlstm train
      gridlstm train configs/adding_grid.yaml model.hidden=128 task.length=200
      gridlstm train configs/copy_lstm.yaml train.steps=500 --out /tmp/runs --name trial
    """
    if name is not None:
        args = args + (f"name={name}",)
    cfg = config_from_args(args)
    console = stderr_console()
    try:
        summary = train_run(cfg, out, device, RichReporter(console), argv=sys.argv)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: the last checkpoint is in the run folder")
        sys.exit(130)
    click.echo(summary["run_dir"])
    if summary["status"] == "diverged":
        sys.exit(1)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
