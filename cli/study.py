"""``gridlstm study``: studies built from one command (logic in gridlstm/studies/)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from gridlstm.studies.depth import DEFAULT_STUDY, run_depth_study
from gridlstm.sweep.spec import load_sweep

from .common import device_option, handle_errors, measurement_options, split_config_args, stderr_console

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
def study() -> None:
    """Studies that measure many models at once and write one figure and one table.

    \b
    Example:
      gridlstm study depth                       # configs/studies/depth.yaml
    """


@study.command(context_settings=CONTEXT)
@click.argument("args", nargs=-1, metavar="[STUDY_FILE] [KEY=VALUE]...")
@measurement_options(100, 3, "Measurement seeds per model (fresh initial weights and batch each).",
                     "train.batch_size of each config")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("outputs"),
              show_default=True, help="Root folder; the study goes to OUT/studies/NAME/<UTC time>-<id>/.")
@device_option
@handle_errors
def depth(args: tuple[str, ...], seeds: int, batch: Optional[int], out: Path, device: str) -> None:
    """Gradient along depth at initialisation: gradcheck every config of STUDY_FILE (a sweep
    file; default configs/studies/depth.yaml: D in {4, 16, 64} x rnn, lstm, grid memory_input, grid paper,
    tied grid, adding T=20, H=32), then draw depth.png (g[T, d] against layer d, one panel per D)
    and write depth.md/depth.csv (decades lost from the top layer to layer 1). KEY=VALUE
    overrides change the base config. Prints the files, the study folder last.

    \b
    Example:
      gridlstm study depth
      gridlstm study depth configs/studies/depth.yaml model.hidden=64 --seeds 5
    """
    path, overrides = split_config_args(args)
    path = path or DEFAULT_STUDY
    sweep = load_sweep(path, overrides)
    console = stderr_console()
    console.print(f"{sweep.name}: {len(sweep.runs)} models x {seeds} seed(s), measured at initialisation")

    def progress(i: int, n: int, run_id: str, seconds: float) -> None:
        console.print(f"  [{i}/{n}] {run_id} ({seconds:.1f} s)", markup=False)

    result = run_depth_study(sweep, out, seeds, batch, device, path, progress)
    console.print(f"measured in {result.seconds:.0f} s")
    for f in result.files:
        click.echo(str(f))
    click.echo(str(result.folder))
