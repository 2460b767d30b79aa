"""The results study (docs/results.md): train every comparison of a results file, then write a page
that puts our numbers beside the published ones (the page itself: gridlstm/results/page.py).

configs/studies/results.yaml::

    name: results
    depth: depth.yaml                 # a depth study file (gridlstm study depth), relative to this file
    comparisons:
      - name: memorize                # [A-Za-z0-9_-]: run folders runs/<name>-<i>, figures/<name>.png
        title: "..."                  # the page's heading
        published: "..."              # the published anchor, in words
        better: 0                     # the run the publication found better (index into runs)
        figure: loss                  # loss (default) | depth (before/after training) | profiles
        runs:
          - {config: ../memorize_cpu_grid.yaml, set: [train.steps=100]}   # set: overrides

    OUT/studies/<name>/<UTC stamp>-<id>/
        results.yaml          the results file as read
        runs/<comparison>-<i>/   a run folder each (gridlstm train writes the same)
        depth/                the depth study (study.yaml, runs/, depth.png, depth.md, depth.csv)
        figures/<comparison>.png
        results.md            the page (``--page`` also copies it and its figures elsewhere)

Runs are trained one after another; a run already completed in the folder is kept, an interrupted
one is resumed from its checkpoint (``--resume FOLDER``), so a long study survives Ctrl-C.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from gridlstm import compose
from gridlstm.config import Config, load_config
from gridlstm.errors import ConfigError, GridlstmError
from gridlstm.runs.files import new_folders
from gridlstm.runs.folder import atomic_write_text, copy_atomic, make_run_dir
from gridlstm.runs.records import Status
from gridlstm.safe_yaml import _short, read_yaml

DEFAULT_RESULTS = compose.CONFIG_DIR / "studies" / "results.yaml"
FIGURES = ("loss", "depth", "profiles")
TOP_KEYS = ("name", "depth", "comparisons")
COMPARISON_KEYS = ("name", "title", "published", "better", "figure", "runs")
RUN_KEYS = ("config", "set")
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,59}")


@dataclass(frozen=True)
class Entry:
    """One training run of a comparison: a config file and its overrides, resolved and validated."""

    source: Path
    overrides: tuple[str, ...]
    config: Config


@dataclass(frozen=True)
class Comparison:
    name: str
    title: str
    published: str
    better: int          # index of the run the publication found better
    figure: str          # one of FIGURES
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class ResultsSpec:
    name: str
    path: Path
    depth: Optional[Path]
    comparisons: tuple[Comparison, ...]


def _keys(where: str, data: dict[str, Any], allowed: tuple[str, ...], problems: list[str]) -> None:
    for key in data:
        if key not in allowed:
            problems.append(f"{where}: unknown key {key!r}; expected one of {', '.join(allowed)}")


def _entry(where: str, raw: Any, base: Path, problems: list[str]) -> Optional[Entry]:
    if not isinstance(raw, dict) or "config" not in raw:
        problems.append(f"{where}: expected a mapping with a config file, e.g. {{config: ../adding_lstm.yaml}}")
        return None
    _keys(where, raw, RUN_KEYS, problems)
    sets = raw.get("set", [])
    if not isinstance(sets, list) or not all(isinstance(s, str) and "=" in s for s in sets):
        problems.append(f"{where}.set: expected a list of KEY=VALUE overrides, got {_short(sets)}")
        return None
    source = (base / str(raw["config"])).resolve()
    try:
        return Entry(source, tuple(sets), load_config(source, sets))
    except ConfigError as e:
        problems.extend(f"{where} ({source.name}): {p}" for p in e.problems)
        return None


def _comparison(i: int, raw: Any, base: Path, problems: list[str]) -> Optional[Comparison]:
    where = f"comparisons[{i}]"
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a mapping with name, title, published, better, runs")
        return None
    _keys(where, raw, COMPARISON_KEYS, problems)
    name = str(raw.get("name", ""))
    if not NAME_RE.fullmatch(name):
        problems.append(f"{where}.name: {_short(name)} is not a name (letters, digits, _ and -)")
    runs = raw.get("runs")
    if not isinstance(runs, list) or len(runs) < 2:
        problems.append(f"{where}.runs: expected a list of at least two runs to compare")
        return None
    entries = [_entry(f"{where}.runs[{j}]", r, base, problems) for j, r in enumerate(runs)]
    better, figure = raw.get("better", 0), raw.get("figure", "loss")
    if not isinstance(better, int) or isinstance(better, bool) or not 0 <= better < len(runs):
        problems.append(f"{where}.better: expected the index of a run, 0..{len(runs) - 1}, got {_short(better)}")
    if figure not in FIGURES:
        problems.append(f"{where}.figure: {_short(figure)}; expected one of {', '.join(FIGURES)}")
    if None in entries or problems:
        return None
    return Comparison(name, str(raw.get("title", name)), " ".join(str(raw.get("published", "")).split()),
                      better, figure, tuple(e for e in entries if e is not None))


def load_results_spec(path: Path, only: tuple[str, ...] = ()) -> ResultsSpec:
    """Read and check a results file; every problem goes into one ConfigError."""
    path = compose.find_config(path, "results")
    data = read_yaml(path, "results")
    problems: list[str] = []
    _keys(str(path), data, TOP_KEYS, problems)
    base = Path(path).resolve().parent
    raw = data.get("comparisons")
    if not isinstance(raw, list) or not raw:
        raise ConfigError([f"{path}: comparisons: expected a list of comparisons"])
    comparisons = [_comparison(i, c, base, problems) for i, c in enumerate(raw)]
    names = [c.name for c in comparisons if c is not None]
    for name in only:
        if name not in names:
            problems.append(f"--only {name}: no such comparison; expected one of {', '.join(names)}")
    if len(set(names)) < len(names):
        problems.append(f"{path}: comparison names repeat: {', '.join(names)}")
    depth = data.get("depth")
    depth_path = (base / str(depth)).resolve() if depth else None
    if depth_path is not None and not depth_path.is_file():
        problems.append(f"{path}: depth: study file not found: {depth_path}")
    if problems:
        raise ConfigError(problems)
    chosen = tuple(c for c in comparisons if c is not None and (not only or c.name in only))
    return ResultsSpec(str(data.get("name", Path(path).stem)), Path(path), depth_path, chosen)


@dataclass
class Trained:
    comparison: Comparison
    runs: list[Path]


def run_folder(folder: Path, comparison: Comparison, i: int) -> Path:
    return folder / "runs" / f"{comparison.name}-{i}"


def train_entry(entry: Entry, run_dir: Path, device: str) -> Status:
    """Train (or finish) one run at ``run_dir``; returns how it ended."""
    from gridlstm.runs.run import RunFolder
    from gridlstm.train.lifecycle import resume_run, start_run

    folder = RunFolder(run_dir)
    ended = RunFolder.open(run_dir).summary() if folder.summary_file.is_file() else None
    if ended is not None and ended.status in (Status.COMPLETED, Status.DIVERGED):
        return Status(ended.status)
    if folder.checkpoint_file.is_file():
        return Status(resume_run(run_dir, device=device).status)
    if run_dir.exists():  # started but no checkpoint yet: nothing to keep
        import shutil

        shutil.rmtree(run_dir)
    return Status(start_run(entry.config, device=device, run_dir=run_dir).status)


def train_all(spec: ResultsSpec, folder: Path, device: str,
              progress: Optional[Callable[[str, Path, Status, float], None]] = None) -> list[Trained]:
    """Train every run of every comparison in ``folder``; stop at the first interrupted one."""
    trained = []
    for comp in spec.comparisons:
        runs = []
        for i, entry in enumerate(comp.entries):
            run_dir = run_folder(folder, comp, i)
            t0 = time.perf_counter()
            status = train_entry(entry, run_dir, device)
            if progress:
                progress(f"{comp.name}[{i}] {entry.source.name}", run_dir, status, time.perf_counter() - t0)
            if status in (Status.INTERRUPTED, Status.FAILED):
                raise GridlstmError(f"{run_dir}: {status}; finish the study with "
                                    f"gridlstm study results --resume {folder}")
            runs.append(run_dir)
        trained.append(Trained(comp, runs))
    return trained


def study_folder(spec: ResultsSpec, out_root: Path, resume: Optional[Path]) -> Path:
    if resume is None:
        folder = make_run_dir(out_root / "studies", spec.name)
        atomic_write_text(folder / "results.yaml", spec.path.read_text())
        return folder
    if not (resume / "results.yaml").is_file():
        raise GridlstmError(f"--resume {resume}: not a results study folder (no results.yaml); "
                            f"expected a folder under {out_root / 'studies' / spec.name}")
    if (resume / "results.yaml").read_text() != spec.path.read_text():
        raise GridlstmError(f"--resume {resume}: {spec.path} changed since the study started; give the "
                            "results file it started from, or start a new study")
    return resume


@dataclass
class ResultsOutcome:
    folder: Path
    page: Path
    files: list[Path]
    seconds: float


def machine() -> str:
    import os
    import platform

    import torch

    load = os.getloadavg()[2] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores, Python "
            f"{platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} torch thread(s) "
            f"per run), load average {load:.1f} over the 15 minutes before the page was written")


def _depth(spec: ResultsSpec, folder: Path, device: str, seeds: int) -> Optional[tuple[str, Path]]:
    """The depth study inside ``folder``/depth (kept when already made); its table and figure."""
    from gridlstm.studies.depth import run_depth_study
    from gridlstm.sweep.spec import load_sweep

    if spec.depth is None:
        return None
    where = folder / "depth"
    if not (where / "depth.md").is_file():
        run_depth_study(load_sweep(spec.depth), folder, seeds, None, device, spec.depth, folder=where)
    return (where / "depth.md").read_text(), where / "depth.png"


def draw(comp: Comparison, runs: list[Path], path: Path) -> Path:
    from gridlstm.plots.depth import before_after_figure
    from gridlstm.plots.gradients import profiles_compare_figure
    from gridlstm.plots.style import save, style
    from gridlstm.plots.training import loss_figure
    from gridlstm.results.collect import Run

    loaded = [Run(r) for r in runs]
    with style():
        fig = {"loss": loss_figure, "depth": before_after_figure,
               "profiles": profiles_compare_figure}[comp.figure](loaded)
    return save(fig, path)


def run_results(spec: ResultsSpec, out_root: Path = Path("outputs"), device: str = "cpu",
                resume: Optional[Path] = None, page: Optional[Path] = None, depth_seeds: int = 3,
                note: Optional[str] = None, progress: Optional[Callable[[str, Path, Status, float], None]] = None) -> ResultsOutcome:
    """Train every comparison, run the depth study, draw the figures and write results.md (and a copy
    at ``page``, its figures beside it in ``<page stem>/``)."""
    from datetime import datetime, timezone

    from gridlstm.results.page import Section, outcome, render_page

    start = time.perf_counter()
    folder = study_folder(spec, out_root, resume)
    trained = train_all(spec, folder, device, progress)
    depth = _depth(spec, folder, device, depth_seeds)
    figures = [draw(t.comparison, t.runs, folder / "figures" / f"{t.comparison.name}.png") for t in trained]
    seconds = time.perf_counter() - start
    trained_for = sum(outcome(r).wall for t in trained for r in t.runs)

    def sections(fig_dir: str) -> list[Section]:
        return [Section(t.comparison.name, t.comparison.title, t.comparison.published, t.comparison.better,
                        t.comparison.figure, [outcome(r) for r in t.runs], f"{fig_dir}/{t.comparison.name}.png")
                for t in trained]

    def text(fig_dir: str, depth_png: Optional[str]) -> str:
        header = [
            f"Made by `gridlstm study results {spec.path.name}` on "
            f"{datetime.now(timezone.utc):%Y-%m-%d} ({machine()}, device {device}). The runs trained "
            f"for {trained_for / 60:.1f} min in all (their own wall times; this call took "
            f"{seconds / 60:.1f} min, runs kept from an earlier call excluded). Every number is read "
            f"from the study folder `{folder}`; run the command again to reproduce it."
            + (f" {note}" if note else ""),
            "",
            "Our runs are at CPU scale (fewer digits and symbols, H = 64 rather than 400, a few "
            "thousand steps): they can show whether the published *ordering* holds, not the published "
            "sample counts. The published numbers are quoted as the project's design notes and issue "
            "cite them; the papers' PDFs were not reachable from the machine that made this page.",
        ]
        return render_page("Results beside the published numbers", header,
                           depth[0] if depth else None, depth_png, sections(fig_dir))

    md = folder / "results.md"
    atomic_write_text(md, text("figures", "depth/depth.png" if depth else None))
    files = [md, *figures]
    if page is not None:
        assets = page.parent / page.stem
        with new_folders(assets):  # each file whole (copy_atomic); no empty folder on a failure
            for f in figures:
                copy_atomic(f, assets / f.name)
            if depth:
                copy_atomic(depth[1], assets / "depth.png")
            atomic_write_text(page, text(page.stem, f"{page.stem}/depth.png" if depth else None))
        files += [page]
    return ResultsOutcome(folder, md, files, seconds)
