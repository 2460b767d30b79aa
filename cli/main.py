"""``gridlstm``: train recurrent networks on long-range tasks and measure how their gradients flow."""
from __future__ import annotations

import importlib
import signal
import sys
import warnings
from pathlib import Path
from typing import Any

import click

from gridlstm import __version__
from gridlstm.errors import GridlstmError, StoppedBeforeStart
from gridlstm.train.signals import StopSignals

from .common import (
    ENTRY_POINT,
    check_out_dir,
    check_resume_dir,
    config_from_args,
    device_option,
    exits_after_command,
    fail,
    given,
    handle_errors,
    one_line_warning,
    split_config_args,
    stderr_console,
)
from .complete import complete_args
from .tracking import (
    live_tracking,
    saved_tensorboard,
    saved_uri,
    tensorboard_finish,
    tensorboard_hook,
    tracking_option,
)

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
# Commands that pull in heavy imports (matplotlib, ray, the benchmarks) load only when invoked, so
# `gridlstm train` starts faster and writes nothing outside its run folder (no matplotlib cache).
LAZY_COMMANDS = {
    "export": ".tracking:export",
    "gradcheck": ".gradcheck:gradcheck",
    "plot": ".plot:plot",
    "report": ".report:report",
    "sweep": ".sweep:sweep",
    "study": ".study:study",
}


class LazyGroup(click.Group):
    """A Click group whose LAZY_COMMANDS are imported on first use (Click's documented pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS and name not in self.commands:
            module, attr = LAZY_COMMANDS[name].split(":")
            self.add_command(getattr(importlib.import_module(module, __package__), attr), name)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        with warnings.catch_warnings():  # a warning (a renamed variant) is one line, not Python's two
            warnings.showwarning = one_line_warning
            return super().invoke(ctx)


@click.group(cls=LazyGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="gridlstm")
def cli() -> None:
    """Naive RNN, stacked LSTM and 2D Grid LSTM on synthetic long-range tasks.

    \b
    Example:
      gridlstm train                                   # configs/default.yaml
      gridlstm train configs/adding_rnn.yaml task.length=200
      gridlstm train task=copy model=grid model.hidden=32   # config groups (gridlstm configs)

    Tab completion of commands, options, config names, run folders and KEY=VALUE choices: add
    eval "$(_GRIDLSTM_COMPLETE=bash_source gridlstm)" to ~/.bashrc (zsh: zsh_source in ~/.zshrc;
    fish: _GRIDLSTM_COMPLETE=fish_source gridlstm | source in config.fish).
    """


@cli.command(context_settings=CONTEXT)
def configs() -> None:
    """List the config groups and their options: pick one with GROUP=NAME (e.g. model=lstm).

    \b
    Example:
      gridlstm configs
      gridlstm train task=copy model=lstm
    """
    from gridlstm import compose

    click.echo(compose.describe())


@cli.command(context_settings=CONTEXT)
@click.argument("args", nargs=-1, metavar="[CONFIG] [GROUP=NAME]... [KEY=VALUE]...", shell_complete=complete_args)
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("outputs"),
              show_default=True, help="Root folder for run folders.")
@click.option("--name", default=None, help="Run group name (folder under --out); overrides `name`.")
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path), default=None, metavar="RUN_DIR",
              help="Continue RUN_DIR from its last checkpoint, in the same folder, exactly.")
@click.option("--force", is_flag=True, help="With --resume: accept a config that differs from the run's.")
@click.option("--dry-run", is_flag=True,
              help="Print the resolved config (stdout) and its memory estimate; train nothing, write nothing.")
@device_option
@tracking_option
@handle_errors
def train(args: tuple[str, ...], out: Path, name: str | None, resume_dir: Path | None, force: bool,
          dry_run: bool, device: str, tracking_uri: str | None) -> None:
    """Train CONFIG (default configs/default.yaml) with groups GROUP=NAME and dotted KEY=VALUE overrides.

    GROUP=NAME (task, model, train; `gridlstm configs` lists them) replaces that section of CONFIG
    with configs/GROUP/NAME.yaml; dotted overrides apply after.

    Writes OUT/NAME/<UTC time>-<id>/ with config.yaml, meta.json, metrics.csv, checkpoint.pt and
    summary.json, and prints its path on the last line of stdout. Ctrl-C (or SIGTERM) finishes the
    step, writes a checkpoint and exits 130 (143); a second Ctrl-C stops at once. --resume continues
    a run where it stopped; with KEY=VALUE or CONFIG it needs --force. Exit codes: 0 done,
    1 diverged, 2 bad input, 130/143 interrupted.

    \b
    Examples:
      gridlstm train
      gridlstm train configs/adding_grid.yaml model.hidden=128 task.length=200
      gridlstm train task=copy model=grid model.hidden=32
      gridlstm train adding_rnn task.length=200 --dry-run
      gridlstm train configs/copy_lstm.yaml train.steps=500 --out runs --name trial
      gridlstm train --resume outputs/default/20250101-120000-ab12
      gridlstm train --resume outputs/default/20250101-120000-ab12 --force train.steps=3000
    """
    check_train_options(out, name, resume_dir)
    if dry_run:
        show_resolved(args if name is None else args + (f"name={name}",), resume_dir)
        return
    # first: a SIGTERM while torch loads or the model builds is handled. The installed command exits
    # after this, so once a stop has begun Ctrl-C stays ignored (in-process callers get it back)
    with StopSignals(release=not exits_after_command()) as stop:
        # the training stack loads only now, under the handlers (and only for this command)
        from gridlstm.train.lifecycle import resume_run, start_run

        from .display import RichReporter

        if name is not None:
            args = args + (f"name={name}",)
        console = stderr_console()
        try:
            if resume_dir is not None:
                path, overrides = split_config_args(args)
                tracking = live_tracking(tracking_uri or saved_uri(resume_dir))
                board = tensorboard_hook(saved_tensorboard(resume_dir))
                summary = resume_run(resume_dir, path, overrides, force, device, RichReporter(console),
                                     sys.argv, stop=stop, hooks=tuple(h for h in (tracking, board) if h))
            else:
                if force:
                    raise GridlstmError("--force only applies together with --resume RUN_DIR")
                cfg = config_from_args(args)
                tracking = live_tracking(tracking_uri or cfg.tracking.uri)
                board = tensorboard_hook(cfg.tracking.tensorboard)
                summary = start_run(cfg, out, device=device, reporter=RichReporter(console), argv=sys.argv,
                                    stop=stop, hooks=tuple(h for h in (tracking, board) if h))
        except StoppedBeforeStart as e:
            fail(f"{e}; start it again", signal_exit_code(e.signal))
        if tracking is not None:
            tracking.finish(Path(summary.run_dir))
        tensorboard_finish(board, Path(summary.run_dir))
    message, code = outcome(summary)
    console.print(message, markup=False, soft_wrap=True)
    click.echo(summary.run_dir)
    sys.exit(code)


def check_train_options(out: Path, name: str | None, resume_dir: Path | None) -> None:
    """Contradictory or empty options are refused before anything is read or written."""
    if name is not None and not name.strip():
        raise GridlstmError("--name is empty: give a folder name (letters, digits, '.', '_', '-') "
                            "or leave --name out for <task>-<model kind>")
    if resume_dir is not None:
        for option in ("out", "name"):
            if given(option):
                raise GridlstmError(f"--{option} does not apply with --resume: a run continues in its own "
                                    f"folder ({resume_dir}); drop --{option}")
        check_resume_dir(resume_dir)
    else:
        check_out_dir(out)


def show_resolved(args: tuple[str, ...], resume_dir: Path | None) -> None:
    """--dry-run: the config a run would use, as YAML on stdout, and its memory estimate."""
    from gridlstm import limits
    from gridlstm.config import dump_config

    if resume_dir is not None:
        raise GridlstmError("--dry-run applies to a new run; a resumed run uses its folder's config.yaml")
    cfg = config_from_args(args)
    click.echo(dump_config(cfg), nl=False)
    stderr_console().print(f"run name: {cfg.run_name}; {limits.describe(cfg)}", markup=False, soft_wrap=True)


def signal_exit_code(name: str) -> int:
    """The shell's convention for a process stopped by a signal: 128 + its number (130, 143)."""
    return 128 + int(getattr(signal, name, signal.SIGINT))


def outcome(summary: Any) -> tuple[str, int]:
    """The closing line for the terminal and the exit code: 0 completed, 1 diverged, 128+signal
    (130 SIGINT, 143 SIGTERM) interrupted."""
    run_dir, status = summary.run_dir, summary.status
    if summary.nothing_to_do:
        return f"{run_dir} already completed at step {summary.steps}; nothing to do", 0
    if status == "interrupted":
        name = summary.signal or "SIGINT"
        return (f"interrupted by {name} after step {summary.steps}; checkpoint at step "
                f"{summary.checkpoint_step}. Resume with: gridlstm train --resume {run_dir}",
                signal_exit_code(name))
    if status == "diverged":
        return (f"diverged: {summary.error}; the last good checkpoint (step "
                f"{summary.checkpoint_step}) is kept. To go on from it with a smaller step size: "
                f"gridlstm train --resume {run_dir} --force train.lr=<smaller>", 1)
    return f"{status}: {run_dir}", 0


def main() -> None:
    """The installed `gridlstm` command: one process per command (exits_after_command())."""
    cli(obj=ENTRY_POINT, prog_name="gridlstm")


if __name__ == "__main__":
    main()
