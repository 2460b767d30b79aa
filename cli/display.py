"""Terminal display: one progress line while training (fits any width) and a summary table at the end.

The line's fields, most important first: step/total, ETA, rate, latest loss, the bar, the metric, the
latest eval, elapsed time, the chance loss. At a given width the fields that fit are kept by that
priority (a field is shown whole or not at all, never cut mid-number) and drawn in reading order;
the bar takes what is left. Not a terminal (CI logs, pipes): one plain line per eval instead.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.table import Table
from rich.text import Text

from gridlstm.config import Config
from gridlstm.formatting import sig
from gridlstm.tasks import Task, task_class

# reading order of the fields; PRIORITY says which survive a narrow terminal
ORDER = ("name", "bar", "count", "rate", "elapsed", "eta", "loss", "metric", "eval", "chance")
PRIORITY = ("count", "eta", "rate", "loss", "bar", "metric", "eval", "elapsed", "name", "chance")
BAR_MIN, BAR_MAX = 10, 40

if TYPE_CHECKING:
    from gridlstm.runs.records import Summary


def fmt(x: Any, digits: int = 4) -> str:
    return sig(x, digits, blank="—", show_nonfinite=True)


def clock(seconds: Optional[float]) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "-:--:--"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class TrainingLine:
    """The state of the progress line; rendered at the width rich gives it (``line(width)``)."""

    def __init__(self, total: int, metric_name: str, chance: float, start_step: int = 0):
        self.total, self.metric_name, self.chance = total, metric_name, chance
        self.step = self.start_step = start_step
        self.loss: Optional[float] = None
        self.metric: Optional[float] = None
        self.eval: Optional[tuple[int, float, float]] = None
        self.t0 = time.monotonic()
        self.stopped_at: Optional[float] = None
        self.completed = False  # set at the end: the run completed (also an early stop)

    def elapsed(self) -> float:
        return (self.stopped_at or time.monotonic()) - self.t0

    def rate(self) -> Optional[float]:
        """Steps per second in this session (a resumed run counts from where it resumed)."""
        done, seconds = self.step - self.start_step, self.elapsed()
        return done / seconds if done > 0 and seconds > 0 else None

    def fields(self) -> dict[str, str]:
        rate = self.rate()
        if self.stopped_at is not None:  # ended: nothing left, or (interrupted, diverged) no estimate
            eta = 0.0 if self.completed else None
        else:
            eta = 0.0 if self.step >= self.total else (None if rate is None else (self.total - self.step) / rate)
        out = {"name": "train", "count": f"{self.step}/{self.total}",
               "rate": "— step/s" if rate is None else f"{rate:.3g} step/s",
               "elapsed": clock(self.elapsed()), "eta": f"eta {clock(eta)}",
               "loss": f"loss {fmt(self.loss)}", "chance": f"(chance {fmt(self.chance)})"}
        if self.metric is not None:
            out["metric"] = f"{self.metric_name} {fmt(self.metric)}"
        if self.eval is not None:
            step, loss, metric = self.eval
            out["eval"] = f"| eval@{step} loss {fmt(loss)} {self.metric_name} {fmt(metric)}"
        return out

    def line(self, width: int) -> str:
        """The fields that fit in ``width`` columns, by PRIORITY; never a field cut short."""
        fields = self.fields()
        chosen: set[str] = set()
        used = -1  # the first field needs no separating space
        for name in PRIORITY:
            size = BAR_MIN if name == "bar" else len(fields.get(name, ""))
            if name != "bar" and name not in fields:
                continue
            if used + 1 + size > width:
                break  # drop this field and every less important one
            chosen.add(name)
            used += 1 + size
        if "bar" in chosen:
            bar = min(BAR_MAX, BAR_MIN + width - used)
            filled = round(bar * min(self.step, self.total) / max(self.total, 1))
            fields["bar"] = "━" * filled + "─" * (bar - filled)
        return " ".join(fields[n] for n in ORDER if n in chosen)

    def plain(self) -> str:
        """The line for a log (not a terminal): every field but the bar, in reading order."""
        fields = self.fields()
        return " ".join(fields[n] for n in ORDER if n in fields and n not in ("bar", "name"))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(self.line(options.max_width), no_wrap=True, overflow="crop")


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
    """The progress line (a live line on a terminal, one line per eval otherwise), then the summary
    table and how the run ended. The live line is drawn by rich's refresh thread, ``refresh_per_second``."""

    def __init__(self, console: Console, refresh_per_second: float = 4):
        self.console = console
        self.refresh_per_second = refresh_per_second
        self.live: Optional[Live] = None
        self.state: Optional[TrainingLine] = None
        self.resumed_from = 0

    def resumed(self, step: int) -> None:
        """Called before start() when the run continues from the checkpoint at ``step``."""
        self.resumed_from = step

    def start(self, cfg: Config, task: Task, run_dir: Path, params: int) -> None:
        self.total = cfg.train.steps
        self.console.print(f"[bold]{cfg.run_name}[/]: {cfg.model.kind} "
                           f"(H={cfg.model.hidden}, D={cfg.model.layers}, {params:,} params) on "
                           f"{task.name} T={task.length}; chance loss {task.chance:.4g}")
        self.console.print(f"run folder: {run_dir}", markup=False, soft_wrap=True)
        if self.resumed_from:
            self.console.print(f"resumed from step {self.resumed_from} of {self.total}")
        self.state = TrainingLine(self.total, task.metric_name, task.chance, self.resumed_from)
        if self.console.is_terminal:
            self.live = Live(self.state, console=self.console, auto_refresh=True, transient=False,
                             refresh_per_second=self.refresh_per_second)
            self.live.start()

    def step(self, step: int, loss: float, metric: float) -> None:
        if self.state is not None:
            self.state.step, self.state.loss, self.state.metric = step, loss, metric

    def evaluated(self, step: int, loss: float, metric: float) -> None:
        if self.state is None:
            return
        self.state.step, self.state.eval = step, (step, loss, metric)
        if self.live is None:  # a log: one plain line per eval
            self.console.print(self.state.plain(), markup=False, highlight=False, soft_wrap=True)

    def finish(self, summary: Summary) -> None:
        if self.state is not None:
            self.state.step, self.state.stopped_at = summary.steps, time.monotonic()
            self.state.completed = str(summary.status) == "completed"
        if self.live is not None:  # one last draw, at the step the run really ended
            self.live.stop()
            self.live = None
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
        ("target", f"{s.metric_name} {'≥' if task_class(s.task).higher_is_better else '≤'} {fmt(s.target)}"),
        ("solved", "[green]yes[/]" if s.solved else "[red]no[/]"),
        ("wall time", f"{s.wall_seconds:.1f} s on {s.device}"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    return table
