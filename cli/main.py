"""``gridlstm``: train recurrent networks on long-range tasks and measure how their gradients flow."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

from gridlstm import __version__
from gridlstm.errors import GridlstmError
from gridlstm.train.resume import outcome
from gridlstm.train.resume import resume as resume_run
from gridlstm.train.trainer import train as train_run

from .common import config_from_args, device_option, handle_errors, split_config_args, stderr_console
from .display import RichReporter

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
# Commands that pull in heavy imports (matplotlib, ray, the benchmarks) load only when invoked, so
# `gridlstm train` starts faster and writes nothing outside its run folder (no matplotlib cache).
LAZY_COMMANDS = {
    "gradcheck": "cli.gradcheck:gradcheck",
    "plot": "cli.plot:plot",
    "report": "cli.report:report",
    "sweep": "cli.sweep:sweep",
    "study": "cli.study:study",
}


class LazyGroup(click.Group):
    """A Click group whose LAZY_COMMANDS are imported on first use (Click's documented pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS and name not in self.commands:
            module, attr = LAZY_COMMANDS[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings=CONTEXT)
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
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path), default=None, metavar="RUN_DIR",
              help="Continue RUN_DIR from its last checkpoint, in the same folder, exactly.")
@click.option("--force", is_flag=True, help="With --resume: accept a config that differs from the run's.")
@device_option
@handle_errors
def train(args: tuple[str, ...], out: Path, name: str | None, resume_dir: Path | None, force: bool,
          device: str) -> None:
    """Train CONFIG (default configs/default.yaml) with dotted KEY=VALUE overrides.

    Writes OUT/NAME/<UTC time>-<id>/ with config.yaml, meta.json, metrics.csv, checkpoint.pt and
    summary.json, and prints its path on the last line of stdout. Ctrl-C (or SIGTERM) finishes the
    step, writes a checkpoint and exits 130 (143); a second Ctrl-C stops at once. --resume continues
    a run where it stopped; with KEY=VALUE or CONFIG it needs --force. Exit codes: 0 done,
    1 diverged, 2 bad input, 130/143 interrupted.

    \b
    Examples:
      gridlstm train
      gridlstm train configs/adding_grid.yaml model.hidden=128 task.length=200
      gridlstm train configs/copy_lstm.yaml train.steps=500 --out /tmp/runs --name trial
      gridlstm train --resume outputs/default/20250101-120000-ab12
      gridlstm train --resume outputs/default/20250101-120000-ab12 --force train.steps=3000
    """
    if name is not None:
        args = args + (f"name={name}",)
    console = stderr_console()
    if resume_dir is not None:
        path, overrides = split_config_args(args)
        summary = resume_run(resume_dir, path, overrides, force, device, RichReporter(console), sys.argv)
    else:
        if force:
            raise GridlstmError("--force only applies together with --resume RUN_DIR")
        summary = train_run(config_from_args(args), out, device, RichReporter(console), argv=sys.argv)
    message, code = outcome(summary)
    console.print(message, markup=False, soft_wrap=True)
    click.echo(summary["run_dir"])
    sys.exit(code)



def main() -> None:
    cli()


if __name__ == "__main__":
    main()
