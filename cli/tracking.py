"""MLflow from the CLI: ``--tracking-uri`` of train and sweep, and ``gridlstm export`` (gridlstm/tracking.py).

Nothing here imports mlflow until a tracking URI is given: ``gridlstm train`` without one never does.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import click

from gridlstm.errors import GridlstmError

from .common import handle_errors, stderr_console

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

tracking_option = click.option(
    "--tracking-uri", default=None, metavar="URI",
    help="Also log to MLflow at URI (http://HOST:5000, sqlite:///PATH.db); default: the config's "
         "tracking.uri. Needs pip install '.[mlflow]'.")


def saved_uri(run_dir: Path) -> Optional[str]:
    """tracking.uri in a run folder's config.yaml (None when absent or unreadable)."""
    return saved_tracking(run_dir, "uri")


def saved_tensorboard(run_dir: Path) -> Optional[str]:
    """tracking.tensorboard in a run folder's config.yaml (None when absent or unreadable)."""
    return saved_tracking(run_dir, "tensorboard")


def saved_tracking(run_dir: Path, key: str) -> Optional[str]:
    """tracking.KEY in a run folder's config.yaml (None when absent, empty or unreadable)."""
    from gridlstm.runs.run import RunFolder

    try:
        section = RunFolder(run_dir).config_yaml().get("tracking")
    except GridlstmError:
        return None
    value = section.get(key) if isinstance(section, dict) else None
    return value if isinstance(value, str) and value else None


def tensorboard_hook(folder: Optional[str]) -> Any:
    """A trainer hook that logs to TensorBoard under ``folder`` (None without one). Fails here,
    before anything trains, when tensorboard is missing."""
    if not folder:
        return None
    from gridlstm.tensorboard_log import TensorBoardLog

    return TensorBoardLog(Path(folder))


def tensorboard_finish(hook: Any, run_dir: Path) -> None:
    if hook is not None:
        where = hook.finish(run_dir)
        stderr_console().print(f"TensorBoard: {where} (tensorboard --logdir {hook.root})", markup=False,
                               soft_wrap=True)


def log_sweep_tensorboard(folder: Optional[str], sweep_dir: Path) -> None:
    """Each run of a finished sweep as its own TensorBoard run, grouped under the sweep's folder."""
    if not folder:
        return
    from gridlstm.runs.run import RunFolder
    from gridlstm.tensorboard_log import log_dir, log_run_folder

    runs = sorted(p for p in (Path(sweep_dir) / "runs").iterdir() if RunFolder(p).config_file.is_file())
    for run in runs:
        log_run_folder(Path(folder), run)
    if runs:
        stderr_console().print(f"TensorBoard: {log_dir(Path(folder), runs[0]).parent} ({len(runs)} runs)",
                               markup=False, soft_wrap=True)


def log_measurement(run_dir: Path) -> None:
    """After gradcheck of a run folder: its numbers go to the run's MLflow store and TensorBoard
    folder (from its config), so trackers sort and chart runs by them. Never fails the measurement."""
    uri, board = saved_uri(run_dir), saved_tensorboard(run_dir)
    try:
        if uri:
            from gridlstm.runs.run import RunFolder
            from gridlstm.tracking import Tracker, experiment_name

            Tracker(uri).log_run_folder(run_dir, experiment_name(RunFolder(run_dir).config(), None))
        if board:
            from gridlstm.tensorboard_log import log_run_folder

            log_run_folder(Path(board), run_dir, scalars=False)
    except GridlstmError as e:
        stderr_console().print(f"warning: {e.message}; the measurement is in {run_dir}", markup=False,
                               soft_wrap=True)


def live_tracking(uri: Optional[str]) -> Any:
    """A trainer hook that logs to MLflow while the run trains (None without a URI). Fails here,
    before anything trains, when the extra is missing."""
    if not uri:
        return None
    from gridlstm.tracking import LiveMetrics, Tracker

    return LiveMetrics(Tracker(uri, warn=warn), None)


def sweep_tracker(uri: Optional[str]) -> Any:
    if not uri:
        return None
    from gridlstm.tracking import Tracker

    return Tracker(uri, warn=warn)


def warn(text: str) -> None:
    """A tracking failure while training: one line on stderr, and the run goes on."""
    click.echo(text, err=True)


def log_sweep(tracker: Any, sweep_dir: Path, experiment: Optional[str]) -> None:
    """The finished sweep as a parent run with its runs as children (never fails the sweep)."""
    if tracker is not None:
        parent = tracker.log_sweep_folder(sweep_dir, experiment)
        if parent is not None:
            stderr_console().print(f"MLflow: {tracker.uri} parent run {parent}", markup=False, soft_wrap=True)


@click.command(context_settings=CONTEXT)
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
                metavar="RUN_DIR|SWEEP_DIR...")
@click.option("--to", "uri", required=True, metavar="URI", help="MLflow tracking URI (http://HOST:5000, "
              "sqlite:///PATH.db).")
@click.option("--experiment", default=None, help="MLflow experiment; default: the config's tracking.experiment, "
              "else the run name (a sweep: the sweep name).")
@handle_errors
def export(folders: tuple[Path, ...], uri: str, experiment: Optional[str]) -> None:
    """Log run folders or sweep folders already on disk to MLflow: params, every metrics.csv row,
    tags, gradients/ and plots/. A sweep folder becomes a parent run with one child per run.
    Exporting again adds only what is new (runs are matched by their folder). Prints one MLflow
    run id per folder.

    \b
    Example:
      gridlstm export outputs/default/20250101-120000-ab12 --to sqlite:///mlflow.db
      gridlstm export outputs/sweeps/adding_length/20260101-120000-ab12 --to http://127.0.0.1:5000
    """
    from gridlstm.runs.run import RunFolder
    from gridlstm.sweep.folder import is_sweep_dir
    from gridlstm.tracking import Tracker, experiment_name

    tracker = Tracker(uri, strict=True)
    for folder in folders:
        if is_sweep_dir(folder):
            run_id = tracker.log_sweep_folder(folder, experiment)
        elif RunFolder(folder).config_file.is_file():
            run_id = tracker.log_run_folder(folder, experiment_name(RunFolder(folder).config(), experiment))
        else:
            raise GridlstmError(f"{folder} is neither a run folder (config.yaml) nor a sweep folder")
        click.echo(run_id)
