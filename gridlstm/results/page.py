"""The results page: each comparison's runs read back from their folders, set beside the published
anchor, with a verdict computed from the numbers (never written by hand).

    outcome   one run: model, parameters, samples seen (steps × batch), solved and when, the final
              held-out metric and loss/chance (chance = the held-out set's own constant predictor),
              wall time; from profiles.csv (recorded at step 0 and at the end) the decades the
              gradient loses along depth (top layer → layer 1 at the scored step) and its slope
              along time (decades per step back from the scored step, the top layer's h, fitted
              where g is still a float32 above FLT_MIN, as gradcheck's tables fit it), before and
              after training
    better    the order of two runs: solved beats unsolved; two solved, fewer samples; neither,
              the lower loss/chance (within 5 %: no difference). For ``figure: profiles`` (a short
              run to look at gradients, not to learn the task) the run that loses fewer decades
              along time after training is the better one
    verdict   "as published" when the run the publication found better is ours too, "not as
              published" when another is, "no difference at this scale" when none stands out
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from gridlstm.errors import GridlstmError
from gridlstm.nn import registry
from gridlstm.probe.decay import decay_stats
from gridlstm.runs.layout import PROFILES
from gridlstm.runs.run import RunFolder

from .collect import Run
from .depth import FLT_MIN, depth_decay, depth_hidden, depth_profile

TIE = 0.05  # relative loss difference below which two unsolved runs are "no different"


@dataclass(frozen=True)
class Outcome:
    name: str
    model: str
    params: int
    steps: int
    samples: int
    solved: bool
    metric_name: str
    metric: float
    loss_ratio: float
    wall: float
    status: str
    depth: tuple[Optional[float], Optional[float]]   # decades lost along depth: before, after
    time: tuple[Optional[float], Optional[float]]    # slope along time, decades/step: before, after
    init: str
    first_step: Optional[int]
    last_step: Optional[int]


def _decades_depth(run: Run, step: int) -> Optional[float]:
    table = run.gradients(PROFILES)
    state = depth_hidden(table.states, run.config["model"])
    if state not in table.states or len(table.layers(state)) < 2:
        return None
    return depth_decay(depth_profile(table, state, "scored", step)).decades


def _slope_time(run: Run, step: int) -> Optional[float]:
    """Decades per step back of the top layer's h (probe/decay.py's fit: up to the underflow)."""
    table = run.gradients(PROFILES)
    curve = table.curve("h", max(table.layers("h")), step)
    g = curve.mid[np.argsort(-curve.t)]                    # (T,) steps back: g[0] at the scored step
    slope = decay_stats(g, FLT_MIN)["slope_decades_per_step"]
    return None if math.isnan(slope) else float(slope)


def _init(cfg: Any) -> str:
    m = cfg.model
    text = {"default": "U(±1/√H)", "orthogonal": "orthogonal recurrent blocks",
            "identity": "identity recurrence (IRNN)"}[m.init] + " init"
    reads = registry.cell_class(m.kind, m.variant).options
    return text + (f", forget bias {m.forget_bias:g}" if "forget_bias" in reads else "")


def outcome(path: Any) -> Outcome:
    run = Run(RunFolder.open(path).path)  # one reader: the view's own RunFolder
    folder = run.folder
    s, cfg = folder.summary(), folder.config()
    if s is None:
        raise GridlstmError(f"{folder.path} has not finished (no summary.json): train it first")
    chance = s.chance_heldout or s.chance
    depth: tuple[Optional[float], Optional[float]] = (None, None)
    time = depth
    first = last = None
    if run.gradient_file(PROFILES).is_file():
        steps = run.gradients(PROFILES).steps
        first, last = steps[0], steps[-1]
        depth = (_decades_depth(run, first), _decades_depth(run, last))
        time = (_slope_time(run, first), _slope_time(run, last))
    return Outcome(
        name=folder.path.name, model=f"{registry.describe(cfg.model.model_dump())}, H={s.hidden}, D={s.layers}",
        params=s.params, steps=s.steps, samples=s.steps * cfg.train.batch_size, solved=bool(s.solved),
        metric_name=s.metric_name, metric=s.eval_metric, loss_ratio=s.eval_loss / chance if chance else math.nan,
        wall=s.wall_seconds, status=str(s.status), depth=depth, time=time, first_step=first, last_step=last,
        init=_init(cfg))


def best(outcomes: list[Outcome], figure: str) -> Optional[int]:
    """The index of the run that did best, or None when none stands out (see the module doc)."""
    if figure == "profiles":
        slopes = [o.time[1] for o in outcomes]   # negative: decades lost per step
        if any(v is None for v in slopes):
            return None
        return int(np.argmax(np.array(slopes, dtype=float)))
    solved = [i for i, o in enumerate(outcomes) if o.solved]
    if solved:
        return min(solved, key=lambda i: outcomes[i].samples)
    ratios = [o.loss_ratio for o in outcomes]
    i = int(np.nanargmin(ratios))
    others = [r for j, r in enumerate(ratios) if j != i]
    return i if all(ratios[i] < (1 - TIE) * r for r in others) else None


def verdict(outcomes: list[Outcome], figure: str, published_better: int) -> str:
    i = best(outcomes, figure)
    if i is None:
        return "no difference at this scale"
    return "as published" if i == published_better else "not as published"


def _f(v: Optional[float], fmt: str = ".2f") -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def _samples(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.0f}K" if n >= 1e4 else str(n)


def outcome_table(outcomes: list[Outcome], figure: str) -> list[str]:
    """Markdown rows for one comparison."""
    head = ["run", "model", "params", "steps", "samples", "solved", "final metric", "loss/chance", "wall"]
    if figure == "depth":
        head += ["depth decades lost, before → after"]
    if figure == "profiles":
        head += ["init", "slope of h along time (decades/step), before → after"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for o in outcomes:
        row = [o.name, o.model, f"{o.params:,}", str(o.steps), _samples(o.samples),
               f"yes, at {_samples(o.samples)} samples" if o.solved else "no",
               f"{o.metric_name} {_f(o.metric, '.4g')}", _f(o.loss_ratio, ".3f"), f"{o.wall:.0f} s"]
        if figure == "depth":
            row.append(f"{_f(o.depth[0])} → {_f(o.depth[1])}")
        if figure == "profiles":
            row += [o.init, f"{_f(o.time[0], '.3f')} → {_f(o.time[1], '.3f')}"]
        lines.append("| " + " | ".join(row) + " |")
    return lines


@dataclass(frozen=True)
class Section:
    """One comparison as the page shows it."""

    name: str
    title: str
    published: str
    published_better: int
    figure: str
    outcomes: list[Outcome]
    figure_path: Optional[str]   # relative to the page

    @property
    def verdict(self) -> str:
        return verdict(self.outcomes, self.figure, self.published_better)

    def ours(self) -> str:
        """One line: what happened, in numbers."""
        parts = []
        for o in self.outcomes:
            if self.figure == "profiles":
                parts.append(f"{o.model}: {_f(o.time[0], '.3f')} → {_f(o.time[1], '.3f')} decades/step")
            elif o.solved:
                parts.append(f"{o.model}: solved at {_samples(o.samples)} samples")
            else:
                parts.append(f"{o.model}: not solved in {_samples(o.samples)} ({o.metric_name} {_f(o.metric, '.3g')})")
        return "; ".join(parts)


def render_page(title: str, header: list[str], depth_md: Optional[str], depth_figure: Optional[str],
                sections: list[Section]) -> str:
    lines = [f"# {title}", "", *header, "", "## Summary", "",
             "| comparison | published | ours | verdict |", "|---|---|---|---|"]
    for s in sections:
        lines.append(f"| [{s.title}](#{s.name.replace('_', '-')}) | {s.published} | {s.ours()} | **{s.verdict}** |")
    if depth_md is not None:
        body = depth_md.split("\n", 1)[1].strip()  # the depth table without its own title
        lines += ["", "## Gradient along depth at initialisation", "", body]
        if depth_figure:
            lines += ["", f"![gradient against layer at initialisation]({depth_figure})"]
    for s in sections:
        lines += ["", f"<a id=\"{s.name.replace('_', '-')}\"></a>", f"## {s.title}", "",
                  f"**Published.** {s.published}", "", *outcome_table(s.outcomes, s.figure), "",
                  f"**Verdict: {s.verdict}.** {explain(s)}"]
        if s.figure_path:
            lines += ["", f"![{s.title}]({s.figure_path})"]
    return "\n".join(lines) + "\n"


def explain(s: Section) -> str:
    """The rule the verdict came from, said for this comparison."""
    named = s.outcomes[s.published_better].model
    if s.figure == "profiles":
        return (f"The publication found the {named} keeps more of its gradient over time; here the run "
                "whose h gradient falls less steeply (decades per step back, fitted down to FLT_MIN) after "
                "training counts as better. The input (value, marker) enters every step through the "
                "cell's input weights, drawn like the recurrent ones (the init column).")
    return (f"The publication found the {named} better. Here solved beats unsolved, then fewer samples "
            f"to solve, then a loss/chance at least {TIE:.0%} lower (held-out set's own chance).")
