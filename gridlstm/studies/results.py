"""The results study (docs/results.md): train every model of every comparison of a results file
(results_spec.py) with every seed, then write a page that sets our numbers beside the published
ones, a verdict per comparison computed over the seeds (gridlstm/results/page.py, verdict.py).

    OUT/studies/<name>/<UTC stamp>-<id>/
        results.yaml                 the results file as read
        runs/<comparison>-<i>-s<seed>/   a run folder each (gridlstm train writes the same)
        depth/                       the depth study (study.yaml, runs/, depth.png, depth.md, depth.csv)
        spectrum/                    the spectrum study (study.yaml, runs/, spectrum.png, .md, .csv)
        figures/<comparison>.png
        results.md                   the page (``--page`` also copies it and its figures elsewhere)

Runs are trained ``jobs`` at a time (one process and one torch thread each with jobs > 1, the
sweep's local pool), or one after another in this process. A run already finished in the folder is
kept, an interrupted one resumes from its checkpoint (``--resume FOLDER``), so a long study
survives Ctrl-C. ``write_page`` reads whatever has finished: a comparison some of whose runs are
not finished is listed as not yet run over its seeds, never summarised from part of them.
"""
from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from gridlstm.errors import GridlstmError, ParamError
from gridlstm.runs.files import new_folders
from gridlstm.runs.folder import atomic_write_text, copy_atomic, make_run_dir
from gridlstm.runs.records import Status

from .results_spec import DEFAULT_RESULTS, Comparison, Entry, ResultsSpec, load_results_spec

PAPER_RESULTS = DEFAULT_RESULTS.parent / "results_paper.yaml"

__all__ = ["DEFAULT_RESULTS", "load_results_spec", "run_results", "write_page"]

Progress = Callable[[str, Path, Status, float], None]


def run_folder(folder: Path, comparison: Comparison, i: int, seed: int) -> Path:
    return folder / "runs" / f"{comparison.name}-{i}-s{seed}"


def seed_runs(comp: Comparison, folder: Path) -> list[list[tuple[Entry, int, Path]]]:
    """Per model of ``comp``: (entry, seed, run folder) for seeds 0..seeds-1."""
    return [[(e, s, run_folder(folder, comp, i, s)) for s in range(comp.seeds)] for i, e in enumerate(comp.entries)]


def finished(run_dir: Path) -> Optional[Status]:
    from gridlstm.runs.run import RunFolder

    if not RunFolder(run_dir).summary_file.is_file():
        return None
    summary = RunFolder.open(run_dir).summary()
    if summary is None:
        return None
    status = Status(summary.status)
    return status if status.finished else None


def train_entry(entry: Entry, seed: int, run_dir: Path, device: str) -> Status:
    """Train (or finish) one seed of one model at ``run_dir``, in this process; how it ended."""
    from gridlstm.runs.run import RunFolder
    from gridlstm.train.lifecycle import resume_run, start_run

    done = finished(run_dir)
    if done is not None:
        return done
    if RunFolder(run_dir).checkpoint_file.is_file():
        return Status(resume_run(run_dir, device=device).status)
    if run_dir.exists():  # started but no checkpoint yet: nothing to keep
        shutil.rmtree(run_dir)
    return Status(start_run(entry.seeded(seed), device=device, run_dir=run_dir).status)


class _Events:
    def __init__(self, names: dict[str, Path], progress: Optional[Progress]):
        self.names, self.progress = names, progress
        self.t0: dict[str, float] = {}
        self.wall0: dict[str, float] = {}

    def started(self, run_id: str) -> None:
        self.t0[run_id], self.wall0[run_id] = time.perf_counter(), time.time()

    def finished(self, run_id: str, error: Optional[str]) -> None:
        from gridlstm.runs.layout import TRACEBACK

        run_dir, t0 = self.names[run_id], self.t0.get(run_id, time.perf_counter())
        status = (finished(run_dir) or Status.INTERRUPTED) if error is None else Status.FAILED
        tb = run_dir / TRACEBACK  # written by this attempt: it failed (a refused resume, a crash)
        if status == Status.INTERRUPTED and tb.is_file() and tb.stat().st_mtime >= self.wall0.get(run_id, 0.0):
            status = Status.FAILED
        if self.progress:
            self.progress(run_id, run_dir, status, time.perf_counter() - t0)


def _pool(todo: list[tuple[Entry, int, Path]], device: str, jobs: int, progress: Optional[Progress]) -> None:
    from gridlstm.runs.run import RunFolder
    from gridlstm.sweep.executors import LocalExecutor, RunJob

    work = []
    for entry, seed, run_dir in todo:
        resume = RunFolder(run_dir).checkpoint_file.is_file()
        if run_dir.exists() and not resume:
            shutil.rmtree(run_dir)
        work.append(RunJob(run_dir.name, entry.seeded(seed), str(run_dir), device, gradients=False,
                           argv=("gridlstm", "study", "results"), resume=resume))
    LocalExecutor(jobs).run(work, _Events({j.id: Path(j.run_dir) for j in work}, progress))


def train_all(spec: ResultsSpec, folder: Path, device: str, jobs: int = 1,
              progress: Optional[Progress] = None) -> None:
    """Train every seed of every model of every comparison in ``folder``; raise after an interrupted
    or failed run (after the others of the pool have checkpointed), naming the resume command."""
    todo = [r for c in spec.comparisons for model in seed_runs(c, folder) for r in model if finished(r[2]) is None]
    if jobs > 1:
        _pool(todo, device, jobs, progress)
    else:
        for entry, seed, run_dir in todo:
            t0 = time.perf_counter()
            status = train_entry(entry, seed, run_dir, device)
            if progress:
                progress(run_dir.name, run_dir, status, time.perf_counter() - t0)
            if status in (Status.INTERRUPTED, Status.FAILED):
                break
    unfinished = [r[2] for r in todo if finished(r[2]) is None]
    if unfinished:
        raise GridlstmError(f"{unfinished[0]}: not finished ({len(unfinished)} run(s) in all); finish the "
                            f"study with: gridlstm study results {spec.path} --resume {folder}")


def study_folder(spec: ResultsSpec, out_root: Path, resume: Optional[Path]) -> Path:
    if resume is None:
        folder = make_run_dir(out_root / "studies", spec.name)
        atomic_write_text(folder / "results.yaml", spec.path.read_text())
        return folder
    if not (resume / "results.yaml").is_file():
        raise ParamError("resume", resume, "not a results study folder (no results.yaml); "
                         f"expected a folder under {out_root / 'studies' / spec.name}")
    if (resume / "results.yaml").read_text() != spec.path.read_text():
        raise ParamError("resume", resume, f"{spec.path} changed since the study started; give the "
                         "results file it started from, or start a new study")
    return resume


@dataclass
class ResultsOutcome:
    folder: Path
    page: Path
    files: list[Path]
    seconds: float


def _depth(spec: ResultsSpec, folder: Path, device: str, seeds: int) -> None:
    """The depth study inside ``folder``/depth (kept when already made)."""
    from gridlstm.studies.depth import run_depth_study
    from gridlstm.sweep.spec import load_sweep

    where = folder / "depth"
    if spec.depth is not None and not (where / "depth.md").is_file():
        run_depth_study(load_sweep(spec.depth), folder, seeds, None, device, spec.depth, folder=where)


def _spectrum(spec: ResultsSpec, folder: Path, device: str) -> None:
    """The spectrum study inside ``folder``/spectrum with ``gridlstm study spectrum``'s defaults
    (kept when already made; one that stopped part-way is made again, its folder being ours)."""
    from gridlstm.probe.spectrum_settings import SpectrumSettings
    from gridlstm.studies.spectrum import load_spectrum_study, run_spectrum_study

    where = folder / "spectrum"
    if spec.spectrum is None or (where / "spectrum.md").is_file():
        return
    if where.exists():
        shutil.rmtree(where)
    run_spectrum_study(load_spectrum_study(spec.spectrum), folder, SpectrumSettings(), device=device, folder=where)


# the gradient studies a results folder may hold: (sub-folder and file stem, heading, figure's alt text)
STUDIES = (("depth", "Gradient along depth at initialisation", "gradient against layer at initialisation"),
           ("spectrum", "Lyapunov spectrum: how many directions of the state carry a gradient",
            "Lyapunov exponents against their index, at initialisation and after training"))


def run_results(spec: ResultsSpec, out_root: Path = Path("outputs"), device: str = "cpu",
                resume: Optional[Path] = None, page: Optional[Path] = None, depth_seeds: int = 3,
                jobs: int = 1, progress: Optional[Progress] = None) -> ResultsOutcome:
    """Train every comparison over its seeds, run the depth and spectrum studies, then ``write_page``."""
    start = time.perf_counter()
    folder = study_folder(spec, out_root, resume)
    train_all(spec, folder, device, jobs, progress)
    _depth(spec, folder, device, depth_seeds)
    _spectrum(spec, folder, device)
    files = write_page(spec, folder, out_root, page)
    return ResultsOutcome(folder, folder / "results.md", files, time.perf_counter() - start)


def write_page(spec: ResultsSpec, folder: Path, out_root: Path, page: Optional[Path] = None) -> list[Path]:
    """results.md in ``folder`` (and a copy at ``page``, figures in ``<page stem>/``) from the runs
    that have finished there; comparisons with unfinished runs are named as not yet run."""
    from gridlstm.plots.results import curves_figure, profiles_figure
    from gridlstm.plots.style import save, style
    from gridlstm.results.page import Section, StudyBlock, header_lines, read_model, render_page
    from gridlstm.results.profiles import ProfileSection, read_profiles

    from .results_machine import describe_init, machine, paper_status, relative

    done, pending, figures, compute, runs = [], [], [], 0.0, 0
    for comp in spec.comparisons:
        models = seed_runs(comp, folder)
        missing = sum(finished(r[2]) is None for m in models for r in m)
        if missing:
            pending.append((comp.title, f"not yet run over seeds ({missing} of "
                            f"{sum(len(m) for m in models)} runs unfinished)"))
            continue
        command = f"gridlstm study results {relative(spec.path)} --only {comp.name}"
        fig = folder / "figures" / f"{comp.name}.png"
        if comp.figure == "profiles":
            pm = [read_profiles(m[0][0].label, describe_init(m[0][0].config), [r[2] for r in m]) for m in models]
            section: Section | ProfileSection = ProfileSection(
                comp.name, comp.title, comp.published, (comp.better[0], comp.better[1]),
                pm, None, command)
            with style():
                figures.append(save(profiles_figure(pm), fig))
        else:
            mr = [read_model(m[0][0].label, [r[2] for r in m]) for m in models]
            section = Section(comp.name, comp.title, comp.published, comp.better[0], mr, None, command)
            with style():
                figures.append(save(curves_figure(mr, _target(models[0][0][0])), fig))
        compute += sum(_wall(r[2]) for m in models for r in m)
        runs += sum(len(m) for m in models)
        done.append(section)
    made = [(name, heading, alt) for name, heading, alt in STUDIES if (folder / name / f"{name}.md").is_file()]
    header = header_lines(machine(folder), compute, relative(folder, out_root), runs)
    if spec.path.resolve() != PAPER_RESULTS.resolve() and PAPER_RESULTS.is_file():
        header += ["", paper_status(out_root, PAPER_RESULTS)]
    title = "Results beside the published numbers"

    def text(fig_dir: str, study_dir: Optional[str]) -> str:
        """The page with the comparisons' figures in ``fig_dir`` and the studies' in ``study_dir``
        (None: each in its own study folder)."""
        for s in done:
            object.__setattr__(s, "figure_path", f"{fig_dir}/{s.name}.png")
        blocks = [StudyBlock(heading, (folder / name / f"{name}.md").read_text(), alt,
                             f"{study_dir or name}/{name}.png" if (folder / name / f"{name}.png").is_file() else None)
                  for name, heading, alt in made]
        return render_page(title, header, blocks, done, pending)

    md = folder / "results.md"
    atomic_write_text(md, text("figures", None))
    files = [md, *figures]
    if page is not None:
        assets = page.parent / page.stem
        with new_folders(assets):  # each file whole (copy_atomic); no empty folder on a failure
            for f in figures:
                copy_atomic(f, assets / f.name)
            for name, _, _ in made:
                if (folder / name / f"{name}.png").is_file():
                    copy_atomic(folder / name / f"{name}.png", assets / f"{name}.png")
            atomic_write_text(page, text(page.stem, page.stem))
        files.append(page)
    return files


def _target(entry: Entry) -> float:
    from gridlstm.tasks import make_task

    t = entry.config.train.target
    return t if t is not None else make_task(entry.config.task).default_target


def _wall(run_dir: Path) -> float:
    from gridlstm.runs.run import RunFolder

    return float(RunFolder.open(run_dir).ended().wall_seconds)
