"""Real run folders for the plot and report tests: tiny runs trained and gradchecked by the CLI."""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from gridlstm.cli.gradcheck import gradcheck
from gridlstm.cli.main import cli

TINY = ["task.length=12", "model.hidden=6", "train.steps=10", "train.batch_size=8", "train.eval_every=5",
        "train.log_every=5", "train.eval_batches=1", "train.early_stop=false", "gradients.at_steps=[0,5]"]


def train(out: Path, config: str, *overrides: str) -> Path:
    result = CliRunner().invoke(cli, ["train", config, *TINY, *overrides, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return Path(result.output.strip().splitlines()[-1])


def measure(run: Path, seeds: int = 2) -> None:
    result = CliRunner().invoke(gradcheck, [str(run), "--seeds", str(seeds), "--batch", "8", "--device", "cpu"])
    assert result.exit_code == 0, result.output


def make_runs(out: Path) -> dict[str, Path]:
    """rnn and grid on adding (with gradients), an lstm on adding without, a parity run."""
    runs = {
        "rnn": train(out, "configs/adding_rnn.yaml"),
        "grid": train(out, "configs/adding_grid.yaml", "model.layers=2"),
        "lstm": train(out, "configs/adding_lstm.yaml"),
        "parity": train(out, "configs/parity_rnn.yaml", "task.length=6"),
    }
    measure(runs["rnn"])
    measure(runs["grid"])
    return runs


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def seed_norms(path: Path, state: str, layer: int, step: int | None = None) -> dict[int, list[float]]:
    """t -> the norms of every measurement seed, straight from the CSV (latest step unless given):
    raw values, so a test can check a plotted value against them without computing what plot does."""
    rows = read_csv(path)
    step = max(int(r["step"]) for r in rows) if step is None else step
    acc: dict[int, list[float]] = defaultdict(list)
    for r in rows:
        if r["state"] == state and int(r["layer"]) == layer and int(r["step"]) == step:
            acc[int(r["t"])].append(float(r["norm"]))
    return dict(sorted(acc.items()))


def within_seeds(plotted: float, norms: list[float]) -> bool:
    """A plotted centre lies within the seeds' range (a NaN on the log axis stands for an exact 0)."""
    if np.isnan(plotted):
        return min(norms) == 0
    return min(norms) * (1 - 1e-12) <= plotted <= max(norms) * (1 + 1e-12)
