"""``gridlstm gradcheck``: gradient-norm profiles of a config (fresh init) or a trained run folder.

    source   a YAML config (the model at initialisation, step 0) or a run folder (its checkpoint)
    measure  for each measurement seed: one batch, one forward + one backward (gradients.measure)
    write    gradients/gradients.csv   step,seed,state,layer,t,norm   (t and layer 1-based; x: layer 0)
             gradients/summary.csv     one row per (state, layer): decay numbers beside the theory
             gradients/summary.md      the same table in markdown, plus the theory lines and the
                                       decay along depth at the scored step beside its theory
             gradients/depth.csv       one row per depth-carrying state (depth_theory.py; D > 1 only)
             gradients/spectrum.csv    the Lyapunov exponents along time and depth (spectrum.py; by
                                       default the top one only, on a few examples; spectrum=None:
                                       none), their predictions in summary.csv and depth.csv
             gradients/meta.json       what was measured
    train    GradientRecorder appends the same rows to gradients/profiles.csv at gradients.at_steps

Measurement seed i (0..N-1) uses seed = config seed + i for the batch and, from a config, for the
initial weights too; a run folder's weights are fixed, only the batch changes.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from gridlstm import compose, limits
from gridlstm.config import Config, dump_config, load_config
from gridlstm.errors import ConfigError, GridlstmError, ParamError
from gridlstm.factory import build, resolve_device
from gridlstm.formatting import csv_text, markdown_table
from gridlstm.nn import registry
from gridlstm.nn.model import RecurrentModel
from gridlstm.runs.files import check_folder, new_folders
from gridlstm.runs.folder import atomic_write_text, fresh_run_dir, load_checkpoint, utc_now, write_json
from gridlstm.runs.layout import (
    BEST,
    CHECKPOINT,
    CONFIG,
    DEPTH,
    GRADIENT_MARKDOWN,
    GRADIENT_SUMMARY,
    GRADIENTS,
    GRADIENTS_DIR,
    META,
)
from gridlstm.tasks import Task
from gridlstm.threads import apply_threads

from . import decay, depth_theory, spectrum_summary
from .gradients import GRADIENT_FIELDS, measure, profile_rows
from .spectrum_settings import PREDICTION, SpectrumSettings

# Model fields that change the weights: a checkpoint must agree on all of them (schedule does not),
# and on the options its cell declares as changing them (registry.weight_options)
WEIGHT_FIELDS = ("kind", "hidden", "layers", "variant", "tied")


@dataclass(frozen=True)
class Source:
    """What to measure: a resolved config and, for a run folder, its trained weights."""

    cfg: Config
    kind: str                      # "config" | "run"
    path: Path
    step: int = 0
    weights: Optional[dict[str, Any]] = None
    checkpoint: Optional[str] = None  # the run folder's file measured: checkpoint.pt or best.pt


def describe_model(m: dict[str, Any]) -> str:
    return f"{registry.describe(m)} (hidden={m['hidden']}, layers={m['layers']})"


CHECKPOINTS = {"last": CHECKPOINT, "best": BEST}
# where a run folder's measurement goes: each checkpoint its own folder, so neither overwrites the other
GRADIENT_DIRS = {CHECKPOINT: GRADIENTS_DIR, BEST: f"{GRADIENTS_DIR}-best"}


def load_source(path: Optional[Path], overrides: list[str], which: str = "last") -> Source:
    """A YAML config, or a run folder holding config.yaml and checkpoint.pt (``which="last"``) or
    best.pt (``"best"``, the step of the best eval metric); one-line errors."""
    if which not in CHECKPOINTS:
        raise ParamError("which", which, f"expected one of {', '.join(CHECKPOINTS)}")
    if path is not None and not path.exists():  # a shipped config by name (adding_rnn)
        with contextlib.suppress(ConfigError):
            path = compose.find_config(path)
    if path is None or path.is_file() or path.suffix in (".yaml", ".yml"):
        return Source(load_config(path, overrides), "config", path or Path("configs/default.yaml"))
    if not path.exists():
        raise GridlstmError(f"no such run folder or config: {path} (give a run folder from "
                            "`gridlstm train` or a YAML config such as configs/adding_rnn.yaml)")
    check_folder(path)
    if not (path / CONFIG).is_file():
        raise GridlstmError(f"{path} is not a run folder: it has no config.yaml")
    cfg = load_config(path / CONFIG, overrides)
    file = path / CHECKPOINTS[which]
    if which == "best" and not file.is_file():
        raise ParamError("which", which, f"{path} has no best.pt (runs trained before gridlstm kept the "
                         "best checkpoint have only the last: use {which=last})", ("which",))
    ckpt = load_checkpoint(file)
    saved = (ckpt.get("config") or {}).get("model") or {}
    if not isinstance(saved, dict):
        raise GridlstmError(f"corrupt checkpoint {file}: its config.model is not a mapping")
    saved = registry.upgrade_model(saved)
    wanted = cfg.model.model_dump(mode="json")
    fields = WEIGHT_FIELDS + registry.weight_options(cfg.model.kind, cfg.model.variant)
    differ = [k for k in fields if k in saved and saved[k] != wanted[k]]
    if differ or not saved:
        got = describe_model(saved) if saved else "an unknown model"
        raise GridlstmError(f"checkpoint {file} holds {got}, but the config asks for "
                            f"{describe_model(wanted)} (differs in {', '.join(differ) or 'model'}); "
                            "measure it without model.* overrides")
    return Source(cfg, "run", path, int(ckpt.get("step", 0)), ckpt["model"], CHECKPOINTS[which])


def build_model(source: Source, seed: int, device: torch.device) -> tuple[Task, RecurrentModel]:
    """The task and model of one measurement seed: fresh init (config) or the checkpoint (run)."""
    task, model = build(source.cfg.model_copy(update={"seed": seed}), device)
    if source.weights is not None:
        try:
            model.load_state_dict(source.weights)
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0]
            raise GridlstmError(f"checkpoint in {source.path} does not fit the model of its config "
                                f"(task {source.cfg.task.name}): {first}") from None
    return task, model


def by_steps_back(rows: list[dict[str, Any]]) -> dict[tuple[str, int], list[np.ndarray]]:
    """gradients.csv rows → {(state, layer): [profile of each seed, indexed by steps back]}."""
    grouped: dict[tuple[str, int], dict[int, dict[int, float]]] = {}
    for r in rows:
        seeds = grouped.setdefault((r["state"], int(r["layer"])), {})
        seeds.setdefault(int(r["seed"]), {})[int(r["t"])] = float(r["norm"])
    out = {}
    for key, seeds in grouped.items():
        out[key] = [np.array([by_t[t] for t in sorted(by_t, reverse=True)]) for _, by_t in
                    sorted(seeds.items())]
    return out


@dataclass
class GradcheckResult:
    rows: list[dict[str, Any]]        # gradients.csv
    summary: list[dict[str, Any]]     # summary.csv
    theory: list[str]                 # theory lines of summary.md
    meta: dict[str, Any]
    depth: list[dict[str, Any]] = field(default_factory=list)  # depth.csv: decay along depth at T
    spectrum: list[dict[str, Any]] = field(default_factory=list)  # spectrum.csv (with a spectrum)
    spectrum_lines: list[str] = field(default_factory=list)       # its predictions beside the measurements


def run_gradcheck(source: Source, seeds: int = 1, batch: Optional[int] = None, device: str = "auto",
                  spectrum: Optional[SpectrumSettings] = PREDICTION,
                  max_threads: Optional[int] = None) -> GradcheckResult:
    """Measure ``seeds`` profiles of ``source`` and summarise them beside the theory and the
    Lyapunov spectrum of the same batches (spectrum_summary.py): by default λ₁ only, the predicted
    slope and depth decay; ``spectrum=None``: the bare measurement, no prediction. On the torch
    threads ``train.threads`` chooses, at most ``max_threads``."""
    if seeds < 1:
        raise ParamError("seeds", seeds, "expected a positive number of measurement seeds")
    cfg = source.cfg
    limits.require(cfg)
    if batch:  # a batch size of its own, not the config's
        limits.require(cfg, batch, "batch")
    batch = batch or cfg.train.batch_size
    dev = resolve_device(device)
    threads = apply_threads(cfg.train.threads, batch, cfg.model.hidden, max_threads)
    rows, theories, depth_theories = [], [], []
    task = None
    spectra = spectrum_summary.Spectra(spectrum) if spectrum is not None else None
    for i in range(seeds):
        seed = cfg.seed + i
        task, model = build_model(source, seed, dev)
        x, y = task.sample(batch, torch.Generator().manual_seed(seed))
        x, y = x.to(dev), y.to(dev)
        profile = measure(model, task, x, y)
        theories.append(decay.theory(model, x, profile.states, profile.gates))
        if cfg.model.layers > 1:  # on the same batch and forward pass as the measurement
            depth_theories.append(depth_theory.depth_theory(model, x, profile.states))
        rows += profile_rows(profile, source.step, seed)
        if spectra is not None:
            spectra.add(model, x, profile.states, seed)
    assert task is not None  # seeds >= 1 (checked above)
    tiny = torch.finfo(next(model.parameters()).dtype).tiny
    per_seed = by_steps_back(rows)
    last_step = task.scores == "last"
    summary = decay.summarize(per_seed, theories, cfg.model.layers, tiny, last_step)
    m = cfg.model
    meta = {
        "model": m.kind, "variant": registry.shown_variant(m.kind, m.variant), "tied": m.tied,
        "hidden": m.hidden, "D": m.layers, "task": task.name, "length": cfg.task.length,
        "T": int(x.shape[1]), "scores": task.scores, "seeds": [cfg.seed + i for i in range(seeds)],
        "batch": batch, "step": source.step, "source": source.kind, "source_path": str(source.path),
        "checkpoint": source.checkpoint,  # which file of the run folder was measured (None: a config)
        "conclusion": conclusion(summary, m.layers),  # the measurement in one sentence
        "device": str(dev), "created": utc_now(), "underflow_threshold": tiny,
        "schedule": model.last_schedule,  # the order the probed passes ran (auto: wavefront)
        "threads": threads.to_json(),
        "steps_back": "s = T - t from the last scored position T (t = 1..T)",
    }
    lines = decay.theory_lines(summary, per_seed, m.layers, model.cell.memories)
    depth = depth_theory.depth_summary(rows, depth_theories, m.model_dump()) if m.layers > 1 else []
    result = GradcheckResult(rows, summary, lines, meta, depth)
    if spectra is not None:
        spectrum_summary.annotate_summary(summary, spectra)
        spectrum_summary.annotate_depth(depth, spectra, m.layers)
        result.spectrum = spectrum_summary.spectrum_rows(spectra)
        result.spectrum_lines = spectrum_summary.spectrum_lines(spectra, summary, depth, batch)
        meta["spectrum"] = spectrum_summary.spectrum_meta(spectra, batch)
    return result


# ----------------------------------------------------------------------------- output


def target_folder(source: Source, out: Optional[Path]) -> Optional[Path]:
    """Where the outputs go: --out DIR; else RUN_DIR/gradients (RUN_DIR/gradients-best for best.pt);
    None for a config, which gets a fresh folder (write_to)."""
    if out is not None:
        return out
    if source.kind == "run":
        return source.path / GRADIENT_DIRS[source.checkpoint or CHECKPOINT]
    return None


def write_to(result: GradcheckResult, source: Source, out: Optional[Path],
             out_root: Path = Path("outputs")) -> tuple[Path, list[Path]]:
    """The outputs (write_outputs) in target_folder; for a config a fresh
    outputs/gradcheck/<name>/<stamp-id>/gradients. Returns (folder, files). A fresh folder that
    a failure (a full disk) leaves without its outputs goes again, with the parents made for it."""
    folder = target_folder(source, out)
    if folder is not None:
        return folder, write_outputs(result, folder)
    with fresh_run_dir(out_root / "gradcheck", source.cfg.run_name, CONFIG, dump_config(source.cfg)) as run_dir:
        return run_dir / GRADIENTS_DIR, write_outputs(result, run_dir / GRADIENTS_DIR)


SHOWN = ("state", "layer", "slope_decades_per_step", "theory_slope", "theory_value", "first_last_ratio",
         "steps_to_1e-3", "steps_to_1e-6", "steps_to_1e-12", "underflow_step")
HEADERS = ("state", "layer", "slope", "bound", "σmax/f", "first/last", "1e-3", "1e-6", "1e-12", "uflow")
LEGEND = ("slope and bound in decades per step back from the loss (bound: log10 γσ_max for the rnn, the "
          "slowest unit's mean log10 f for a memory); λ₁/ln10: the predicted slope, the top Lyapunov "
          "exponent (absent when the spectrum is turned off); σmax/f: σ_max(W_hh) (rnn) or the "
          "mean gate of a memory (forget gate f; a gru's update gate z); 1e-k: steps back until g < 1e-k·g at the loss; uflow: steps "
          "back until g underflows (g < FLT_MIN), or where g is structurally 0 (no path to the loss)")


def columns(result: GradcheckResult) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(summary keys, headers) of the decay table: SHOWN, and λ₁/ln10 beside the bound when the
    spectrum was computed."""
    if not result.spectrum:
        return SHOWN, HEADERS
    i = SHOWN.index("theory_slope") + 1
    return SHOWN[:i] + ("predicted_slope",) + SHOWN[i:], HEADERS[:i] + ("λ₁/ln10",) + HEADERS[i:]
WORDS = {"h": "hidden state h", "c": "memory c", "m": "memory m"}


def conclusion(summary: list[dict[str, Any]], layers: int) -> Optional[str]:
    """The measurement in one sentence: which state along time keeps its gradient best (the least
    negative slope, decades per step back) and how fast the top layer's h loses it."""
    rows = [r for r in summary if r["state"] in WORDS and np.isfinite(r.get("slope_decades_per_step", np.nan))]
    top = next((r for r in rows if r["state"] == "h" and int(r["layer"]) == layers), None)
    if not rows or top is None:
        return None
    best = max(rows, key=lambda r: r["slope_decades_per_step"])

    def lost(r: dict[str, Any]) -> str:
        text = f"{-r['slope_decades_per_step']:.2g} decades/step"
        return text + (f", underflowing {r['underflow_step']} steps back" if r.get("underflow_step") else "")

    if len(rows) == 1:
        return f"the hidden state h loses {lost(top)}"
    if best is top:
        return f"the top layer's hidden state h keeps its gradient best of all states: it loses {lost(top)}"
    return (f"layer {best['layer']}'s {WORDS[best['state']]} keeps its gradient best: it loses "
            f"{lost(best)}; the top layer's h loses {lost(top)}")


def cell(r: dict[str, Any], key: str) -> str:
    if key == "theory_value":
        v = r.get("sigma_max", r.get("mean_forget"))
        return "—" if v is None else f"{v:.3g}"
    v = r.get(key)
    if key == "underflow_step" and r.get("structural_zero"):
        return f"structurally 0 from s={r['structural_zero_step']}"
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "—"
    if key == "slope_decades_per_step" and not np.isnan(r.get("slope_std", np.nan)):
        return f"{v:+.3g}±{r['slope_std']:.1g}"
    if key in ("slope_decades_per_step", "theory_slope", "predicted_slope"):
        return f"{v:+.3g}"
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def title(meta: dict[str, Any]) -> str:
    kind = registry.describe({"kind": meta["model"], "variant": meta["variant"], "tied": meta["tied"]})
    return (f"{kind} H={meta['hidden']} D={meta['D']} on {meta['task']} T={meta['T']} "
            f"(step {meta['step']}, {len(meta['seeds'])} seed(s), batch {meta['batch']})")


def summary_markdown(result: GradcheckResult) -> str:
    lines = [f"# Gradient flow: {title(result.meta)}", "",
             f"Source: {result.meta['source']} `{result.meta['source_path']}`. "
             "g[t, d] = mean_b ‖∂ℓ_b/∂state_b[t, d]‖₂ (per-example norms), averaged over seeds.", "",
             "Steps back s = T − t from the last scored position (the final step; for copy every "
             "position is scored and s counts back from the last one). slope: least-squares slope of "
             "log10 g against s before underflow (decades per step, negative = vanishing); bound: "
             "log10(γσ_max) for the rnn (the slowest decay the bound allows), for a time memory the "
             "max over units of mean log10 f (the slowest unit, which the norm follows); λ₁/ln10 (unless the spectrum is turned off): the top Lyapunov exponent of the "
             "backward time map in decades per step, the slope predicted for every state; σmax/f: σ_max(W_hh) or the mean forget gate; first/last: g at t = 1 over g at "
             "t = T; 1e-k: first s with g < 1e-k·g at the loss; uflow: first s with g < "
             f"{result.meta['underflow_threshold']:.3g} (underflow); structurally 0: exactly 0 from that s "
             "on, with no path to the loss (not underflow). Over seeds every number is that of the "
             "geometric-mean profile (slope = mean of the per-seed slopes; ± their spread). A state with no path to the loss at "
             "s = 0 (the paper grid's time h and m feed only the next step) is measured from the first s "
             "where g > 0 instead (ref_step in summary.csv). Full data: gradients.csv; every column: "
             "summary.csv.", ""]
    shown, headers = columns(result)
    lines += markdown_table(headers, [[cell(r, k) for k in shown] for r in result.summary]).splitlines()
    lines += ["", "## Theory beside measurement", ""] + [f"- {t}" for t in result.theory]
    lines += depth_theory.depth_markdown(result.depth)
    if result.spectrum_lines:
        lines += ["", "## Lyapunov spectrum: predictions beside measurements", "",
                  *[f"- {t}" for t in result.spectrum_lines], "", "Every exponent: spectrum.csv."]
    return "\n".join(lines) + "\n"


def write_outputs(result: GradcheckResult, out_dir: Path) -> list[Path]:
    """gradients.csv, summary.csv, summary.md, (depth.csv,) meta.json in ``out_dir``; returns their
    paths.  depth.csv only for a model with more than one layer."""
    files = {
        GRADIENTS: csv_text(result.rows, GRADIENT_FIELDS),
        GRADIENT_SUMMARY: csv_text(result.summary, decay.SUMMARY_FIELDS),
        GRADIENT_MARKDOWN: summary_markdown(result),
    }
    if result.depth:
        files[DEPTH] = csv_text(result.depth, depth_theory.DEPTH_FIELDS)
    if result.spectrum:
        files["spectrum.csv"] = csv_text(result.spectrum, spectrum_summary.SPECTRUM_FIELDS)
    with new_folders(out_dir):  # a failure before the first file leaves no empty folder
        for name, text in files.items():
            atomic_write_text(out_dir / name, text)
        write_json(out_dir / META, result.meta)
    return [out_dir / n for n in (*files, META)]
