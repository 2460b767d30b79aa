"""The Python API (README "Python API"): what the commands do, for notebooks and scripts.

    cfg = load_config("configs/adding_grid.yaml", ["task.length=50"])   # as the CLI reads it
    task, model = build(cfg)                                           # seeded, sizes from the task
    summary = start_run(cfg, "outputs")                                # a run folder, as `gridlstm train`
    result = measure_gradients(summary.run_dir)                        # as `gridlstm gradcheck RUN`
    run = open_run(summary.run_dir)                                    # its config, meta, summary, ...
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

if TYPE_CHECKING:
    from gridlstm.config import Config
    from gridlstm.nn.model import RecurrentModel
    from gridlstm.probe.gradcheck import GradcheckResult
    from gridlstm.runs.run import RunFolder
    from gridlstm.tasks import Task


def build(cfg: Config, device: str = "cpu") -> tuple[Task, RecurrentModel]:
    """The task and the (seeded, untrained) model of ``cfg``, as a run starts them."""
    from gridlstm.factory import build as build_on
    from gridlstm.factory import resolve_device

    return build_on(cfg, resolve_device(device))


def measure_gradients(source: Union[Config, str, Path], overrides: tuple[str, ...] | list[str] = (),
                      seeds: int = 1, batch: Optional[int] = None, device: str = "auto",
                      out: Union[str, Path, None] = None, max_threads: Optional[int] = None) -> GradcheckResult:
    """Gradient-norm profiles, as ``gridlstm gradcheck``: of a Config or YAML file (the model at
    initialisation) or of a run folder (its checkpoint). ``result.rows``: gradients.csv rows;
    ``result.summary``: the decay table, with the default prediction (the top Lyapunov exponent's
    predicted slope, as `gridlstm gradcheck` gives by default); ``out``: also write gradients.csv,
    summary.csv/.md, spectrum.csv, meta.json there;
    ``max_threads``: a cap on ``train.threads``."""
    from gridlstm.config import Config
    from gridlstm.probe import gradcheck

    if isinstance(source, Config):
        src = gradcheck.Source(source, "config", Path("<config>"))
    else:
        src = gradcheck.load_source(Path(source), list(overrides))
    result = gradcheck.run_gradcheck(src, seeds=seeds, batch=batch, device=device, max_threads=max_threads)
    if out is not None:
        gradcheck.write_outputs(result, Path(out))
    return result


def open_run(path: Union[str, Path]) -> RunFolder:
    """An existing run folder: ``.config()``, ``.meta()``, ``.summary()``, ``.metrics()``,
    ``.checkpoint()``, and its files by name (``.profiles_file``, ...)."""
    from gridlstm.runs.run import RunFolder

    return RunFolder.open(Path(path))
