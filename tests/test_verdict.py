"""The results page's verdict rule (gridlstm/results/verdict.py) on synthetic per-seed outcomes:
each of its four words, the still-rising rule, and the per-model summary the page prints."""
from __future__ import annotations

import statistics

import pytest

from gridlstm.results.verdict import (
    AS_PUBLISHED,
    MIXED,
    NO_DIFFERENCE,
    NOT_REPRODUCED,
    SeedOutcome,
    combine,
    pair_verdict,
    still_rising,
    summarise,
)


def seed(i, samples=None, final=0.5, best=None, rising=False):
    return SeedOutcome(i, samples is not None, samples, final, final if best is None else best, rising)


def solved(*samples):
    return [seed(i, s, final=0.995) for i, s in enumerate(samples)]


def failed(*finals, rising=False):
    return [seed(i, None, f, rising=rising) for i, f in enumerate(finals)]


def test_solve_rates_far_apart_order_the_models():
    grid, lstm = solved(64_000, 256_000, 160_000), failed(0.68, 0.70, 0.65)
    assert pair_verdict(grid, lstm, True)[0] == AS_PUBLISHED
    assert pair_verdict(lstm, grid, True)[0] == NOT_REPRODUCED
    # 2/3 against 0/3 is 2/3 apart: ordered
    assert pair_verdict(solved(704_000, 736_000) + failed(0.95), failed(0.9, 0.76, 0.93), True)[0] == AS_PUBLISHED


def test_an_ordering_that_rests_on_a_still_rising_baseline_is_mixed():
    word, why = pair_verdict(solved(704_000, 736_000) + failed(0.95), failed(0.9, 0.76, 0.93, rising=True), True)
    assert word == MIXED and "still rising at the cap in 3/3" in why


def test_every_seed_solved_the_sample_ranges_decide():
    assert pair_verdict(solved(60_000, 90_000, 80_000), solved(600_000, 640_000, 700_000), True)[0] == AS_PUBLISHED
    assert pair_verdict(solved(600_000, 700_000), solved(60_000, 90_000), True)[0] == NOT_REPRODUCED
    assert pair_verdict(solved(60_000, 300_000), solved(100_000, 400_000), True)[0] == NO_DIFFERENCE


def test_nothing_solved_the_final_metric_decides_in_its_direction():
    assert pair_verdict(failed(0.8, 0.85), failed(0.5, 0.52), True)[0] == AS_PUBLISHED
    assert pair_verdict(failed(0.8, 0.51), failed(0.5, 0.52), True)[0] == NO_DIFFERENCE
    # mse: lower is better
    assert pair_verdict(failed(0.02, 0.03), failed(0.16, 0.17), False)[0] == AS_PUBLISHED
    assert pair_verdict(failed(0.16, 0.17), failed(0.02, 0.03), False)[0] == NOT_REPRODUCED


def test_seeds_that_disagree_are_mixed():
    # parity through depth as audited: tied grid 1/3 against a stacked LSTM 1/2 and 0/3
    grid = solved(182_000) + failed(0.515, 0.509)
    assert pair_verdict(grid, solved(182_000) + failed(0.5), True)[0] == MIXED
    assert pair_verdict(grid, failed(0.5, 0.5, 0.5), True)[0] == MIXED


def test_a_comparison_agrees_only_when_every_pair_does():
    assert combine([AS_PUBLISHED, AS_PUBLISHED]) == AS_PUBLISHED
    assert combine([NO_DIFFERENCE]) == NO_DIFFERENCE
    assert combine([AS_PUBLISHED, NO_DIFFERENCE]) == MIXED
    assert combine([NOT_REPRODUCED, NOT_REPRODUCED, NOT_REPRODUCED]) == NOT_REPRODUCED
    with pytest.raises(ValueError):
        combine([])


def test_still_rising_compares_the_last_fifth_with_the_gap_to_the_target():
    climbing = [0.0] * 8 + [0.125, 0.762]          # the audited LSTM on addition: 0.125 -> 0.762
    assert still_rising(climbing, 0.99, True)
    assert not still_rising([0.5, 0.51, 0.5, 0.49, 0.5, 0.5, 0.5, 0.5, 0.5, 0.51], 0.99, True)
    assert still_rising([0.17, 0.16, 0.15, 0.14, 0.12, 0.10, 0.08, 0.06, 0.04, 0.02], 0.01, False)
    assert not still_rising([0.17, 0.17], 0.01, False)   # too few evals to say


def test_the_summary_is_median_and_range_of_solved_and_mean_sd_of_all():
    outcomes = solved(64_000, 256_000, 160_000) + [seed(3, None, 0.7, best=0.8, rising=True)]
    s = summarise(outcomes)
    assert (s.seeds, s.solved, s.rising) == (4, 3, 1)
    assert s.samples_median == 160_000 and s.samples_range == (64_000, 256_000)
    finals = [0.995, 0.995, 0.995, 0.7]
    assert s.final_mean == pytest.approx(statistics.fmean(finals))
    assert s.final_sd == pytest.approx(statistics.stdev(finals))
    assert s.best_mean == pytest.approx(statistics.fmean([0.995, 0.995, 0.995, 0.8]))
