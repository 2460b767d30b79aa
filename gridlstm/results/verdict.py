"""The verdict rule of the results page: per-seed outcomes of two models → one of four words.

A comparison holds the model the publication found better (A) and its baselines (B, …), each run
with several seeds. Per seed we know whether it solved (reached the target on the held-out set),
after how many samples, its final and best held-out metric, and whether it was still improving
when the sample budget ran out (``rising``: see ``still_rising``). For A against one baseline B,
with solve rates r = solved/seeds:

1. r_A − r_B ≥ 1/2: A is ahead ("as published"); r_B − r_A ≥ 1/2: B is ("not reproduced"). But
   when the model that is behind has an unsolved seed still rising at the cap, the budget and not
   the model may have decided: "mixed".
2. Both solved with every seed: the ranges of samples to solve decide; disjoint ranges order the
   two, overlapping ones are "no difference at this scale".
3. Neither solved with any seed: the final held-out metric decides the same way (every seed of
   one better than every seed of the other), again "mixed" when the one behind is still rising.
4. Otherwise (some seeds solved, rates within 1/2 of each other) the seeds disagree: "mixed".

A comparison's verdict over several baselines: the same word for every pair is that word; any
other combination is "mixed".
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

AS_PUBLISHED, NOT_REPRODUCED, MIXED, NO_DIFFERENCE = (
    "as published", "not reproduced", "mixed", "no difference at this scale")
WORDS = (AS_PUBLISHED, NOT_REPRODUCED, MIXED, NO_DIFFERENCE)
RATE_GAP = 0.5        # solve rates at least this far apart order two models
RISING_GAIN = 0.1     # still rising: the last fifth of training closed ≥ this share of the gap to target

RULE = ("Per pair of models (the one the publication found better, A, against a baseline B), from "
        "all seeds: solve rates at least 1/2 apart order them; when every seed of both solved, "
        "disjoint ranges of samples to solve order them; when no seed of either solved, disjoint "
        "ranges of the final held-out metric do; overlapping ranges are \"no difference at this "
        "scale\"; seeds that disagree (some solved, rates less than 1/2 apart) are \"mixed\", and so "
        "is an ordering that rests on the model behind being still rising at the sample cap (its "
        "last fifth of training closed at least 10 % of the gap to the target). The comparison's "
        "verdict is the pairs' word when they all agree, otherwise \"mixed\".")


@dataclass(frozen=True)
class SeedOutcome:
    """One seed of one model: how its run ended."""

    seed: int
    solved: bool
    samples_to_solve: Optional[int]   # samples seen when it first reached the target (None: never)
    final: float                      # held-out metric at the end
    best: float                       # best held-out metric of any eval
    rising: bool                      # unsolved and still improving at the cap (still_rising)
    samples: int = 0                  # samples seen in all
    wall: float = 0.0                 # seconds


def still_rising(metrics: Sequence[float], target: float, higher_is_better: bool) -> bool:
    """Was an unsolved run still improving when it stopped? Evals in order; True when the last fifth
    of them closed at least ``RISING_GAIN`` of the gap between the metric there and the target."""
    if len(metrics) < 3:
        return False
    start, end = metrics[int(0.8 * (len(metrics) - 1))], metrics[-1]
    sign = 1.0 if higher_is_better else -1.0
    gap = sign * (target - start)
    return gap > 0 and sign * (end - start) >= RISING_GAIN * gap


@dataclass(frozen=True)
class ModelSummary:
    """A model over its seeds, as the page shows it."""

    seeds: int
    solved: int
    samples_median: Optional[float]
    samples_range: Optional[tuple[int, int]]
    final_mean: float
    final_sd: float
    best_mean: float
    best_sd: float
    rising: int            # unsolved seeds still rising at the cap

    @property
    def rate(self) -> float:
        return self.solved / self.seeds if self.seeds else math.nan


def _sd(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(outcomes: Sequence[SeedOutcome]) -> ModelSummary:
    solved = [o.samples_to_solve for o in outcomes if o.solved and o.samples_to_solve is not None]
    finals, bests = [o.final for o in outcomes], [o.best for o in outcomes]
    return ModelSummary(
        seeds=len(outcomes), solved=sum(o.solved for o in outcomes),
        samples_median=statistics.median(solved) if solved else None,
        samples_range=(min(solved), max(solved)) if solved else None,
        final_mean=statistics.fmean(finals) if finals else math.nan, final_sd=_sd(finals),
        best_mean=statistics.fmean(bests) if bests else math.nan, best_sd=_sd(bests),
        rising=sum(o.rising and not o.solved for o in outcomes))


def _order(a: Sequence[float], b: Sequence[float]) -> Optional[bool]:
    """True when every a is below every b, False when every b is below every a, None when they overlap."""
    if max(a) < min(b):
        return True
    if max(b) < min(a):
        return False
    return None


def pair_verdict(a: Sequence[SeedOutcome], b: Sequence[SeedOutcome], higher_is_better: bool) -> tuple[str, str]:
    """(word, reason) for A (found better by the publication) against B, from all their seeds."""
    if not a or not b:
        raise ValueError("a verdict needs at least one seed of each model")
    sa, sb = summarise(a), summarise(b)
    ahead: Optional[bool] = None          # True: A ahead, False: B ahead
    why = ""
    if abs(sa.rate - sb.rate) >= RATE_GAP:
        ahead, why = sa.rate > sb.rate, f"solved {sa.solved}/{sa.seeds} against {sb.solved}/{sb.seeds}"
    elif sa.solved == sa.seeds and sb.solved == sb.seeds:
        order = _order([o.samples_to_solve or 0 for o in a], [o.samples_to_solve or 0 for o in b])
        if order is None:
            return NO_DIFFERENCE, "every seed solved; the ranges of samples to solve overlap"
        ahead, why = order, "every seed solved; the ranges of samples to solve are disjoint"
    elif sa.solved == 0 and sb.solved == 0:
        sign = -1.0 if higher_is_better else 1.0   # lower is better after the sign
        order = _order([sign * o.final for o in a], [sign * o.final for o in b])
        if order is None:
            return NO_DIFFERENCE, "no seed solved; the ranges of the final metric overlap"
        ahead, why = order, "no seed solved; the ranges of the final metric are disjoint"
    else:
        return MIXED, (f"solved {sa.solved}/{sa.seeds} against {sb.solved}/{sb.seeds}: the seeds "
                       "disagree")
    behind = b if ahead else a
    rising = sum(o.rising and not o.solved for o in behind)
    if rising:
        return MIXED, f"{why}, but the model behind was still rising at the cap in {rising}/{len(behind)} seeds"
    return (AS_PUBLISHED if ahead else NOT_REPRODUCED), why


def combine(words: Sequence[str]) -> str:
    """The comparison's verdict from its pairs' words."""
    if not words:
        raise ValueError("no pairs to combine")
    return words[0] if len(set(words)) == 1 else MIXED
