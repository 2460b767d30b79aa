"""The spectrum study (docs/gradients.md, "Lyapunov spectrum"): the Lyapunov spectrum at initialisation
and after a short training, beside the measured decay.  What the norm alone hides: how many
directions of the state still carry a gradient, along time (adding, T = 200: rnn, lstm, gru, grid) and along depth (parity
through depth, D = 16: lstm and the grids).

A study file (configs/studies/spectrum.yaml) lists entries {name, axis: time|depth, config, set};
each is gradchecked with the spectrum at initialisation, trained for ``train_steps`` (a run folder
of its own), and gradchecked again from its checkpoint.

    OUT/studies/<name>/<UTC stamp>-<id>/
        study.yaml                 the entries as read (overrides applied)
        runs/<entry>-init/         config.yaml + gradients/ (gradcheck --spectrum of the config)
        runs/<entry>/              the trained run, its gradients/ from its checkpoint
        spectrum.png               exponents against index, one panel per axis (plots/spectrum.py)
        spectrum.csv, spectrum.md  one row per entry and stage: prediction beside measurement
"""
from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import yaml

from gridlstm import compose
from gridlstm.config import Config, dump_config, load_config
from gridlstm.errors import ConfigError
from gridlstm.nn import registry
from gridlstm.probe.decay import geometric_mean
from gridlstm.probe.gradcheck import Source, by_steps_back, load_source, run_gradcheck, write_outputs
from gridlstm.probe.spectrum_settings import SpectrumSettings
from gridlstm.runs.folder import atomic_write_text, make_run_dir, write_json
from gridlstm.runs.layout import CONFIG, META
from gridlstm.safe_yaml import read_yaml

DEFAULT_SPECTRUM_STUDY = compose.CONFIG_DIR / "studies" / "spectrum.yaml"
AXES = ("time", "depth")
FIELDS = ("entry", "axis", "stage", "step", "task", "T", "D", "H", "eval_loss", "measured_slope",
          "measured_slope_last_half", "predicted_slope", "slope_over_predicted", "measured_decades", "predicted_decades",
          "sigma1_decades", "directions_1e-3", "directions_1e-6", "n_time", "n_depth", "run")


@dataclass(frozen=True)
class Entry:
    name: str
    axis: str
    config: Config


@dataclass(frozen=True)
class SpectrumStudy:
    name: str
    train_steps: int
    entries: list[Entry]


def load_spectrum_study(path: Path, overrides: tuple[str, ...] | list[str] = ()) -> SpectrumStudy:
    """Read a spectrum study file (a path, or a shipped one by name from any directory:
    studies/spectrum); every problem is one line of a ConfigError."""
    path = compose.find_config(path, "study")
    raw, problems, entries = read_yaml(path, "study"), [], []
    unknown = sorted(set(raw) - {"name", "train_steps", "entries"})
    if unknown:
        problems.append(f"{path}: unknown key(s) {', '.join(unknown)} (expected name, train_steps, entries)")
    steps = raw.get("train_steps", 200)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        problems.append(f"{path}: train_steps {steps!r}: expected a positive number of training steps")
    items = raw.get("entries")
    if not isinstance(items, list) or not items:
        problems.append(f"{path}: entries: expected a list of {{name, axis, config, set}}")
        items = []
    for i, e in enumerate(items):
        where = f"{path}: entries[{i}]"
        if not isinstance(e, dict) or not {"name", "axis", "config"} <= set(e) or set(e) - {"name", "axis", "config", "set"}:
            problems.append(f"{where}: expected a mapping with name, axis, config and optionally set")
            continue
        if e["axis"] not in AXES:
            problems.append(f"{where}: axis {e['axis']!r}: expected one of {', '.join(AXES)}")
            continue
        sets = e.get("set") or []
        try:
            cfg = load_config(Path(path).parent / str(e["config"]), [*map(str, sets), *overrides])
        except ConfigError as err:
            problems += [f"{where}: {p}" for p in err.problems]
            continue
        entries.append(Entry(str(e["name"]), e["axis"], cfg))
    if problems:
        raise ConfigError(problems)
    return SpectrumStudy(str(raw.get("name", "spectrum")), steps, entries)


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "entry"


def _first(rows: list[dict[str, Any]], pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    return next((r for r in rows if pred(r)), {})


def last_half_slope(result: Any, state: str, layer: int) -> Optional[float]:
    """Least-squares slope of log10 g over the last half of the steps back (the geometric-mean
    profile over seeds), where the top exponent has had time to dominate; None on underflow."""
    profiles = by_steps_back(result.rows).get((state, layer))
    if not profiles or len(profiles[0]) < 4:
        return None
    g = geometric_mean(profiles)
    half = g[len(g) // 2:]
    if not np.all(half >= result.meta["underflow_threshold"]):
        return None
    return float(np.polyfit(np.arange(len(half)), np.log10(half), 1)[0])


def study_row(entry: Entry, stage: str, result: Any, run: Path, eval_loss: Optional[float]) -> dict[str, Any]:
    """One table row: the top layer's time h (its slope beside λ₁ of its block) and the hidden depth
    carrier's decades beside the depth spectrum's prediction."""
    m = result.meta
    hs = [r for r in result.summary if r["state"] == "h"]
    top = max(hs, key=lambda r: r["layer"]) if hs else {}
    model = {"kind": m["model"], "variant": m.get("variant")}
    carrier = registry.depth_states(model, [r["state"] for r in result.depth] + ["h"])[0]
    dep = _first(result.depth, lambda r: r["state"] == carrier)
    timed = top.get("predicted_slope") is not None  # a task with steps along time
    return {"entry": entry.name, "axis": entry.axis, "stage": stage, "step": m["step"], "task": m["task"],
            "T": m["T"], "D": m["D"], "H": m["hidden"], "eval_loss": eval_loss,
            "measured_slope": top.get("slope_decades_per_step") if timed else None,
            "measured_slope_last_half": last_half_slope(result, "h", top["layer"]) if timed else None,
            "predicted_slope": top.get("predicted_slope"),
            "slope_over_predicted": top.get("slope_over_predicted"), "measured_decades": dep.get("decades"),
            "predicted_decades": dep.get("predicted_decades"), "sigma1_decades": dep.get("sigma1_decades"),
            "directions_1e-3": dep.get("directions_1e-3"), "directions_1e-6": dep.get("directions_1e-6"),
            "n_time": m["spectrum"]["n"], "n_depth": m["spectrum"]["depth_n"], "run": run.name}


def rows_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, FIELDS, lineterminator="\n")
    w.writeheader()
    w.writerows({k: ("" if r.get(k) is None else r[k]) for k in FIELDS} for r in rows)
    return buf.getvalue()


def _f(v: Any, fmt: str = "+.3g") -> str:
    return "—" if v is None else format(v, fmt)


def rows_markdown(rows: list[dict[str, Any]], study: SpectrumStudy, settings: SpectrumSettings,
                  seeds: int, seconds: float) -> str:
    k = "all" if settings.k is None else settings.k
    lines = [f"# Lyapunov spectrum at initialisation and after {study.train_steps} training steps ({study.name})", "",
             f"{k} exponents per axis by the QR method on the first {settings.examples} examples of each "
             f"measured batch, {seeds} measurement seed(s); measured in {seconds:.0f} s.", "",
             "**time**: slope of log10 ‖∂ℓ/∂h‖ of the top layer against steps back (measured: over all "
             "steps, and over the last half, where the top exponent has had time to dominate) beside "
             "λ₁/ln 10 of the carried state of that layer and above (predicted), decades per step; "
             "ratio: all steps / predicted. **depth**: "
             "decades lost by the hidden depth carrier (h, or the grid's h′) from layer D to 1 at the "
             "scored step (measured) beside −(D−1)·λ₁/ln 10 of the depth Jacobians (predicted) and "
             "−log10 σ₁ of their product (the fewest any gradient can lose); **dirs**: singular values "
             "of the product above 1e-3 / 1e-6 of the top one, out of n.", "",
             "| entry | stage | task T | eval loss | slope measured | last half | λ₁/ln10 | ratio | depth "
             "measured | depth predicted | bound (σ₁) | dirs 1e-3 / 1e-6 of n |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        dirs = "—" if r["directions_1e-3"] is None else \
            f"{r['directions_1e-3']:.3g} / {r['directions_1e-6']:.3g} of {r['n_depth']}"
        lines.append(f"| {r['entry']} | {r['stage']} (step {r['step']}) | {r['task']} {r['T']} | "
                     f"{_f(r['eval_loss'], '.3g')} | {_f(r['measured_slope'])} | {_f(r['measured_slope_last_half'])} | "
                     f"{_f(r['predicted_slope'])} | "
                     f"{_f(r['slope_over_predicted'], '.3g')} | {_f(r['measured_decades'], '.3g')} | "
                     f"{_f(r['predicted_decades'], '.3g')} | {_f(r['sigma1_decades'], '.3g')} | {dirs} |")
    return "\n".join(lines) + "\n"


@dataclass
class SpectrumStudyResult:
    folder: Path
    rows: list[dict[str, Any]]
    files: list[Path]
    seconds: float


def run_spectrum_study(study: SpectrumStudy, out_root: Path, settings: SpectrumSettings, seeds: int = 1,
                       batch: Optional[int] = None, device: str = "cpu",
                       progress: Optional[Callable[[str, float], None]] = None,
                       folder: Optional[Path] = None) -> SpectrumStudyResult:
    """Gradcheck with the spectrum at init, train, gradcheck the checkpoint: every entry; then
    spectrum.png, spectrum.csv, spectrum.md in a new OUT/studies/NAME/<UTC stamp>-<id>/ (or in
    ``folder``, a new folder of the caller's: the results study's spectrum/)."""
    from gridlstm.plots.spectrum import study_figure
    from gridlstm.plots.style import save
    from gridlstm.train.lifecycle import start_run

    start = time.perf_counter()
    if folder is None:
        folder = make_run_dir(out_root / "studies", study.name)
    else:
        folder.mkdir(parents=True)
    atomic_write_text(folder / "study.yaml", yaml.safe_dump(
        {"name": study.name, "train_steps": study.train_steps,
         "entries": [{"name": e.name, "axis": e.axis, "config": e.config.model_dump(mode="json")}
                     for e in study.entries]}, sort_keys=False))
    rows, panels = [], []
    for e in study.entries:
        t0 = time.perf_counter()
        init_dir = folder / "runs" / f"{slug(e.name)}-init"
        init_dir.mkdir(parents=True)
        atomic_write_text(init_dir / CONFIG, dump_config(e.config))
        res = run_gradcheck(Source(e.config, "config", init_dir / CONFIG), seeds, batch, device, settings)
        write_outputs(res, init_dir / "gradients")
        rows.append(study_row(e, "init", res, init_dir, None))
        cfg = e.config.model_copy(update={"train": e.config.train.model_copy(update={"steps": study.train_steps})})
        run_dir = folder / "runs" / slug(e.name)
        summary = start_run(cfg, device=device, run_dir=run_dir)  # its run folder, as `gridlstm train`
        trained = run_gradcheck(load_source(run_dir, []), seeds, batch, device, settings)
        write_outputs(trained, run_dir / "gradients")
        rows.append(study_row(e, "trained", trained, run_dir, summary.eval_loss))
        panels.append((e, init_dir, run_dir))
        if progress:
            progress(e.name, time.perf_counter() - t0)
    seconds = time.perf_counter() - start
    files = [save(study_figure(panels), folder / "spectrum.png")]
    atomic_write_text(folder / "spectrum.csv", rows_csv(rows))
    atomic_write_text(folder / "spectrum.md", rows_markdown(rows, study, settings, seeds, seconds))
    write_json(folder / META, {"study": study.name, "entries": len(study.entries), "seeds": seeds,
                                      "batch": batch, "device": device, "train_steps": study.train_steps,
                                      "k": settings.k, "examples": settings.examples, "seconds": round(seconds, 1)})
    files += [folder / "spectrum.csv", folder / "spectrum.md"]
    return SpectrumStudyResult(folder, rows, files, seconds)
