"""Every example in every command's --help runs and exits 0, in one folder, as a reader would run
them: command by command in the order of CHAIN (train and sweep make the runs the others read), each
command's examples in the order its help shows them. A placeholder run or sweep folder
(``outputs/default/20250101-120000-ab12``, ``.../STAMP``) stands for the one folder an earlier
example made there; none may be missing or ambiguous.

Each runs as written through the real command line, except for the words in EXTRA, appended after
the example's own: KEY=VALUE overrides its command accepts anyway, which shrink the training or the
measurement and leave what the example shows alone (a train example still trains that config, a
sweep still makes its 36 runs). NOT_RUN names the examples this test leaves out and why; an example
whose optional extra is not installed (mlflow) is left out too, and said so in the skip reason.
"""
from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from gridlstm.cli.main import cli
from tests.test_help_examples import examples_in_help_order

CHAIN = ("train", "gradcheck", "plot", "sweep", "report", "export", "study", "configs")
TOY_TRAIN = "train.steps=4 train.eval_every=2 train.eval_batches=1"
EXTRA = {
    "gridlstm train": TOY_TRAIN,
    "gridlstm train --resume outputs/default/20250101-120000-ab12 --force train.steps=3000": "train.steps=8",
    "gridlstm train configs/adding_grid.yaml model.hidden=128 task.length=200": TOY_TRAIN,
    "gridlstm train configs/adding_rnn.yaml task.length=200": TOY_TRAIN,
    "gridlstm train configs/copy_lstm.yaml train.steps=500 --out runs --name trial": TOY_TRAIN,
    "gridlstm train task=copy model=grid model.hidden=32": TOY_TRAIN,
    "gridlstm train task=copy model=lstm": TOY_TRAIN,
    "gridlstm sweep configs/sweeps/adding_length.yaml train.steps=200 --jobs 2": TOY_TRAIN,
    "gridlstm study depth": "task.length=5 model.hidden=8",
    "gridlstm study depth configs/studies/depth.yaml model.hidden=64 --seeds 5": "task.length=5",
    "gridlstm study spectrum": "task.length=10 model.hidden=8",
    "gridlstm study spectrum configs/studies/spectrum.yaml model.hidden=32 --k 4 --steps 50": "task.length=10",
}
NOT_RUN = {
    "gridlstm sweep configs/sweeps/adding_length.yaml --executor ray --address auto":
        "needs a running Ray cluster (tests/test_sweep_ray*.py start one)",
    "gridlstm export outputs/sweeps/adding_length/20260101-120000-ab12 --to http://127.0.0.1:5000":
        "needs an MLflow server",
    "gridlstm study results --page docs/results.md --jobs 2": "hours of training (make results)",
    "gridlstm study results --only arjovsky_ours --only arjovsky_theirs": "trains at T = 1000 for an hour",
    "gridlstm study results --resume outputs/studies/results/STAMP --page-only --page docs/results.md":
        "needs a finished results study",
}
NEEDS = {"--to sqlite": "mlflow"}
PLACEHOLDER = re.compile(r"(outputs/[\w./-]+?)/(?:\d{8}-\d{6}-[0-9a-f]{4}|STAMP)(?=[/\s]|$)")


def chained() -> list[str]:
    found = examples_in_help_order()
    return sorted(found, key=lambda e: CHAIN.index(shlex.split(e)[1]))


def test_every_example_of_the_lists_is_in_a_help():
    found = set(examples_in_help_order())
    assert set(EXTRA) <= found, set(EXTRA) - found
    assert set(NOT_RUN) <= found, set(NOT_RUN) - found
    assert {shlex.split(e)[1] for e in found} <= set(CHAIN)


def resolved(example: str, where: Path) -> str:
    """``example`` with each placeholder folder replaced by the one folder beside it that exists."""
    def one(match: re.Match) -> str:
        made = sorted(p for p in (where / match.group(1)).glob("*") if p.is_dir())
        assert len(made) == 1, f"{example}: {match.group(0)} stands for one folder, found {made}"
        return str(made[0].relative_to(where))
    return PLACEHOLDER.sub(one, example)


@pytest.mark.slow
def test_every_help_example_runs_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a folder without configs/: shipped configs are found from anywhere
    left_out = []
    for example in chained():
        missing = [m for flag, m in NEEDS.items() if flag in example and importlib.util.find_spec(m) is None]
        if example in NOT_RUN or missing:
            left_out.append(example)
            continue
        words = shlex.split(resolved(example, tmp_path))[1:] + EXTRA.get(example, "").split()
        result = CliRunner().invoke(cli, words)
        assert result.exit_code == 0, f"{example}\n{' '.join(words)}\n{result.output[-3000:]}"
    assert len(left_out) <= len(NOT_RUN) + 1, left_out
