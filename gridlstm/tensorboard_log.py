"""TensorBoard logs of run folders (the optional extra ``gridlstm[tensorboard]``); the folder stays the truth.

``tracking.tensorboard: DIR`` (or ``--tensorboard DIR``) gives each run its own log directory,
``DIR/<run name>/<run folder>``, or, for a sweep's run, ``DIR/<sweep name>/<sweep folder>/<run id>``
(so TensorBoard groups a sweep's runs), holding:

    scalars   every metrics.csv row at its step: train/loss train/metric grad_norm lr (train rows),
              eval/loss eval/metric (eval rows); written at each eval point while the run trains
    images    gradients/profiles (the gradient-norm profiles recorded while training, one line per
              recorded step) and gradients/gradcheck (gradcheck's profile, where it has run)
    text      gradients/profiles: a table per recorded step of g at t = T and t = 1 per state and
              layer; gradients/gradcheck: gradcheck's summary.md
    hparams   the config's scalar keys (flattened: model.hidden, train.lr, ...) with the run's
              outcome and gradcheck's numbers as its metrics (gridlstm/run_numbers.py)

Written through ``torch.utils.tensorboard.SummaryWriter`` (needs the ``tensorboard`` package).
"""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Optional

from . import run_numbers
from .errors import GridlstmError
from .runs.files import read_text
from .runs.layout import GRADIENT_MARKDOWN, PROFILES
from .runs.run import RunFolder
from .tracking import metric_rows

TENSORBOARD_MISSING = ("TensorBoard logging needs the optional extra: pip install '.[tensorboard]' from the "
                       "gridlstm source folder (or pip install tensorboard)")


def writer_class() -> Any:
    """``SummaryWriter``, with a one-line error when tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise GridlstmError(TENSORBOARD_MISSING) from None
    return SummaryWriter


def log_dir(root: Path, run_dir: Path) -> Path:
    """Where a run folder logs under ``root``: <name>/<folder>, or <sweep>/<sweep folder>/<run id>."""
    run_dir = Path(run_dir).resolve()
    if run_dir.parent.name == "runs" and (run_dir.parent.parent / "sweep.yaml").is_file():
        sweep = run_dir.parent.parent
        return Path(root) / sweep.parent.name / sweep.name / run_dir.name
    return Path(root) / run_dir.parent.name / run_dir.name


class TensorBoardLog:
    """Trainer hook: the metrics.csv rows written since the last eval point go to TensorBoard at
    each eval point; finish() adds the images, tables and hparams from the folder."""

    def __init__(self, root: Path):
        self.root, self.writer_cls = Path(root), writer_class()
        self.writer: Any = None
        self.done = -1

    def __call__(self, trainer: Any) -> None:
        if trainer.run_dir is None:
            return
        if self.writer is None:
            self.writer = self.writer_cls(log_dir=str(log_dir(self.root, trainer.run_dir)))
            self.done = trainer.step - 1  # a resumed run: what came before is logged already
        elif (trainer.step - 1) % trainer.cfg.train.eval_every == 0:
            self.flush(trainer.run_dir)

    def flush(self, run_dir: Path) -> None:
        if self.writer is None:
            return
        rows, _ = RunFolder(run_dir).metrics_from(0)  # complete rows only
        self.done = write_scalars(self.writer, [r for r in metric_rows(rows) if r[0] > self.done], self.done)

    def finish(self, run_dir: Path) -> Path:
        """At the end of the run: the last rows, then everything else, from the folder."""
        if self.writer is None:
            self.writer = self.writer_cls(log_dir=str(log_dir(self.root, run_dir)))
        self.flush(run_dir)
        write_extras(self.writer, Path(run_dir))
        self.writer.close()
        return log_dir(self.root, run_dir)


def write_scalars(writer: Any, rows: list[tuple[int, dict[str, float], float]], done: int) -> int:
    for step, values, _ in rows:
        for key, value in values.items():
            writer.add_scalar(key, value, step)
        done = max(done, step)
    return done


def log_run_folder(root: Path, run_dir: Path, scalars: bool = True) -> Path:
    """A whole run folder at once (a sweep's runs); ``scalars=False``: only the images, tables and
    hparams (after gradcheck, when the training's scalars are logged already). Returns its log dir."""
    where = log_dir(root, run_dir)
    writer = writer_class()(log_dir=str(where))
    if scalars:
        write_scalars(writer, metric_rows(RunFolder(run_dir).metrics_from(0)[0]), -1)
    write_extras(writer, Path(run_dir))
    writer.close()
    return where


def write_extras(writer: Any, run_dir: Path) -> None:
    """Images and tables of the gradient profiles, and the hparams with the run's numbers."""
    step = int(run_numbers.outcome(run_dir).get("outcome/steps", 0))
    folder = RunFolder(run_dir)
    profiles = folder.measured_rows(PROFILES)
    if profiles:
        writer.add_text("gradients/profiles", profile_table(profiles), step)
    summary = folder.gradient_file(GRADIENT_MARKDOWN)
    if summary.is_file():
        writer.add_text("gradients/gradcheck", read_text(summary), step)
    for tag, what in (("gradients/profiles", "profiles"), ("gradients/gradcheck", "gradients")):
        image = figure_image(run_dir, what)
        if image is not None:
            writer.add_image(tag, image, step, dataformats="HWC")
    writer.add_hparams(hparams(run_dir), run_numbers.numbers(run_dir) or {"outcome/steps": 0.0}, run_name=".",
                       global_step=step)


def profile_table(rows: list[dict[str, str]]) -> str:
    """Markdown: per recorded step, state and layer, g at t = T (beside the loss) and at t = 1, and
    the decades between them (mean over the profile's seeds)."""
    norms: dict[tuple[int, str, int], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        norms[(int(r["step"]), r["state"], int(r["layer"]))][int(r["t"])].append(float(r["norm"]))
    lines = ["| step | state | layer | g at t = T | g at t = 1 | decades lost |", "|---|---|---|---|---|---|"]
    for (step, state, layer), by_t in sorted(norms.items()):
        last, first = (sum(by_t[t]) / len(by_t[t]) for t in (max(by_t), min(by_t)))
        lost = math.log10(last / first) if first > 0 and last > 0 else math.inf
        lines.append(f"| {step} | {state} | {layer} | {last:.3g} | {first:.3g} | {lost:.3g} |")
    return "\n".join(lines)


def figure_image(run_dir: Path, what: str) -> Optional[Any]:
    """The figure `gridlstm plot RUN --what WHAT` draws, as an RGB array (None where it has no data)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from .plots.figures import make_figures
    from .results.collect import load_runs

    try:
        [figure] = make_figures(load_runs([str(run_dir)]), what)[:1]
    except (GridlstmError, ValueError):
        return None
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def hparams(run_dir: Path) -> dict[str, Any]:
    """The config's keys with a scalar value (TensorBoard's hparams take bool, str, int, float)."""
    from .config import flatten

    try:
        flat = flatten(RunFolder(run_dir).config_yaml())
    except GridlstmError:
        return {}
    return {k: v for k, v in flat.items() if isinstance(v, (bool, str, int, float))}
