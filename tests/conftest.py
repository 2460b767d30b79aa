"""Fixtures shared across test modules: built once per session, read (never changed) by the tests."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .plot_runs import make_runs

TOY = ["task.length=5", "model.hidden=4", "model.layers=1", "train.steps=2", "train.eval_every=1",
       "train.log_every=1", "train.batch_size=4", "train.eval_batches=1", "name=toy"]


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory) -> dict[str, Path]:
    """Four tiny trained runs (rnn and grid gradchecked, lstm without gradients, a parity run) in
    one output folder ``out``, shared by the plot and report tests."""
    out = tmp_path_factory.mktemp("runs")
    return {"out": out, **make_runs(out)}


@pytest.fixture(scope="session")
def toy_run(tmp_path_factory) -> Path:
    """A trained run folder: config.yaml, meta.json, metrics.csv, checkpoint.pt, summary.json and
    gradients/ (profiles.csv from training, gradients.csv + summary.csv from gradcheck). Read-only
    by convention: copy it (``copy_run``) before changing anything."""
    from gridlstm.config import load_config
    from gridlstm.probe.gradcheck import load_source, run_gradcheck, write_outputs
    from gridlstm.train.lifecycle import start_run

    out = tmp_path_factory.mktemp("toy")
    summary = start_run(load_config(None, TOY), out, "cpu")
    run = Path(summary["run_dir"])
    source = load_source(run, [])
    write_outputs(run_gradcheck(source, 1, None, "cpu"), run / "gradients")
    return run


def copy_run(toy_run: Path, where: Path, name: str = "run") -> Path:
    """A copy of ``toy_run`` at ``where/name`` to change (with its .lock file, as any run has)."""
    dst = where / name
    shutil.copytree(toy_run, dst)
    return dst
