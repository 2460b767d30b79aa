"""The results page: every seed of every model read back from its run folder, summarised per model,
set beside the published claim, with a verdict computed over the seeds (results/verdict.py).

    read_seed     one run folder -> SeedRun: solved and after how many samples (the first held-out
                  eval at the target), final and best held-out metric, still rising at the cap,
                  loss / chance (chance = the population's best constant on the held-out set), wall
    ModelResult   one model over its seeds: parameters, sample budget, the per-seed summary
    Section       one comparison: its models, the pairwise verdicts (the published-better model
                  against each baseline) and the comparison's verdict
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from gridlstm.nn import registry
from gridlstm.runs.run import RunFolder
from gridlstm.tasks import make_task

from .verdict import RULE, ModelSummary, SeedOutcome, combine, pair_verdict, still_rising, summarise


@dataclass(frozen=True)
class SeedRun:
    path: Path
    outcome: SeedOutcome
    params: int
    metric_name: str
    loss_ratio: float
    status: str
    curve: tuple[tuple[int, ...], tuple[float, ...]]   # held-out evals: samples seen, metric


def read_seed(path: Path) -> SeedRun:
    folder = RunFolder.open(path)
    s, cfg = folder.ended(), folder.config()
    task = make_task(cfg.task)
    batch = cfg.train.batch_size
    evals = [r for r in folder.metric_values() if r["split"] == "eval" and r["metric"] is not None]
    samples = tuple(int(r["step"]) * batch for r in evals)
    metrics = tuple(float(r["metric"]) for r in evals)
    first = next((n for n, m in zip(samples, metrics, strict=True) if task.solved(m, s.target)), None)
    pick = max if task.higher_is_better else min
    at_cap = s.steps >= cfg.train.steps
    rising = bool(not s.solved and at_cap and still_rising(metrics, s.target, task.higher_is_better))
    chance = s.chance_heldout or s.chance
    outcome = SeedOutcome(cfg.seed, bool(s.solved), first if s.solved else None, float(s.eval_metric),
                          float(pick(metrics)) if metrics else math.nan, rising, s.steps * batch,
                          float(s.wall_seconds))
    return SeedRun(Path(path), outcome, s.params, s.metric_name,
                   s.eval_loss / chance if chance else math.nan, str(s.status), (samples, metrics))


@dataclass(frozen=True)
class ModelResult:
    label: str
    model: str            # what the model is: kind, variant (grids), tying, depth, width
    params: int
    budget: int           # sample cap: train.steps × batch_size
    higher_is_better: bool
    seeds: tuple[SeedRun, ...]

    @property
    def summary(self) -> ModelSummary:
        return summarise([s.outcome for s in self.seeds])

    @property
    def wall(self) -> float:
        """Mean wall seconds per seed."""
        return statistics.fmean(s.outcome.wall for s in self.seeds)


def read_model(label: str, runs: list[Path]) -> ModelResult:
    seeds = tuple(read_seed(p) for p in runs)
    cfg = RunFolder.open(runs[0]).config()
    m = cfg.model
    model = f"{registry.describe(m.model_dump())}, D={m.layers}, H={m.hidden}"
    return ModelResult(label, model, seeds[0].params, cfg.train.steps * cfg.train.batch_size,
                       make_task(cfg.task).higher_is_better, seeds)


def _samples(n: Optional[float]) -> str:
    if n is None:
        return "—"
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.0f}K" if n >= 1e4 else f"{n:.0f}"


def _pm(mean: float, sd: float) -> str:
    return "—" if math.isnan(mean) else f"{mean:.3f} ± {sd:.3f}"


@dataclass(frozen=True)
class Section:
    """One comparison (figure: loss) as the page shows it."""

    name: str
    title: str
    published: str
    better: int
    models: list[ModelResult]
    figure_path: Optional[str]
    command: str

    def pairs(self) -> list[tuple[str, str, str]]:
        """(baseline label, word, reason) for the published-better model against each baseline."""
        a = self.models[self.better]
        return [(b.label, *pair_verdict([s.outcome for s in a.seeds], [s.outcome for s in b.seeds],
                                        a.higher_is_better))
                for i, b in enumerate(self.models) if i != self.better]

    @property
    def verdict(self) -> str:
        return combine([w for _, w, _ in self.pairs()])

    def ours(self) -> str:
        parts = []
        for m in self.models:
            s = m.summary
            solved = f"solved {s.solved}/{s.seeds}"
            if s.solved:
                solved += f" (median {_samples(s.samples_median)} samples)"
            parts.append(f"{m.label}: {solved}")
        return "; ".join(parts)

    def table(self) -> list[str]:
        metric = self.models[0].seeds[0].metric_name
        head = ["model", "what", "params", "seeds", "solved", "samples to solve: median [range]",
                f"final {metric}: mean ± sd", f"best {metric}: mean ± sd", "loss/chance (mean)",
                "still rising at the cap", "sample budget", "wall per seed"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for m in self.models:
            s = m.summary
            rng = (f"{_samples(s.samples_median)} [{_samples(s.samples_range[0])}–{_samples(s.samples_range[1])}]"
                   if s.samples_range else "—")
            ratio = statistics.fmean(x.loss_ratio for x in m.seeds)
            row = [m.label, m.model, f"{m.params:,}", str(s.seeds), f"{s.solved}/{s.seeds}", rng,
                   _pm(s.final_mean, s.final_sd), _pm(s.best_mean, s.best_sd), f"{ratio:.3f}",
                   f"{s.rising}/{s.seeds - s.solved}" if s.seeds > s.solved else "—",
                   _samples(m.budget), f"{m.wall:.0f} s"]
            lines.append("| " + " | ".join(row) + " |")
        return lines

    def body(self) -> list[str]:
        a = self.models[self.better].label
        lines = [f"**Published.** {self.published}", "", f"Reproduce: `{self.command}`", "",
                 *self.table(), "", f"**Verdict: {self.verdict}.** {a} against each baseline:", ""]
        lines += [f"- {b}: {w} ({why})" for b, w, why in self.pairs()]
        seeds = ", ".join(f"{m.label}: " + " / ".join(
            f"{'solved at ' + _samples(x.outcome.samples_to_solve) if x.outcome.solved else f'{x.outcome.final:.3f}'}"
            for x in m.seeds) for m in self.models)
        lines += ["", f"Per seed (solved at N samples, or the final {self.models[0].seeds[0].metric_name}): {seeds}."]
        if self.figure_path:
            lines += ["", f"![{self.title}]({self.figure_path})"]
        return lines


def header_lines(machine: str, compute_s: float, folder: str, runs: int) -> list[str]:
    return [f"Every number below is read from the run folders of the study `{folder}` (relative to "
            f"the output root) by `gridlstm study results`: {runs} training runs in the comparisons "
            f"shown, {compute_s / 3600:.2f} h of compute (the runs' own wall times; the gradient "
            f"studies' times are under their tables), on {machine}.", "",
            f"**Verdict rule** (training comparisons; the gradient figures state theirs). {RULE}"]


@dataclass(frozen=True)
class StudyBlock:
    """A gradient study shown whole on the page (the depth study, the spectrum study): its own
    markdown (title line dropped), a heading, and its figure (a path relative to the page, or None)."""

    heading: str
    markdown: str
    figure_alt: str
    figure: Optional[str]

    def lines(self) -> list[str]:
        lines = ["", f"## {self.heading}", "", self.markdown.split("\n", 1)[1].strip()]
        return lines + (["", f"![{self.figure_alt}]({self.figure})"] if self.figure else [])


def render_page(title: str, header: list[str], studies: list[StudyBlock], sections: list,
                pending: list[tuple[str, str]]) -> str:
    """The page; ``sections``: Section or profiles.ProfileSection; ``pending``: (title, why) not shown."""
    lines = [f"# {title}", "", *header, "", "## Summary", "",
             "| comparison | ours (over seeds) | verdict |", "|---|---|---|"]
    for s in sections:
        lines.append(f"| [{s.title}](#{s.name.replace('_', '-')}) | {s.ours()} | **{s.verdict}** |")
    for t, why in pending:
        lines.append(f"| {t} | {why} | — |")
    for block in studies:
        lines += block.lines()
    for s in sections:
        lines += ["", f"<a id=\"{s.name.replace('_', '-')}\"></a>", f"## {s.title}", "", *s.body()]
    return "\n".join(lines) + "\n"
