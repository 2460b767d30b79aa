"""The held-out set's own chance (docs/models.md, Tasks): the loss of the best constant predictor on
exactly the examples the eval loss is measured on, not the population's."""
from __future__ import annotations

import math

import pytest
import torch

from gridlstm.config import load_config
from gridlstm.tasks import Adding, Copy, Parity, eval_set, heldout_chance

EVAL_SEED = load_config(None, []).task.eval_seed


def test_adding_heldout_chance_is_the_best_constant_mse_on_the_set():
    """The shipped 4 × 32 = 128-example set: its own constant-predictor MSE is not the population's
    1/6, so a model at chance read 1.14× chance against 1/6."""
    task = Adding(100)
    batches = eval_set(task, 4, 32, EVAL_SEED)
    y = torch.cat([b[1] for b in batches])
    own = heldout_chance(task, batches)
    best = task.loss(torch.full_like(y, y.mean().item()), y).item()
    assert own == pytest.approx(best, rel=1e-5)
    for c in (y.mean().item() - 0.05, y.mean().item() + 0.05, 1.0):  # no constant does better
        assert task.loss(torch.full_like(y, c), y).item() >= best
    assert best / task.chance > 1.1  # the old baseline: a constant predictor read > 1.1× "chance"
    assert own == pytest.approx(0.190, abs=0.005)


def test_classification_heldout_chance_is_the_label_entropy_per_position():
    parity = Parity(8)
    batches = eval_set(parity, 2, 16, 3)
    y = torch.cat([b[1] for b in batches])
    p = y.float().mean().item()
    assert heldout_chance(parity, batches) == pytest.approx(-(p * math.log(p) + (1 - p) * math.log(1 - p)))
    copy = Copy(5)
    batches = eval_set(copy, 2, 16, 3)
    logits = torch.zeros(32, 25, 9)  # the best constant: the log frequencies at each position
    y = torch.cat([b[1] for b in batches])
    for pos in range(25):
        freq = torch.bincount(y[:, pos], minlength=9).double() / 32
        logits[:, pos] = torch.where(freq > 0, freq.log(), torch.tensor(-1e9, dtype=torch.double)).float()
    best = copy.loss(logits, y).item()
    assert heldout_chance(copy, batches) == pytest.approx(best, rel=1e-4)
    assert heldout_chance(copy, batches) < copy.chance  # blanks at the start are certain in the set too
