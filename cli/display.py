"""Terminal display: a rich progress bar while training and a summary table at the end."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from gridlstm.config import Config
from gridlstm.formatting import sig
from gridlstm.tasks import Task

if TYPE_CHECKING:
    from gridlstm.runs.records import Summary


def fmt(x: Any, digits: int = 4) -> str:
    return sig(x, digits, blank="—", show_nonfinite=True)


class RateColumn(ProgressColumn):
    """Training steps per second (rich's own speed column counts bytes)."""

    def render(self, task: Any) -> Text:
        speed = task.finished_speed or task.speed
        return Text("— step/s" if speed is None else f"{speed:.3g} step/s", style="progress.data.speed")


def ending(summary: Summary, total: int) -> str:
    """The run's last line: how it ended, and at which step."""
    status, step = str(summary.status), summary.steps
    if status == "interrupted":
        return f"interrupted at step {step}"
    if status == "completed" and summary.solved and step < total:
        return f"stopped early: solved at step {step}"
    if status == "diverged":  # `steps` is the last good step; the error names the one that failed
        return f"diverged after step {step}"
    return f"{status} at step {step}"


class RichReporter:
    """Progress bar showing step, loss, metric and the chance baseline; summary table at the end."""

    def __init__(self, console: Console, refresh_every: int = 5):
        self.console = console
        self.refresh_every = refresh_every
        self.progress: Progress | None = None

    def start(self, cfg: Config, task: Task, run_dir: Path, params: int) -> None:
        self.task, self.chance = task, task.chance
        self.eval_text = "eval —"
        self.console.print(f"[bold]{cfg.run_name}[/]: {cfg.model.kind} "
                           f"(H={cfg.model.hidden}, D={cfg.model.layers}, {params:,} params) on "
                           f"{task.name} T={task.length}; chance loss {self.chance:.4g}")
        self.console.print(f"run folder: {run_dir}")
        self.progress = Progress(
            TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
            RateColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=self.console, transient=False)
        self.total = cfg.train.steps
        self.status_text = ""
        self.bar = self.progress.add_task("train", total=cfg.train.steps, status="")
        self.progress.start()

    def step(self, step: int, loss: float, metric: float) -> None:
        if self.progress and (step % self.refresh_every == 0 or step == 1):
            self.status_text = (f"loss {loss:.4f} (chance {self.chance:.4f}) "
                                f"{self.task.metric_name} {metric:.4f}")
            self.progress.update(self.bar, completed=step, status=f"{self.status_text} | {self.eval_text}")

    def evaluated(self, step: int, loss: float, metric: float) -> None:
        self.eval_text = f"eval@{step} loss {loss:.4f} {self.task.metric_name} {metric:.4f}"
        if self.progress:  # the bar's last line shows the latest eval, also after an early stop
            self.progress.update(self.bar, status=f"{self.status_text} | {self.eval_text}")

    def finish(self, summary: Summary) -> None:
        if self.progress:
            self.progress.update(self.bar, completed=summary.steps,
                                 status=f"{self.status_text} | {self.eval_text}")
            self.progress.stop()
        self.console.print(summary_table(summary))
        self.console.print(ending(summary, self.total))


def summary_table(s: Summary) -> Table:
    table = Table(title=f"{s.name} — {s.status}", show_header=True, header_style="bold")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    model = s.model + (f" ({s.variant}{', tied' if s.tied else ''})" if s.variant else "")
    rows = [
        ("task", f"{s.task} (T={s.length})"),
        ("model", f"{model}, H={s.hidden}, D={s.layers}"),
        ("parameters", f"{s.params:,}"),
        ("steps", str(s.steps)),
        ("eval loss", fmt(s.eval_loss)),
        ("chance loss", fmt(s.chance)),
        (f"eval {s.metric_name}", fmt(s.eval_metric)),
        ("target", f"{s.metric_name} {'≤' if s.metric_name == 'mse' else '≥'} {fmt(s.target)}"),
        ("solved", "[green]yes[/]" if s.solved else "[red]no[/]"),
        ("wall time", f"{s.wall_seconds:.1f} s on {s.device}"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    return table
