"""The depth study (the assignment's claim along depth, docs/gradients.md "Along depth"): how much gradient reaches layer 1 at init.

A study file is a sweep file (gridlstm/sweep/spec.py: base config, ``config``, ``axes``, ``zip``)
whose runs are *measured, not trained*: each expanded config is gradchecked at initialisation
with ``seeds`` measurement seeds (fresh weights and batch per seed, as ``gridlstm gradcheck
CONFIG --seeds N``). configs/studies/depth.yaml: D ∈ {4, 16, 64} × {rnn, lstm, grid memory_input, grid
paper, tied grid paper} on adding T=20, H=32, 3 seeds.

    OUT/studies/<name>/<UTC stamp>-<id>/
        study.yaml            the expanded study (base config inlined, overrides applied)
        runs/<run id>/        config.yaml + gradients/ (what gradcheck writes): plot/report read them
        depth.png             one panel per depth D: g[T, d] against layer d, every model and
                              depth-carrying state (plots/depth.py)
        depth.csv, depth.md   decades lost from the top layer to layer 1 (probe/depth.py)
"""
from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from gridlstm import compose
from gridlstm.config import dump_config
from gridlstm.nn import registry
from gridlstm.probe.depth import DepthDecay, depth_decay, depth_profile, depth_states
from gridlstm.probe.gradcheck import Source, run_gradcheck, write_outputs
from gridlstm.runs.folder import atomic_write_text, fresh_run_dir, write_json
from gridlstm.runs.layout import CONFIG, DEPTH, GRADIENTS_DIR, META
from gridlstm.runs.run import RunFolder
from gridlstm.sweep.spec import Sweep, dump_spec

DEFAULT_STUDY = compose.CONFIG_DIR / "studies" / "depth.yaml"
FIELDS = ("model", "D", "state", "top_layer", "g_top", "g_bottom", "decades", "decades_std",
          "per_layer", "underflow", "seeds", "run")


@dataclass
class StudyResult:
    folder: Path
    rows: list[dict[str, Any]]
    files: list[Path]
    seconds: float


def model_label(run: RunFolder) -> str:
    return registry.describe(run.config_data()["model"])


def measure_run(cfg: Any, folder: Path, seeds: int, batch: Optional[int], device: str,
                source_path: Path) -> RunFolder:
    """Gradcheck one config at initialisation into ``folder`` (config.yaml + gradients/), with
    gradcheck's default prediction (λ₁ along time and depth: under 1.1× the bare gradcheck here)."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / CONFIG, dump_config(cfg))
    result = run_gradcheck(Source(cfg, "config", source_path), seeds, batch, device)
    write_outputs(result, folder / GRADIENTS_DIR)
    return RunFolder.read(folder)


def decay_rows(run: RunFolder) -> list[dict[str, Any]]:
    """One row per depth-carrying state of ``run``: its depth decay at the scored step."""
    table = run.gradients()
    rows = []
    for state in depth_states(table.states, run.config_data()["model"]):
        d: DepthDecay = depth_decay(depth_profile(table, state))
        row = {"model": model_label(run), "D": int(run.config_data()["model"]["layers"]), **asdict(d), "run": run.path.name}
        rows.append({k: row[k] for k in FIELDS})
    return rows


def rows_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    return buf.getvalue()


def _num(v: Optional[float], fmt: str = ".3g") -> str:
    return "—" if v is None else format(v, fmt)


def rows_markdown(rows: list[dict[str, Any]], sweep: Sweep, seeds: int, seconds: float) -> str:
    base = sweep.spec["config"]
    task, model = base.get("task", {}), base.get("model", {})
    lines = [
        f"# Gradient along depth at initialisation ({sweep.name})", "",
        f"Task {task.get('name')} T={task.get('length')}, H={model.get('hidden')}, {seeds} measurement "
        f"seed(s) per model (fresh weights and batch each); measured in {seconds:.0f} s.", "",
        "g[T, d] = mean_b ‖∂ℓ_b/∂state_b[T, d]‖₂ at the scored step T. **decades** = log10 g[T, top] − "
        "log10 g[T, 1] from the top layer the loss reaches down to layer 1, mean ± std over seeds; "
        "**per layer** = decades / (top − 1). Depth-carrying states: those each cell sends up the stack "
        "(h; the grid's h′ and its depth memory c′/m′). **underflow**: seeds whose g[T, 1] < FLT_MIN (1.18e-38); their "
        "decades count down to FLT_MIN, a lower bound (shown with ≥).", "",
        "| model | D | state | top | g top | g layer 1 | decades | per layer | underflow |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        dec = _num(r["decades"], ".2f")
        if r["decades_std"] is not None:
            dec += f" ± {r['decades_std']:.2f}"
        if r["underflow"]:
            dec = "≥ " + dec
        lines.append(f"| {r['model']} | {r['D']} | {r['state'].replace('_depth', '′')} | "
                     f"{_num(r['top_layer'], 'd')} | {_num(r['g_top'])} | {_num(r['g_bottom'])} | {dec} | "
                     f"{'≥ ' if r['underflow'] else ''}{_num(r['per_layer'], '.3f')} | "
                     f"{r['underflow']}/{r['seeds']} |")
    return "\n".join(lines) + "\n"


def run_depth_study(sweep: Sweep, out_root: Path, seeds: int = 3, batch: Optional[int] = None,
                    device: str = "cpu", source: Path = DEFAULT_STUDY,
                    progress: Optional[Callable[[int, int, str, float], None]] = None,
                    folder: Optional[Path] = None) -> StudyResult:
    """Gradcheck every run of ``sweep`` at init, then write depth.png, depth.csv and depth.md
    (into ``folder``, default a new OUT/studies/NAME/<UTC stamp>-<id>/)."""
    if folder is None:  # a study that fails (a full disk) leaves no half-made folder
        with fresh_run_dir(out_root / "studies", sweep.name, "study.yaml", dump_spec(sweep)) as made:
            return measure_study(sweep, made, seeds, batch, device, source, progress)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "study.yaml", dump_spec(sweep))
    return measure_study(sweep, folder, seeds, batch, device, source, progress)


def measure_study(sweep: Sweep, folder: Path, seeds: int, batch: Optional[int], device: str, source: Path,
                  progress: Optional[Callable[[int, int, str, float], None]]) -> StudyResult:
    """The body of run_depth_study, in a folder that holds study.yaml."""
    from gridlstm.plots.depth import study_figure
    from gridlstm.plots.style import save

    start = time.perf_counter()
    runs = []
    for i, point in enumerate(sweep.runs):
        t0 = time.perf_counter()
        runs.append(measure_run(point.config, folder / "runs" / point.id, seeds, batch, device, source))
        if progress:
            progress(i + 1, len(sweep.runs), point.id, time.perf_counter() - t0)
    rows = [row for run in runs for row in decay_rows(run)]
    seconds = time.perf_counter() - start
    files = [save(study_figure(runs), folder / "depth.png")]
    atomic_write_text(folder / DEPTH, rows_csv(rows))
    atomic_write_text(folder / "depth.md", rows_markdown(rows, sweep, seeds, seconds))
    write_json(folder / META, {"study": sweep.name, "runs": len(runs), "seeds": seeds,
                                      "batch": batch, "device": device, "seconds": round(seconds, 1)})
    files += [folder / DEPTH, folder / "depth.md"]
    return StudyResult(folder, rows, files, seconds)
