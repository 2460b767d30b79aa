"""Chance on the held-out set (tasks.py): the loss there of the population's best constant
prediction, unbiased for the analytic chance, where a constant fitted to the set is biased low."""
from __future__ import annotations

import math

import pytest
import torch

from gridlstm.tasks import Adding, Addition, Copy, Memorize, Parity, TemporalOrder
from gridlstm.train.data import eval_set, heldout_chance


def fitted(task, y):
    """The old estimate: the best constant for exactly these targets (label frequencies / set mean)."""
    if task.name == "adding":
        return float(y.double().var(unbiased=False))
    y = y.reshape(len(y), -1)
    total = 0.0
    for pos in y.T:
        p = torch.bincount(pos).double() / len(pos)
        p = p[p > 0]
        total -= float((p * p.log()).sum())
    return total / y.shape[1]


@pytest.mark.parametrize("task", [Adding(20), Memorize(5, 64), Addition(3), Copy(5), Parity(6),
                                  TemporalOrder(20)], ids=lambda t: t.name)
def test_heldout_chance_is_unbiased_where_a_fitted_constant_is_biased_low(task):
    ours, theirs = [], []
    for seed in range(200):                      # 200 held-out sets of 64 examples
        batches = eval_set(task, 2, 32, seed)
        ours.append(heldout_chance(task, batches))
        theirs.append(fitted(task, torch.cat([y for _, y in batches])))
    mean = sum(ours) / len(ours)
    sd = (sum((v - mean) ** 2 for v in ours) / (len(ours) - 1)) ** 0.5
    assert abs(mean - task.chance) <= 4 * sd / len(ours) ** 0.5 + 1e-9      # unbiased
    # the fitted constant is the best one for its own set, so never worse than the population's
    # there, and on average below chance by more than the noise (paired over the same sets)
    diffs = [a - b for a, b in zip(ours, theirs, strict=True)]
    assert min(diffs) >= -1e-9
    d_mean = sum(diffs) / len(diffs)
    d_sd = (sum((v - d_mean) ** 2 for v in diffs) / (len(diffs) - 1)) ** 0.5
    assert d_mean > 4 * d_sd / len(diffs) ** 0.5 and sum(theirs) / len(theirs) < task.chance


def test_the_constant_is_the_population_one_exactly():
    y = torch.tensor([[0.2], [1.5], [1.0]])      # adding: predict 1, the population mean
    assert heldout_chance(Adding(10), [(None, y)]) == pytest.approx((0.64 + 0.25 + 0.0) / 3)
    y = torch.tensor([[3, 3, 3], [3, 3, 3]])     # memorize: uniform over 64 symbols, whatever the set
    assert heldout_chance(Memorize(3, 64), [(None, y)]) == pytest.approx(math.log(64))
    y = torch.tensor([[1, 2, 1], [0, 0, 0]])     # addition k=2: ln 10 twice, then the carry's -ln p
    k = Addition(2)
    carry = 0.5 - 0.5 * 10 ** -2
    expect = (4 * math.log(10) - math.log(carry) - math.log(1 - carry)) / 6
    assert heldout_chance(k, [(None, y)]) == pytest.approx(expect)
    copy = Copy(5)                               # blanks are certain, symbols uniform over 8
    batches = eval_set(copy, 1, 16, 3)
    assert heldout_chance(copy, batches) == pytest.approx(copy.chance)
