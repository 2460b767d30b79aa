"""The Grid LSTM paper's tasks, addition and memorize: layouts, targets, chance baselines, metrics and
held-out sets checked on large seeded samples, and a few training steps of each with every model."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from gridlstm.cli.main import cli
from gridlstm.config import TaskConfig
from gridlstm.errors import ConfigError
from gridlstm.tasks import Addition, Memorize, make_task
from gridlstm.train.data import eval_set

N = 20_000


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def best_constant_ce(y: torch.Tensor, classes: int) -> float:
    """Cross-entropy of the best input-independent prediction at one position: the label frequencies."""
    p = torch.bincount(y.reshape(-1), minlength=classes).double() / y.numel()
    return float(-(p[p > 0] * p[p > 0].log()).sum())


def test_addition_layout_and_correct_sums():
    k = 15
    task = Addition(k)
    x, y = task.sample(N, gen())
    assert x.shape == (N, 3 * k + 3, 13) and y.shape == (N, k + 1)
    assert torch.all(x.sum(-1) == 1)                                     # one-hot
    seq = x.argmax(-1)
    assert torch.all(seq[:, :k] < 10) and torch.all(seq[:, k + 1:2 * k + 1] < 10)
    assert torch.all(seq[:, k] == 10) and torch.all(seq[:, 2 * k + 1] == 11)
    assert torch.all(seq[:, 2 * k + 2:] == 12)                           # blanks while answering
    for row in range(500):  # the targets are the digits of a + b, least significant first
        digits = lambda ds: int("".join(str(int(d)) for d in reversed(ds)))  # noqa: E731
        a, b = digits(seq[row, :k]), digits(seq[row, k + 1:2 * k + 1])
        assert digits(y[row]) == a + b
    # every digit of a and b uniform over 0..9
    counts = torch.bincount(seq[:, :k].reshape(-1), minlength=10).double() / (N * k)
    assert counts.min() > 0.095 and counts.max() < 0.105


def test_addition_chance_is_the_best_constant_prediction():
    k = 4
    task = Addition(k)
    _, y = task.sample(N, gen(1))
    empirical = sum(best_constant_ce(y[:, j], 10) for j in range(k + 1)) / (k + 1)
    assert abs(empirical - task.chance) < 0.005
    p = (10 ** k - 1) / (2 * 10 ** k)
    exact = (k * math.log(10) - p * math.log(p) - (1 - p) * math.log(1 - p)) / (k + 1)
    assert task.chance == pytest.approx(exact, rel=1e-12)
    # the loss of that constant prediction through task.loss: uniform digits, then the carry prior
    logits = torch.zeros(N, 3 * k + 3, 10)
    logits[:, -1] = -1e9
    logits[:, -1, 0], logits[:, -1, 1] = math.log(1 - p), math.log(p)
    assert abs(task.loss(logits, y).item() - task.chance) < 0.01


def test_addition_metric_is_sequence_accuracy():
    task = Addition(3)
    _, y = task.sample(8, gen())
    out = F.one_hot(y, 10).float()                                       # (8, 4, 10): perfect answers
    out = torch.cat([torch.zeros(8, 8, 10), out], 1)                     # (8, 12, 10): unscored steps first
    assert task.metric(out, y) == 1.0
    out[0, -1] = out[0, -1].roll(1)                                      # one wrong digit in one row
    assert task.metric(out, y) == pytest.approx(7 / 8)
    assert task.solved(0.99, task.default_target) and task.scores == "all"


def test_memorize_layout_targets_chance_and_metric():
    n, V = 20, 64
    task = Memorize(n, V)
    x, y = task.sample(N, gen())
    assert x.shape == (N, 2 * n + 1, V + 2) and y.shape == (N, n)
    seq = x.argmax(-1)
    assert torch.equal(seq[:, :n], y) and torch.all(seq[:, n] == V) and torch.all(seq[:, n + 1:] == V + 1)
    counts = torch.bincount(y.reshape(-1), minlength=V).double() / y.numel()
    assert counts.min() > 0.9 / V and counts.max() < 1.1 / V
    assert abs(best_constant_ce(y, V) - task.chance) < 0.005 and task.chance == pytest.approx(math.log(64))
    assert task.loss(torch.zeros(N, 2 * n + 1, V), y).item() == pytest.approx(math.log(V), rel=1e-6)
    out = torch.cat([torch.zeros(4, n + 1, V), F.one_hot(y[:4], V).float()], 1)
    out[0, -1] = out[0, -1].roll(1)                                      # one symbol of 4·20 wrong
    assert task.metric(out, y[:4]) == pytest.approx(1 - 1 / (4 * n))   # per symbol, not per sequence


@pytest.mark.parametrize("cfg", [TaskConfig(name="addition", length=5),
                                 TaskConfig(name="memorize", length=6, vocab=10)])
def test_streams_are_seeded_and_the_held_out_set_is_fixed(cfg):
    task = make_task(cfg)
    a, b = task.sample(8, gen(3)), task.sample(8, gen(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(task.sample(8, gen(4))[1], a[1])
    e1, e2 = eval_set(task, 2, 8, cfg.eval_seed), eval_set(task, 2, 8, cfg.eval_seed)
    assert all(torch.equal(p[1], q[1]) for p, q in zip(e1, e2, strict=True))


def test_make_task_and_vocab_applies_only_to_memorize():
    assert isinstance(make_task(TaskConfig(name="addition", length=15)), Addition)
    m = make_task(TaskConfig(name="memorize", length=20, vocab=64))
    assert isinstance(m, Memorize) and m.input_size == 66 and m.output_size == 64
    with pytest.raises(ConfigError, match="task.vocab applies only to task.name memorize"):
        from gridlstm.config import load_config
        load_config(None, ["task.vocab=10"])


MODELS = {"rnn": ["model.kind=rnn"], "lstm": ["model.kind=lstm"],
          "grid": ["model.kind=grid", "model.variant=paper", "model.tied=true"]}


@pytest.mark.parametrize("task", ["addition", "memorize"])
@pytest.mark.parametrize("kind", list(MODELS))
def test_train_a_few_steps(tmp_path, task, kind):
    args = ["train", f"configs/{task}_cpu_lstm.yaml", *MODELS[kind], "model.layers=2", "model.hidden=8",
            "task.length=3", "train.steps=4", "train.batch_size=4", "train.eval_every=2",
            "train.eval_batches=1", "train.log_every=2", "--out", str(tmp_path), "--device", "cpu"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((Path(result.output.strip().splitlines()[-1]) / "summary.json").read_text())
    expect = Addition(3).chance if task == "addition" else math.log(64)
    assert summary["steps"] == 4 and summary["chance"] == pytest.approx(expect)


@pytest.mark.parametrize("name", ["addition_paper_grid", "addition_paper_lstm", "addition_cpu_grid",
                                  "addition_cpu_lstm", "memorize_paper_grid", "memorize_paper_lstm",
                                  "memorize_cpu_grid", "memorize_cpu_lstm"])
def test_shipped_configs_load(name):
    from gridlstm.config import load_config

    cfg = load_config(Path("configs") / f"{name}.yaml")
    assert cfg.task.name == name.split("_")[0]
    if "paper" in name:
        assert cfg.model.hidden == 400 and cfg.train.batch_size == 15
        assert cfg.task.length == (15 if cfg.task.name == "addition" else 20)
    if name.endswith("grid"):
        assert cfg.model.variant == "paper" and cfg.model.tied and cfg.model.layers > 1
