"""Task statistics: the recipes of docs/models.md (Tasks), checked on large seeded samples."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gridlstm.config import TaskConfig
from gridlstm.tasks import TASKS, Adding, Copy, Parity, TemporalOrder, make_task
from gridlstm.train.data import eval_set

N = 20_000


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def best_constant_ce(y: torch.Tensor, classes: int) -> float:
    """Cross-entropy of the best input-independent predictor: the label frequencies."""
    p = torch.bincount(y.reshape(-1), minlength=classes).double() / y.numel()
    return float(-(p[p > 0] * p[p > 0].log()).sum())


def test_adding_markers_values_target_and_chance():
    task = Adding(40)
    x, y = task.sample(N, gen())
    assert x.shape == (N, 40, 2) and y.shape == (N, 1)
    marker = x[..., 1]
    assert torch.all(marker.sum(1) == 2)
    first, second = marker[:, :20].argmax(1), marker[:, 20:].argmax(1) + 20
    assert torch.all(marker[:, :20].sum(1) == 1) and torch.all(marker[:, 20:].sum(1) == 1)
    # each marker uniform over its half
    counts = torch.bincount(first, minlength=20).double()
    assert counts.min() > 0.8 * N / 20 and counts.max() < 1.2 * N / 20
    assert torch.all((second >= 20) & (second < 40))
    torch.testing.assert_close(y[:, 0], x[torch.arange(N), first, 0] + x[torch.arange(N), second, 0])
    # chance: predicting 1 (the mean) gives Var(u1+u2) = 1/6
    mse_const = F.mse_loss(torch.ones_like(y), y).item()
    assert abs(mse_const - task.chance) < 0.01 and abs(task.chance - 0.1667) < 1e-4


def test_copy_layout_targets_and_chance():
    T = 30
    task = Copy(T)
    x, y = task.sample(2000, gen())
    assert x.shape == (2000, T + 20, 10) and y.shape == (2000, T + 20)
    seq = x.argmax(-1)
    assert torch.all(x.sum(-1) == 1)  # one-hot
    assert torch.all((seq[:, :10] >= 1) & (seq[:, :10] <= 8))
    assert torch.all(seq[:, 10:T + 9] == 0) and torch.all(seq[:, T + 9] == 9) and torch.all(seq[:, T + 10:] == 0)
    assert torch.all(y[:, :T + 10] == 0) and torch.equal(y[:, T + 10:], seq[:, :10])
    # the memoryless baseline: blanks where the target is always blank, uniform over 8 symbols after
    logits = torch.full((2000, T + 20, 9), -1e9)
    logits[:, :T + 10, 0] = 0.0
    logits[:, T + 10:, 1:] = 0.0
    ce = task.loss(logits, y).item()
    assert abs(ce - task.chance) < 1e-6 and abs(task.chance - 10 * math.log(8) / (T + 20)) < 1e-12


@pytest.mark.parametrize("mode", ["sequence", "whole"])
def test_parity_shapes_balance_and_chance(mode):
    task = Parity(12, mode)
    x, y = task.sample(N, gen())
    assert x.shape == ((N, 12, 1) if mode == "sequence" else (N, 1, 12))
    bits = x.reshape(N, 12)
    torch.testing.assert_close(y, bits.sum(1).long() % 2)
    assert abs(y.float().mean().item() - 0.5) < 0.02
    assert abs(best_constant_ce(y, 2) - task.chance) < 0.005


@pytest.mark.parametrize("keys", [2, 3])
def test_temporal_order_keys_windows_labels_and_chance(keys):
    T = 60
    task = TemporalOrder(T, keys)
    x, y = task.sample(N, gen())
    assert x.shape == (N, T, 6)
    seq = x.argmax(-1)
    is_key = seq < 2
    assert torch.all(is_key.sum(1) == keys)
    windows = task.windows()
    expected = [(6, 12), (30, 36)] if keys == 2 else [(6, 12), (18, 24), (36, 42)]
    assert windows == expected
    label = torch.zeros(N, dtype=torch.long)
    for a, b in windows:
        in_window = is_key[:, a:b]
        assert torch.all(in_window.sum(1) == 1)
        label = label * 2 + seq[:, a:b][in_window]
    assert torch.equal(label, y)
    counts = torch.bincount(y, minlength=2 ** keys).double() / N
    assert counts.min() > 0.9 / 2 ** keys
    assert abs(best_constant_ce(y, 2 ** keys) - task.chance) < 0.01


def test_generators_are_seeded_and_eval_set_is_fixed():
    task = make_task(TaskConfig(name="adding", length=10))
    a, b = task.sample(8, gen(3)), task.sample(8, gen(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(task.sample(8, gen(4))[0], a[0])
    e1, e2 = eval_set(task, 2, 8, 1234), eval_set(task, 2, 8, 1234)
    assert all(torch.equal(p[0], q[0]) for p, q in zip(e1, e2, strict=True))


def test_make_task_dispatch():
    assert isinstance(make_task(TaskConfig(name="copy", length=5)), Copy)
    p = make_task(TaskConfig(name="parity", length=8, mode="whole"))
    assert isinstance(p, Parity) and p.input_size == 8
    t = make_task(TaskConfig(name="temporal_order", length=20, keys=3))
    assert isinstance(t, TemporalOrder) and t.output_size == 8


def test_make_task_refuses_an_unknown_name_and_lists_the_tasks():
    cfg = TaskConfig.model_construct(name="tmporal_order", length=20)  # unvalidated, as a library caller may
    with pytest.raises(ValueError) as e:
        make_task(cfg)
    assert str(e.value) == ("unknown task.name 'tmporal_order' (expected one of adding, copy, parity, "
                            "temporal_order, addition, memorize)")


@pytest.mark.parametrize("kw", [{"name": "adding"}, {"name": "copy"}, {"name": "parity"},
                                {"name": "parity", "mode": "whole"}, {"name": "temporal_order", "keys": 3},
                                {"name": "addition"}, {"name": "memorize", "vocab": 5}])
def test_a_task_is_built_from_the_config_keys_named_like_its_fields(kw):
    task = make_task(TaskConfig(length=12, **kw))
    assert type(task) is TASKS[kw["name"]]
    for key, value in kw.items():
        assert getattr(task, key) == value
    x, _ = task.sample(3, gen())
    assert x.shape == (3, task.steps, task.input_size)  # steps: the length of one sequence
