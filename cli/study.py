"""``gridlstm study``: studies built from one command (logic in gridlstm/studies/)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

import click

from .common import device_option, handle_errors, measurement_options, split_config_args, stderr_console
from .complete import complete_args, complete_paths

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
def study() -> None:
    """Studies that measure many models at once and write one figure and one table.

    \b
    Example:
      gridlstm study depth                       # configs/studies/depth.yaml
      gridlstm study spectrum                    # configs/studies/spectrum.yaml
    """


@study.command(context_settings=CONTEXT)
@click.argument("args", nargs=-1, metavar="[STUDY_FILE] [KEY=VALUE]...", shell_complete=complete_args)
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
    from gridlstm.studies.depth import DEFAULT_STUDY, run_depth_study
    from gridlstm.sweep.spec import load_sweep

    path, overrides = split_config_args(args)
    path = path or DEFAULT_STUDY
    sweep = load_sweep(path, overrides)
    console = stderr_console()
    console.print(f"{sweep.name}: {len(sweep.runs)} models x {seeds} seed(s), measured at initialisation")

    def progress(i: int, n: int, run_id: str, seconds: float) -> None:
        console.print(f"  [{i}/{n}] {run_id} ({seconds:.1f} s)", markup=False)

    result = run_depth_study(sweep, out, seeds, batch, device, path, progress)
    finish(console, f"measured in {result.seconds:.0f} s", result.files, result.folder)


def finish(console: Any, line: str, files: list[Path], folder: Path) -> None:
    """The closing line on stderr, then every file written and the study folder last on stdout."""
    console.print(line)
    for f in files:
        click.echo(str(f))
    click.echo(str(folder))


@study.command(context_settings=CONTEXT)
@click.argument("args", nargs=-1, metavar="[STUDY_FILE] [KEY=VALUE]...")
@measurement_options(100, 1, "Measurement seeds per model and stage.", "train.batch_size of each config")
@click.option("--k", "k", default="8", show_default=True, metavar="K|all",
              help="Lyapunov exponents per axis (all: the whole state).")
@click.option("--steps", type=click.IntRange(1), default=None,
              help="Training steps before the second measurement [default: the file's train_steps].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("outputs"),
              show_default=True, help="Root folder; the study goes to OUT/studies/NAME/<UTC time>-<id>/.")
@device_option
@handle_errors
def spectrum(args: tuple[str, ...], seeds: int, batch: Optional[int], k: str, steps: Optional[int], out: Path,
             device: str) -> None:
    """The Lyapunov spectrum at initialisation and after a short training: every entry of
    STUDY_FILE (default configs/studies/spectrum.yaml: adding T=200 for rnn, lstm, gru, grid along
    time; parity through depth at D=16 for lstm and the grids along depth) is gradchecked with
    --spectrum, trained for the file's train_steps, and gradchecked again; then spectrum.png,
    spectrum.md and spectrum.csv. KEY=VALUE overrides every entry. Prints the files, the folder last.

    \b
    Example:
      gridlstm study spectrum
      gridlstm study spectrum configs/studies/spectrum.yaml model.hidden=32 --k 4 --steps 50
    """
    from gridlstm.studies.spectrum import DEFAULT_SPECTRUM_STUDY, load_spectrum_study, run_spectrum_study

    from .gradcheck import spectrum_settings

    path, overrides = split_config_args(args)
    settings = spectrum_settings(k)
    if settings is None:
        raise click.BadParameter("0: the study needs at least one exponent (a number or 'all')", param_hint="--k")
    study_spec = load_spectrum_study(path or DEFAULT_SPECTRUM_STUDY, overrides)
    if steps is not None:
        study_spec = replace(study_spec, train_steps=steps)
    console = stderr_console()
    console.print(f"{study_spec.name}: {len(study_spec.entries)} models, measured at initialisation and after "
                  f"{study_spec.train_steps} training steps")

    def progress(name: str, seconds: float) -> None:
        console.print(f"  {name} ({seconds:.1f} s)", markup=False)

    result = run_spectrum_study(study_spec, out, settings, seeds, batch, device, progress)
    finish(console, f"done in {result.seconds:.0f} s", result.files, result.folder)


@study.command(context_settings=CONTEXT)
@click.argument("results_file", required=False, type=click.Path(dir_okay=False, path_type=Path),
                shell_complete=complete_paths)
@click.option("--only", multiple=True, metavar="NAME", help="Only this comparison (repeatable).")
@click.option("--resume", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Finish a study folder that was interrupted: completed runs are kept, the "
                   "interrupted one resumes from its checkpoint.")
@click.option("--page", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the page here (e.g. docs/results.md), its figures in a folder beside it.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("outputs"),
              show_default=True, help="Root folder; the study goes to OUT/studies/NAME/<UTC time>-<id>/.")
@click.option("--depth-seeds", type=click.IntRange(1, 100), default=3, show_default=True,
              help="Measurement seeds of the depth study.")
@click.option("--jobs", "-j", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Runs at once, one process and one torch thread each (1: one after another here).")
@click.option("--page-only", is_flag=True, help="With --resume: write the page from what has finished in "
              "the folder, training nothing (comparisons with unfinished runs say so).")
@device_option
@handle_errors
def results(results_file: Optional[Path], only: tuple[str, ...], resume: Optional[Path],
            page: Optional[Path], out: Path, depth_seeds: int, jobs: int, page_only: bool, device: str) -> None:
    """Train every comparison of RESULTS_FILE (default configs/studies/results.yaml: the Grid LSTM
    paper's memorisation, addition and parity, adding at T = 200 and Arjovsky et al.'s gradient
    figure at T = 1000, at CPU scale) with every seed of every model, run the depth study, then
    write results.md: our numbers beside the published ones, a verdict per comparison computed
    over the seeds. Prints the files, the study folder last. Ctrl-C stops; --resume FOLDER finishes.

    \b
    Example:
      gridlstm study results --page docs/results.md --jobs 2     # make results
      gridlstm study results --only arjovsky_ours --only arjovsky_theirs
      gridlstm study results --resume outputs/studies/results/STAMP --page-only --page docs/results.md
    """
    from gridlstm.errors import GridlstmError
    from gridlstm.runs.records import Status
    from gridlstm.studies.results import DEFAULT_RESULTS, load_results_spec, run_results, write_page
    from gridlstm.sweep.folder import error_line

    spec = load_results_spec(results_file or DEFAULT_RESULTS, only)
    console = stderr_console()
    if page_only:
        if resume is None:
            raise GridlstmError("--page-only needs --resume FOLDER: the study folder to write the page from")
        from gridlstm.studies.results import study_folder

        for f in write_page(spec, study_folder(spec, out, resume), out, page):
            click.echo(str(f))
        click.echo(str(resume))
        return
    runs = sum(len(c.entries) * c.seeds for c in spec.comparisons)
    console.print(f"{spec.name}: {len(spec.comparisons)} comparison(s), {runs} training runs"
                  + (", then the depth study" if spec.depth else ""))

    def progress(what: str, run_dir: Path, status: object, seconds: float) -> None:
        why = f": {error_line(run_dir)}" if status == Status.FAILED else ""
        console.print(f"  {what}: {status} ({seconds:.0f} s){why}", markup=False, soft_wrap=True)  # one line

    outcome = run_results(spec, out, device, resume, page, depth_seeds, jobs, progress)
    console.print(f"done in {outcome.seconds / 60:.1f} min")
    for f in outcome.files:
        click.echo(str(f))
    click.echo(str(outcome.folder))
