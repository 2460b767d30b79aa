"""Synthetic long-range tasks (docs/models.md, Tasks).

Each task is a seeded batch generator plus its loss, metric, chance baseline and success threshold.
Batches are drawn on the CPU from a ``torch.Generator`` so that the data stream is reproducible and
its position can be checkpointed (``Generator.get_state()``).

What each task feeds, scores and counts as chance: docs/models.md (Tasks), the one table of them.

addition and memorize are the Grid LSTM paper's own tasks (Kalchbrenner, Danihelka & Graves 2015,
§4: 15-digit addition, 20 symbols from 64); the encodings below are this project's, stated exactly.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class Task(ABC):
    """Common interface. ``scores`` is "last" (readout at the final step) or "all" (every step).

    A task's settings are its dataclass fields, each the TaskConfig key of the same name (``length``,
    parity's ``mode``, ...); ``chance_depends`` names those besides the length that its chance reads,
    and ``metric_is_loss`` says that its metric is its loss (adding: the MSE)."""

    length: int
    name = "task"
    scores = "last"
    metric_name = "accuracy"
    metric_is_loss = False
    higher_is_better = True
    default_target = 0.99
    chance_depends: ClassVar[tuple[str, ...]] = ()
    min_length: ClassVar[int] = 2

    @property
    def steps(self) -> int:
        """T, the steps of one input sequence."""
        return self.length

    @property
    def input_size(self) -> int:  # a subclass sets it, or computes it from its settings
        return 1

    @property
    def output_size(self) -> int:
        return 1

    @property
    @abstractmethod
    def chance(self) -> float:
        """Loss of the best predictor that ignores the input (reported next to every loss)."""

    @abstractmethod
    def sample(self, batch: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        """One batch (x, y) drawn from ``gen``."""

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(out, y)

    def constant_probs(self) -> Tensor:
        """The population's best constant prediction, one distribution per scored position: (P, C).
        By default every class equally likely at one position (parity, temporal order, memorize)."""
        return torch.full((1, self.output_size), 1.0 / self.output_size, dtype=torch.float64)

    def constant_loss(self, y: Tensor) -> float:
        """The loss on these targets of the population's best constant prediction (``constant_probs``;
        not one fitted to ``y``, whose loss would be biased low): its mean over examples is
        ``chance``.  y: (N,) or (N, P) class indices."""
        y = y.reshape(len(y), -1)                                   # (N, P)
        probs = self.constant_probs().expand(y.shape[1], -1)        # (P, C)
        picked = probs.gather(1, y.T.long())                        # (P, N): p of each target
        return float(-picked.log().mean())

    def metric(self, out: Tensor, y: Tensor) -> float:
        return (out.argmax(-1) == y).float().mean().item()

    def solved(self, metric: float, target: float) -> bool:
        return metric >= target if self.higher_is_better else metric <= target


@dataclass(frozen=True)
class Adding(Task):
    """Le et al. 2015 / Arjovsky et al. 2016: two marked values, one in each half; output their sum."""

    name = "adding"
    input_size = 2
    metric_name, metric_is_loss = "mse", True
    higher_is_better = False
    default_target = 0.01

    @property
    def chance(self) -> float:
        return 1.0 / 6.0  # Var(u1 + u2) for u ~ U[0,1]: the MSE of always predicting 1

    def sample(self, batch, gen):
        T, half = self.length, self.length // 2
        values = torch.rand(batch, T, generator=gen)                           # (B, T)
        first = torch.randint(0, half, (batch,), generator=gen)                # in [0, T/2)
        second = torch.randint(half, T, (batch,), generator=gen)               # in [T/2, T)
        marker = torch.zeros(batch, T)
        rows = torch.arange(batch)
        marker[rows, first] = 1.0
        marker[rows, second] = 1.0
        x = torch.stack([values, marker], dim=-1)                              # (B, T, 2)
        y = (values * marker).sum(1, keepdim=True)                             # (B, 1)
        return x, y

    def loss(self, out, y):
        return F.mse_loss(out, y)

    def constant_loss(self, y):  # the MSE of predicting the population mean, E[u1 + u2] = 1
        return float(((y.double() - 1.0) ** 2).mean())

    def metric(self, out, y):
        return F.mse_loss(out, y).item()


@dataclass(frozen=True)
class Copy(Task):
    """Hochreiter 1997 / Arjovsky 2016: remember 10 symbols over a delay of T steps.

    input classes: 0 blank, 1..8 symbols, 9 delimiter; output classes: 0 blank, 1..8.
    x: 10 symbols, T-1 blanks, delimiter, 10 blanks (T+20 steps); y: T+10 blanks, then the symbols.
    """

    name = "copy"
    input_size = 10
    output_size = 9
    scores = "all"
    n_symbols, n_copy = 8, 10

    @property
    def steps(self) -> int:
        return self.length + 2 * self.n_copy

    @property
    def chance(self) -> float:
        return self.n_copy * math.log(self.n_symbols) / (self.length + 2 * self.n_copy)

    def constant_probs(self):  # (T+20, 9): a blank for T+10 steps, then any of the 8 symbols
        probs = torch.zeros(self.length + 2 * self.n_copy, self.output_size, dtype=torch.float64)
        probs[:self.length + self.n_copy, 0] = 1.0
        probs[self.length + self.n_copy:, 1:] = 1.0 / self.n_symbols
        return probs

    def sample(self, batch, gen):
        T, n = self.length, self.n_copy
        symbols = torch.randint(1, self.n_symbols + 1, (batch, n), generator=gen)   # (B, 10)
        seq = torch.zeros(batch, T + 2 * n, dtype=torch.long)
        seq[:, :n] = symbols
        seq[:, T + n - 1] = self.n_symbols + 1                                      # delimiter
        y = torch.zeros(batch, T + 2 * n, dtype=torch.long)
        y[:, T + n:] = symbols
        return F.one_hot(seq, self.input_size).float(), y                           # (B, T+20, 10)

    def loss(self, out, y):  # out: (B, T+20, 9), averaged over every step
        return F.cross_entropy(out.reshape(-1, self.output_size), y.reshape(-1))

    def metric(self, out, y):  # recall accuracy over the 10 copied positions
        n = self.n_copy
        return (out[:, -n:].argmax(-1) == y[:, -n:]).float().mean().item()


@dataclass(frozen=True)
class Parity(Task):
    """Parity of k = length bits: one bit per step ("sequence") or all at once ("whole")."""

    mode: str = "sequence"
    name = "parity"
    output_size = 2

    @property
    def input_size(self) -> int:
        return self.length if self.mode == "whole" else 1

    @property
    def steps(self) -> int:
        return 1 if self.mode == "whole" else self.length

    @property
    def chance(self) -> float:
        return math.log(2)

    def sample(self, batch, gen):
        bits = torch.randint(0, 2, (batch, self.length), generator=gen)
        y = bits.sum(1) % 2
        x = bits.float().unsqueeze(1 if self.mode == "whole" else -1)   # (B, 1, k) or (B, k, 1)
        return x, y


@dataclass(frozen=True)
class TemporalOrder(Task):
    """Hochreiter 1997 exp. 6: the order of 2 (or 3) keys from {A, B} among 4 distractor symbols.

    symbols: 0 = A, 1 = B, 2..5 distractors; keys in [.1T,.2T), [.5T,.6T) (3 keys: [.1,.2), [.3,.4),
    [.6,.7)·T); class = the keys read as a binary number (A = 0, B = 1): 4 or 8 classes.
    """

    keys: int = 2
    name = "temporal_order"
    input_size = 6
    chance_depends = ("keys",)
    min_length = 10  # the key windows [.1T, .2T), ... need T >= 10 to be apart

    @property
    def output_size(self) -> int:
        return 2 ** self.keys

    @property
    def chance(self) -> float:
        return math.log(2 ** self.keys)

    def windows(self) -> list[tuple[int, int]]:
        fractions = [(0.1, 0.2), (0.5, 0.6)] if self.keys == 2 else [(0.1, 0.2), (0.3, 0.4), (0.6, 0.7)]
        T = self.length
        return [(int(a * T), max(int(b * T), int(a * T) + 1)) for a, b in fractions]

    def sample(self, batch, gen):
        seq = torch.randint(2, 6, (batch, self.length), generator=gen)                # distractors
        key_bits = torch.randint(0, 2, (batch, self.keys), generator=gen)             # A = 0, B = 1
        rows = torch.arange(batch)
        for j, (a, b) in enumerate(self.windows()):
            pos = torch.randint(a, b, (batch,), generator=gen)
            seq[rows, pos] = key_bits[:, j]
        weights = 2 ** torch.arange(self.keys - 1, -1, -1)
        y = (key_bits * weights).sum(1)
        return F.one_hot(seq, 6).float(), y                                            # (B, T, 6)


class _Reply(Task):
    """A sequence read, then answered: the last ``answer`` steps are scored, one class per step.

    ``y`` holds only the scored targets, (B, answer); the loss is the cross-entropy averaged over
    them (the earlier outputs get no loss), and ``seq_acc`` says whether the metric is the share of
    whole answers right (True) or of answer symbols right (False).
    """

    scores = "all"
    seq_acc = True

    @property
    def answer(self) -> int:
        """How many final steps are scored; each task that replies declares it."""
        raise TypeError(f"{type(self).__name__} does not say how many steps it scores")

    def loss(self, out, y):  # out: (B, L, C); the last `answer` steps are scored
        return F.cross_entropy(out[:, -self.answer:].reshape(-1, self.output_size), y.reshape(-1))

    def metric(self, out, y):
        right = out[:, -self.answer:].argmax(-1) == y                                  # (B, answer)
        return (right.all(1) if self.seq_acc else right).float().mean().item()


@dataclass(frozen=True)
class Addition(_Reply):
    """Add two k-digit numbers (k = length), read digit by digit; emit the k+1 sum digits.

    a, b uniform in [0, 10^k) (leading zeros allowed: every digit uniform and independent).
    input symbols: 0..9 digits, 10 "+", 11 "=", 12 blank (one-hot, 13 wide). Every number is
    written least significant digit first (our choice: the carry then flows forward in time):
        x: a_1..a_k  +  b_1..b_k  =  blank × (k+1)                      (L = 3k+3 steps)
        y: s_1..s_{k+1}, the digits of a+b, least significant first, at the k+1 blank steps
    output classes: the 10 digits. loss: cross-entropy averaged over the k+1 scored steps.
    metric: sequence accuracy, all k+1 digits right (the paper's). chance: the best constant
    prediction per scored step: digits 1..k are uniform (ln 10 each); digit k+1 is the carry out,
    1 with p = (10^k − 1)/(2·10^k) (the share of pairs with a + b ≥ 10^k), costing H(p) ≈ ln 2; so
    chance = (k·ln 10 + H(p)) / (k+1). success: sequence accuracy ≥ 0.99.
    """

    name = "addition"
    input_size = 13
    output_size = 10
    PLUS, EQUALS, BLANK = 10, 11, 12

    @property
    def answer(self) -> int:
        return self.length + 1

    @property
    def steps(self) -> int:
        return 3 * self.length + 3

    @property
    def carry(self) -> float:
        """P(carry out) = (10^k − 1) / (2·10^k): the share of pairs with a + b ≥ 10^k."""
        return 0.5 - 0.5 * 10.0 ** -self.length

    @property
    def chance(self) -> float:
        k, p = self.length, self.carry
        bern = -(p * math.log(p) + (1 - p) * math.log1p(-p))
        return (k * math.log(10) + bern) / (k + 1)

    def constant_probs(self):  # (k+1, 10): uniform digits, then the carry out (1 with p)
        k = self.length
        probs = torch.full((k + 1, self.output_size), 0.1, dtype=torch.float64)
        probs[k] = 0.0
        probs[k, 0], probs[k, 1] = 1 - self.carry, self.carry
        return probs

    def sample(self, batch, gen):
        k = self.length
        a = torch.randint(0, 10, (batch, k), generator=gen)                   # (B, k) LSB first
        b = torch.randint(0, 10, (batch, k), generator=gen)
        y = torch.zeros(batch, k + 1, dtype=torch.long)                       # (B, k+1)
        carry = torch.zeros(batch, dtype=torch.long)
        for j in range(k):
            s = a[:, j] + b[:, j] + carry
            y[:, j], carry = s % 10, s // 10
        y[:, k] = carry
        col = lambda v: torch.full((batch, 1), v, dtype=torch.long)  # noqa: E731
        seq = torch.cat([a, col(self.PLUS), b, col(self.EQUALS),
                         torch.full((batch, k + 1), self.BLANK, dtype=torch.long)], 1)   # (B, 3k+3)
        return F.one_hot(seq, self.input_size).float(), y


@dataclass(frozen=True)
class Memorize(_Reply):
    """Reproduce n = length symbols from a vocabulary of V (``vocab``) after a delimiter.

    input symbols: 0..V−1, V delimiter, V+1 blank (one-hot, V+2 wide).
        x: s_1..s_n  delimiter  blank × n                            (L = 2n+1 steps)
        y: s_1..s_n at the n blank steps
    output classes: the V symbols. loss: cross-entropy averaged over the n scored steps. metric:
    recall accuracy, the share of the n symbols reproduced (per symbol, like copy's; a whole
    sequence right is rarer by far while learning). chance: ln V per scored symbol (uniform
    symbols). success: recall accuracy ≥ 0.99.
    """

    vocab: int = 64
    name = "memorize"
    seq_acc = False
    chance_depends = ("vocab",)

    @property
    def steps(self) -> int:
        return 2 * self.length + 1

    @property
    def input_size(self) -> int:
        return self.vocab + 2

    @property
    def output_size(self) -> int:
        return self.vocab

    @property
    def answer(self) -> int:
        return self.length

    @property
    def chance(self) -> float:
        return math.log(self.vocab)

    def sample(self, batch, gen):
        n, V = self.length, self.vocab
        symbols = torch.randint(0, V, (batch, n), generator=gen)                  # (B, n)
        seq = torch.cat([symbols, torch.full((batch, 1), V, dtype=torch.long),
                         torch.full((batch, n), V + 1, dtype=torch.long)], 1)        # (B, 2n+1)
        return F.one_hot(seq, V + 2).float(), symbols


TASKS: dict[str, type[Task]] = {t.name: t for t in (Adding, Copy, Parity, TemporalOrder, Addition, Memorize)}


def task_class(name: str) -> type[Task]:
    """The task of ``task.name``; ValueError naming the valid ones for any other name."""
    if name not in TASKS:
        raise ValueError(f"unknown task.name {name!r} (expected one of {', '.join(TASKS)})")
    return TASKS[name]


def settings() -> dict[str, list[str]]:
    """Each task setting besides the length (a dataclass field) → the tasks that have it."""
    out: dict[str, list[str]] = {}
    for name, cls in TASKS.items():
        for f in fields(cls):
            if f.name != "length":
                out.setdefault(f.name, []).append(name)
    return out


def make_task(cfg: Any) -> Task:
    """The task of a TaskConfig (config.py; read by attribute, so that this module needs none of
    the config's): its class takes the config keys named like its fields."""
    cls = task_class(cfg.name)
    return cls(**{f.name: getattr(cfg, f.name) for f in fields(cls)})
