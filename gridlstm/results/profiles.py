"""A gradient-figure comparison (``figure: profiles``): ‖∂C/∂h_t‖ against t at initialisation and
after training, several seeds per model, as Arjovsky, Shah & Bengio 2016 draw their fig. 4.

Per seed and recorded step, g[s] is the top layer's h gradient s steps back from the loss:

    window decay   decades lost over the first w steps back, (log10 g[0] − log10 g[w]) / w per step,
                   for w = 10, 100, 500 (g floored at FLT_MIN, the smallest normal float32: a curve
                   that underflows counts as reaching it); one straight line over a curved profile
                   would hide where it falls
    steps to 1e-k  the first s with g[s] < 10^-k · g[0], for k = 3, 6, 12, 24

Verdict at each recorded step: the model the publication found to keep more of its gradient
(``better``: [at init, after training]) against the other, by the decay over the first 500 steps
back: every seed of one falling less than every seed of the other orders them (as published / not
reproduced); overlapping seeds are "no difference at this scale". The two steps combine as in
verdict.py.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from gridlstm.probe.depth import FLT_MIN
from gridlstm.runs.layout import PROFILES
from gridlstm.runs.run import RunFolder

from .verdict import AS_PUBLISHED, NO_DIFFERENCE, NOT_REPRODUCED, combine

WINDOWS = (10, 100, 500)
THRESHOLDS = (3, 6, 12, 24)
VERDICT_WINDOW = 500


def steps_back_profile(run: RunFolder, step: int) -> np.ndarray:
    """g[s] of the top layer's h at training step ``step``: (T,) with g[0] at the loss."""
    table = run.gradients("profiles.csv")
    curve = table.curve("h", max(table.layers("h")), step)
    return np.asarray(curve.mid[np.argsort(-curve.t)], dtype=np.float64)


def window_decay(g: np.ndarray, w: int) -> float:
    """Decades per step lost over the first ``w`` steps back (FLT_MIN floor)."""
    w = min(w, len(g) - 1)
    lo = max(g[w], FLT_MIN)
    return float((math.log10(max(g[0], FLT_MIN)) - math.log10(lo)) / w)


def floored(g: np.ndarray, w: int) -> bool:
    """Did the curve underflow within the window? Then its window decay is a lower bound."""
    return bool(g[min(w, len(g) - 1)] < FLT_MIN)


def steps_to(g: np.ndarray, k: int) -> Optional[int]:
    below = np.nonzero(g < 10.0 ** -k * g[0])[0]
    return int(below[0]) if below.size else None


@dataclass(frozen=True)
class ProfileModel:
    label: str
    init: str                               # how the weights were drawn, the input path
    params: int
    seeds: list[Path]
    steps: tuple[int, int]                  # the recorded training steps: init, after training
    profiles: dict[int, list[np.ndarray]]   # step -> per seed g[s]


def read_profiles(label: str, init: str, runs: list[Path]) -> ProfileModel:
    loaded = [RunFolder.read(p) for p in runs]
    steps = loaded[0].gradients(PROFILES).steps
    first, last = steps[0], steps[-1]
    params = RunFolder.open(runs[0]).ended().params
    return ProfileModel(label, init, params, runs, (first, last),
                        {s: [steps_back_profile(r, s) for r in loaded] for s in (first, last)})


def _order(a: list[float], b: list[float]) -> str:
    """a falls less than b over every seed: as published (a is the published-better one)."""
    if max(a) < min(b):
        return AS_PUBLISHED
    if max(b) < min(a):
        return NOT_REPRODUCED
    return NO_DIFFERENCE


@dataclass(frozen=True)
class ProfileSection:
    name: str
    title: str
    published: str
    better: tuple[int, int]
    models: list[ProfileModel]
    figure_path: Optional[str]
    command: str

    def decays(self, m: ProfileModel, which: int, w: int = VERDICT_WINDOW) -> list[float]:
        return [window_decay(g, w) for g in m.profiles[m.steps[which]]]

    def at_least(self, m: ProfileModel, which: int, w: int = VERDICT_WINDOW) -> str:
        """'≥ ' when a seed's curve underflowed inside the window (its decay is then a lower bound)."""
        return "≥ " if any(floored(g, w) for g in m.profiles[m.steps[which]]) else ""

    def words(self) -> list[tuple[str, str]]:
        out = []
        for which, when in enumerate(("at initialisation", "after training")):
            a = self.models[self.better[which]]
            b = next(m for i, m in enumerate(self.models) if i != self.better[which])
            out.append((when, _order(self.decays(a, which), self.decays(b, which))))
        return out

    @property
    def verdict(self) -> str:
        return combine([w for _, w in self.words()])

    def ours(self) -> str:
        parts = []
        for which, when in enumerate(("init", f"step {self.models[0].steps[1]}")):
            parts.append(f"{when}: " + ", ".join(
                f"{m.label} {self.at_least(m, which)}{statistics.fmean(self.decays(m, which)):.3f}"
                for m in self.models))
        return f"decades/step over the first {VERDICT_WINDOW} steps back, " + "; ".join(parts)

    def table(self) -> list[str]:
        head = ["model", "init, input, optimizer, clipping", "params", "seeds", "training step",
                *[f"decades/step, first {w}" for w in WINDOWS], *[f"steps to 1e-{k}" for k in THRESHOLDS]]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for m in self.models:
            for which in (0, 1):
                gs = m.profiles[m.steps[which]]
                row = [m.label, m.init, f"{m.params:,}", str(len(gs)), str(m.steps[which])]
                for w in WINDOWS:
                    v = self.decays(m, which, w)
                    sd = statistics.stdev(v) if len(v) > 1 else 0.0
                    row.append(f"{self.at_least(m, which, w)}{statistics.fmean(v):.4f} ± {sd:.4f}")
                for k in THRESHOLDS:
                    hits = [steps_to(g, k) for g in gs]
                    row.append(" / ".join(str(h) if h is not None else f">{len(gs[0]) - 1}" for h in hits))
                lines.append("| " + " | ".join(row) + " |")
        return lines

    def body(self) -> list[str]:
        lines = [f"**Published.** {self.published}", "", f"Reproduce: `{self.command}`", "",
                 *self.table(), "", f"**Verdict: {self.verdict}.** The model the publication found to "
                 "keep more of its gradient, by the decades lost per step over the first "
                 f"{VERDICT_WINDOW} steps back (every seed beyond every seed of the other):", ""]
        for (when, word), which in zip(self.words(), (0, 1), strict=True):
            ours = ", ".join(f"{m.label} {self.at_least(m, which)}{statistics.fmean(self.decays(m, which)):.3f} "
                             f"[{min(self.decays(m, which)):.3f}–{max(self.decays(m, which)):.3f}]"
                             for m in self.models)
            lines.append(f"- {when}: the figure has the {self.models[self.better[which]].label} keeping more; "
                         f"ours, decades/step mean [range over seeds]: {ours} — **{word}**")
        lines += ["", "g is the mean over the batch of each example's ‖∂ℓ/∂h_t‖ (the top layer's h), "
                  "where the figure plots the norm of the batch cost's gradient: the levels differ by the "
                  "batch's scale, the decay per step back is what is compared. Steps to 1e-k: per seed, "
                  "steps back until g falls below 10^-k of its value at the loss (> T−1: never within "
                  "the sequence); ≥: a seed's curve fell below FLT_MIN inside the window, so its decay "
                  "there counts down to FLT_MIN only (a lower bound)."]
        if self.figure_path:
            lines += ["", f"![{self.title}]({self.figure_path})"]
        return lines
