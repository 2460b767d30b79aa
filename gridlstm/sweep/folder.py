"""A sweep folder: the sweep, its expansion, a status table and one ordinary run folder per run.

    OUT/sweeps/<name>/<UTC stamp>-<id>/
        sweep.yaml              the self-contained sweep (base config inlined, overrides applied)
        expansion.json          every run: id, axis values, resolved config
        meta.json               argv, executor, status (running|completed|failed|interrupted)
        status.csv              one row per run: axis values, status, loss, metric, error
        runs/<run id>/          ordinary run folders (train.py), + traceback.txt if a run failed
        attempts/<run id>.<n>/  earlier unfinished attempts, moved aside when a run is re-run
        results.csv results.md plots/   the aggregation (sweep_results.py)

Resume: ``run_sweep`` on an existing folder runs only the runs that are not finished (finished =
completed or diverged: a diverged run is a result, and re-running it would diverge again). An
interrupted run (Ctrl-C, or a sweep killed while it trained) continues from its checkpoint in its
own folder (resume.py); a failed run, or one that never checkpointed, is moved to attempts/ and
starts over. A lock (FolderLock) keeps two sweeps from running one folder at once; the OS drops it
when a sweep dies. Every run, new or continued, goes through the run lifecycle of ``gridlstm train``
(gridlstm/train/lifecycle.py), gradient profiles at ``gradients.at_steps`` included.
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any, Optional, Protocol

from gridlstm import compose
from gridlstm.errors import ConfigError, GridlstmError
from gridlstm.formatting import show
from gridlstm.runs.files import SWEEP_FILES, check_folder
from gridlstm.runs.folder import FolderLock, atomic_write_text, make_run_dir, read_json, utc_now, write_json
from gridlstm.runs.layout import META as META_FILE
from gridlstm.runs.layout import TRACEBACK
from gridlstm.runs.records import FINISHED, Status, TextEnum
from gridlstm.runs.run import RunFolder
from gridlstm.safe_yaml import read_yaml

from . import cmdline
from .executors import RunJob
from .spec import Sweep, dump_spec, parse_sweep

SPEC, EXPANSION, META, STATUS = "sweep.yaml", "expansion.json", META_FILE, "status.csv"
DONE = FINISHED


class BoardState(TextEnum):
    """What a sweep's board says of one run: the statuses a run folder records, and ``pending``
    (never started), which no run folder records. A run's ``Status`` equals the board state of the
    same name (both compare as their strings)."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    DIVERGED = "diverged"


PENDING = BoardState.PENDING
STATUS_FIELDS = ("status", "steps", "eval_loss", "eval_metric", "solved", "wall_seconds", "error")


def is_sweep_dir(path: Path) -> bool:
    return path.is_dir() and (path / SPEC).is_file() and (path / EXPANSION).is_file()


def run_dir(sweep_dir: Path, run_id: str) -> Path:
    return sweep_dir / "runs" / run_id


def create_sweep_dir(sweep: Sweep, out_root: Path) -> Path:
    """A fresh OUT/sweeps/<name>/<stamp-id>/ that appears holding the sweep and its expansion."""
    def fill(path: Path) -> None:
        atomic_write_text(path / SPEC, dump_spec(sweep))
        write_json(path / EXPANSION, {
            "name": sweep.name, "keys": list(sweep.keys), "plot_x": sweep.plot_x,
            "runs": [{"id": r.id, "values": r.values, "config": r.config.to_dict()} for r in sweep.runs]})
        (path / "runs").mkdir()

    return make_run_dir(Path(out_root) / "sweeps", sweep.name, fill=fill)


def open_sweep_dir(path: Path) -> Sweep:
    """The sweep stored in a sweep folder, re-validated; its run ids must match the expansion."""
    if not is_sweep_dir(path):
        raise GridlstmError(f"{path} is not a sweep folder (no {SPEC} and {EXPANSION}); give a sweep "
                            "file such as configs/sweeps/adding_length.yaml or a folder under outputs/sweeps/")
    check_folder(path, SWEEP_FILES)
    for run in sorted((path / "runs").iterdir()) if (path / "runs").is_dir() else ():
        check_folder(run)
    try:
        sweep = parse_sweep(read_yaml(path / SPEC, "sweep"))
    except ConfigError as e:
        raise ConfigError([p if str(path / SPEC) in p else f"{path / SPEC}: {p}" for p in e.problems]) from None
    runs = read_json(path / EXPANSION).get("runs")
    if not isinstance(runs, list) or not all(isinstance(r, dict) and isinstance(r.get("id"), str) for r in runs):
        raise GridlstmError(f"{path / EXPANSION} is damaged (no list of runs with ids); start a new sweep "
                            "from the sweep file")
    stored = [r["id"] for r in runs]
    if stored != [r.id for r in sweep.runs]:
        raise GridlstmError(f"{path / SPEC} no longer expands to the runs in {path / EXPANSION}; "
                            "was the folder edited? Start a new sweep from the sweep file")
    return sweep


# ----------------------------------------------------------------------------- run states


def run_state(path: Path) -> BoardState:
    """pending (never started) | running | completed | diverged | failed | interrupted.

    A traceback beside an unfinished status means failed (the worker died or raised); a status
    this version does not know counts as pending."""
    status, _ = RunFolder(path).board()
    if status in DONE:
        return BoardState(status)
    if (path / TRACEBACK).is_file():
        return BoardState.FAILED
    return BoardState(status) if status in BoardState._value2member_map_ else PENDING


def resumable(path: Path) -> bool:
    """An interrupted (or killed while running) run with a checkpoint continues in place."""
    return run_state(path) in (Status.INTERRUPTED, Status.RUNNING) and RunFolder(path).checkpoint_file.is_file()


def error_line(path: Path) -> str:
    """The last line of a run's traceback (``RuntimeError: …``), or the error in its meta."""
    tb = path / TRACEBACK
    if tb.is_file():
        lines = [line for line in tb.read_text().splitlines() if line.strip()]
        return lines[-1].strip() if lines else Status.FAILED.value
    return RunFolder(path).error()


def set_aside(sweep_dir: Path, run_id: str) -> Optional[Path]:
    """Move an unfinished attempt out of runs/ (to attempts/<id>.<n>) so the run starts clean."""
    src = run_dir(sweep_dir, run_id)
    if not src.exists():
        return None
    (sweep_dir / "attempts").mkdir(exist_ok=True)
    n = 1
    while (sweep_dir / "attempts" / f"{run_id}.{n}").exists():
        n += 1
    dst = sweep_dir / "attempts" / f"{run_id}.{n}"
    os.rename(src, dst)  # a folder moved aside, not a file written
    return dst


# ----------------------------------------------------------------------------- the board


class SweepReporter(Protocol):
    def start(self, sweep: Sweep, sweep_dir: Path, executor: str, total: int, done: int) -> None: ...
    def update(self, counts: dict[str, int]) -> None: ...
    def finish(self, counts: dict[str, int]) -> None: ...


class SilentSweepReporter:
    def start(self, *a: Any) -> None: ...
    def update(self, *a: Any) -> None: ...
    def finish(self, *a: Any) -> None: ...


class StatusBoard:
    """The state of every run; rewrites status.csv and tells the reporter on every change."""

    def __init__(self, sweep: Sweep, sweep_dir: Path, reporter: SweepReporter):
        self.sweep, self.sweep_dir, self.reporter = sweep, sweep_dir, reporter
        self.states: dict[str, BoardState] = {r.id: run_state(run_dir(sweep_dir, r.id)) for r in sweep.runs}
        self._cells: dict[str, dict[str, Any]] = {}  # status-table cells of runs that ended

    def counts(self) -> dict[str, int]:
        out = {k.value: 0 for k in (BoardState.COMPLETED, BoardState.DIVERGED, BoardState.FAILED,
                                    BoardState.INTERRUPTED, BoardState.RUNNING, PENDING)}
        for s in self.states.values():
            out[s.value] += 1
        return out

    def started(self, run_id: str) -> None:
        self.states[run_id] = BoardState.RUNNING
        self._changed()

    def finished(self, run_id: str, error: Optional[str]) -> None:
        path = run_dir(self.sweep_dir, run_id)
        state = run_state(path)
        if state in (PENDING, Status.RUNNING) and not error:
            error = "the worker ended before the run finished (no final status in meta.json)"
        if error and state not in DONE and state != Status.INTERRUPTED:
            path.mkdir(parents=True, exist_ok=True)
            if not (path / TRACEBACK).is_file():
                (path / TRACEBACK).write_text(f"{error}\n")
            state = BoardState.FAILED
        self.states[run_id] = state
        self._changed()

    def unfinished(self) -> list[tuple[str, str, Path]]:
        """(run id, why, run folder) of every run left interrupted (its Ray worker was lost)."""
        return [(i, error_line(run_dir(self.sweep_dir, i)), run_dir(self.sweep_dir, i))
                for i, s in self.states.items() if s == Status.INTERRUPTED]

    def failures(self) -> list[tuple[str, str, Path]]:
        """(run id, last error line, run folder) of every failed run."""
        return [(i, error_line(run_dir(self.sweep_dir, i)), run_dir(self.sweep_dir, i))
                for i, s in self.states.items() if s == Status.FAILED]

    def _changed(self) -> None:
        self.write()
        self.reporter.update(self.counts())

    def _ended_cells(self, run_id: str) -> dict[str, Any]:
        """summary.json numbers and the error line of a run that ended (read once)."""
        if run_id not in self._cells:
            path = run_dir(self.sweep_dir, run_id)
            _, summary = RunFolder(path).board()
            cells = {k: summary.get(k, "") for k in STATUS_FIELDS}
            cells["error"] = error_line(path) if self.states[run_id] in (Status.FAILED, Status.DIVERGED) else ""
            self._cells[run_id] = cells
        return self._cells[run_id]

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for r in self.sweep.runs:
            state = self.states[r.id]
            row: dict[str, Any] = {"id": r.id, **{k: show(v) for k, v in r.values.items()}}
            if state in (Status.RUNNING, PENDING):
                self._cells.pop(r.id, None)
                row.update({k: "" for k in STATUS_FIELDS})
            else:
                row.update(self._ended_cells(r.id))
            row["status"] = state
            rows.append(row)
        return rows

    def write(self) -> None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=["id", *self.sweep.keys, *STATUS_FIELDS], lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows())
        atomic_write_text(self.sweep_dir / STATUS, buf.getvalue())


# ----------------------------------------------------------------------------- running


def _set_meta(sweep_dir: Path, **fields: Any) -> None:
    path = sweep_dir / META
    meta = read_json(path) if path.is_file() else {}
    meta.update(fields)
    write_json(path, meta)


def run_sweep(sweep: Sweep, sweep_dir: Path, executor: Any, reporter: Optional[SweepReporter] = None,
              device: str = "auto", gradients: bool = True, argv: tuple[str, ...] = ()) -> StatusBoard:
    """Run every unfinished run of ``sweep`` in ``sweep_dir`` with ``executor``.

    A failed run is recorded and the sweep goes on; KeyboardInterrupt stops the running runs
    (they checkpoint and are marked interrupted), records the sweep as interrupted and re-raises.
    """
    reporter = reporter or SilentSweepReporter()
    with FolderLock(sweep_dir, "another sweep process"):
        board = StatusBoard(sweep, sweep_dir, reporter)
        todo = [r for r in sweep.runs if board.states[r.id] not in DONE]
        resume = {r.id for r in todo if resumable(run_dir(sweep_dir, r.id))}
        for r in todo:
            if r.id not in resume:
                set_aside(sweep_dir, r.id)
                board.states[r.id] = PENDING
        board.write()
        attempt = {"started": utc_now(), "argv": list(argv), "executor": executor.describe(),
                   "runs_to_do": len(todo), "continued": sorted(resume)}
        meta_path = sweep_dir / META
        attempts = (read_json(meta_path).get("attempts", []) if meta_path.is_file() else []) + [attempt]
        _set_meta(sweep_dir, name=sweep.name, runs=len(sweep.runs), status=Status.RUNNING, attempts=attempts)
        reporter.start(sweep, sweep_dir, executor.describe(), len(sweep.runs), len(sweep.runs) - len(todo))
        jobs = [RunJob(r.id, r.config, str(run_dir(sweep_dir, r.id)), device=device, gradients=gradients,
                       argv=tuple(argv), resume=r.id in resume) for r in todo]
        try:
            executor.run(jobs, board)
        except BaseException:
            for run_id, state in board.states.items():  # runs the executor dropped unfinished
                if state == Status.RUNNING:
                    board.states[run_id] = run_state(run_dir(sweep_dir, run_id))
            _set_meta(sweep_dir, status=Status.INTERRUPTED, ended=utc_now())
            board.write()
            reporter.finish(board.counts())
            raise
        counts = board.counts()
        finished = sum(counts[s] for s in FINISHED)
        status = Status.COMPLETED if finished == len(sweep.runs) else Status.FAILED
        attempts[-1]["ended"] = utc_now()
        _set_meta(sweep_dir, status=status, ended=utc_now(), attempts=attempts)
        reporter.finish(counts)
        return board


def open_target(target: Path, overrides: tuple[str, ...] | list[str], out_root: Path,
                create: bool = True) -> tuple[Sweep, Optional[Path], bool]:
    """(sweep, its folder, resumed?) for a sweep file (a new folder unless ``create`` is False)
    or an existing sweep folder (resumed as it was created)."""
    target = Path(target)
    if not target.exists():  # a shipped sweep or run config by name (sweeps/adding_length, adding_rnn)
        try:
            target = compose.find_config(target, "sweep")
        except ConfigError as e:
            raise GridlstmError(f"no such sweep file or sweep folder: {target} ("
                                f"{e.problems[0].partition('; ')[2].rstrip(')')}; or a folder under "
                                "outputs/sweeps/)") from None
    if target.is_dir():
        if overrides:
            raise GridlstmError("KEY=VALUE overrides apply to a new sweep (a sweep file); a sweep folder "
                                f"resumes exactly as it was created: gridlstm sweep {target}")
        return open_sweep_dir(target), target, True
    data, overrides = cmdline.sweep_mapping(target, overrides)
    sweep = parse_sweep(data, target, overrides)
    return sweep, (create_sweep_dir(sweep, out_root) if create else None), False
