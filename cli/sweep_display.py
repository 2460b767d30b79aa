"""Terminal display of a sweep: a progress bar over runs (done / running / failed, ETA) and the
expansion table of ``--dry-run``. Everything goes to the console given (stderr in the CLI)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from gridlstm.formatting import show
from gridlstm.sweep.spec import Sweep


def counts_text(counts: dict[str, int]) -> str:
    done = counts["completed"] + counts["diverged"]
    text = f"[green]{done} done[/] · [cyan]{counts['running']} running[/] · [red]{counts['failed']} failed[/]"
    if counts["diverged"]:
        text += f" · [yellow]{counts['diverged']} diverged[/]"
    if counts["interrupted"]:
        text += f" · [yellow]{counts['interrupted']} interrupted[/]"
    return text


class RichSweepProgress:
    """One bar over the sweep's runs; finished = done + failed; ETA from the pace of this session."""

    def __init__(self, console: Console):
        self.console = console
        self.progress: Optional[Progress] = None
        self.bar: Optional[TaskID] = None

    def start(self, sweep: Sweep, sweep_dir: Path, executor: str, total: int, done: int) -> None:
        axes = ", ".join(f"{k} ({len({show(r.values[k]) for r in sweep.runs})})" for k in sweep.keys)
        self.console.print(f"[bold]sweep {sweep.name}[/]: {total} runs over {axes}"
                           + (f"; {done} already finished" if done else ""))
        self.console.print(f"sweep folder: {sweep_dir}")
        self.console.print(f"executor: {executor}")
        self.progress = Progress(
            TextColumn("runs"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=self.console)
        self.bar = self.progress.add_task("runs", total=total, completed=done, counts="")
        self.progress.start()

    def update(self, counts: dict[str, int]) -> None:
        if self.progress is not None and self.bar is not None:
            finished = counts["completed"] + counts["diverged"] + counts["failed"]
            self.progress.update(self.bar, completed=finished, counts=counts_text(counts))

    def finish(self, counts: dict[str, int]) -> None:
        if self.progress is not None:
            self.update(counts)
            self.progress.stop()


def expansion_table(sweep: Sweep) -> Table:
    """Every run of the sweep with its axis values (``gridlstm sweep FILE --dry-run``)."""
    table = Table(title=f"sweep {sweep.name}: {len(sweep.runs)} runs", header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("run id")
    for k in sweep.keys:
        table.add_column(k)
    for i, r in enumerate(sweep.runs, 1):
        table.add_row(str(i), r.id, *(show(r.values[k]) for k in sweep.keys))
    return table
